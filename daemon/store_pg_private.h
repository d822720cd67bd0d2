/*
 * What the PostgreSQL backend's files share: store_pg.c (connections, schema,
 * the transaction, the backend's table), store_pg_write.c (the statements
 * under the write jobs, whose steps are store_jobs.c's) and store_pg_read.c
 * (reads). The commit queue (store_queue.c) sees only store_private.h.
 */
#ifndef REFEX_STORE_PG_PRIVATE_H
#define REFEX_STORE_PG_PRIVATE_H

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_private.h"

/* Statements of the writer connection (storage thread only), prepared as "w<n>". */
enum pg_wstmt {
	PW_INSERT,
	PW_INSERT_DATA,
	PW_HISTORY,
	PW_UPDATE,
	PW_EXISTS,
	PW_EVENT,
	PW_AUDIT_TAIL,
	PW_AUDIT_ADD,
	PW_AUDIT_MOVE,
	PW_IDEM_GET,
	PW_IDEM_PUT,
	PW_IDEM_PRUNE,
	PW_SWEEP,
	PW_FORM_ADD,
	PW_FORM_RETIRE,
	PW_FORM_REVIVE,
	PW_CLIENT_ADD,
	PW_CLIENT_VERSION,
	PW_CLIENT_DUPS,
	PW_CONSENT_ADD,
	PW_SHARE_OK,
	PW_CLIENT_UPDATE,
	PW_CLIENT_ERASE,
	PW_CLIENT_FIND,
	PW_ERASE_VERSIONS,
	PW_ERASE_CONSENTS,
	PW_ERASE_DATA,
	PW_ERASE_NAMES,
	PW_WITHDRAW,
	PW_CONSENT_FIND,
	PW_PURGE, /* from here on: store_pg_purge.c */
	PW_PURGE_CLIENTS,
	PW_PURGE_CLIENT_ONE,
	PW_COUNT
};

/* Statements of a reader connection (the reader thread's), prepared as "r<n>". */
enum pg_rstmt {
	PR_GET,
	PR_HISTORY,
	PR_CHILDREN,
	PR_INBOX,
	PR_INBOX_STATE,
	PR_INBOX_OVERDUE,
	PR_INBOX_CLIENT,
	PR_SENT,
	PR_SENT_STATE,
	PR_SENT_OVERDUE,
	PR_SENT_CLIENT,
	PR_EVENTS,
	PR_EVENT_RANGE,
	PR_SENDER_OF,
	PR_NEXT_DUE,
	PR_IDEM_GET,
	PR_STATE_COUNTS,
	PR_OVERDUE_COUNT,
	PR_PURGE_DUE,
	PR_AUDIT_LIST,
	PR_FORMS,
	PR_CLIENT_GET, /* from here on: store_pg_clients.c */
	PR_CLIENT_SHARED,
	PR_CLIENT_RECORD,
	PR_CLIENT_COVER,
	PR_CLIENT_LIST,
	PR_CONSENTS,
	PR_COUNT
};

#define PG_PARAMS_MAX 16

/* The parameters of one statement: text, or binary for blobs; numbers are formatted in num. */
struct pg_params {
	const char *v[PG_PARAMS_MAX];
	int len[PG_PARAMS_MAX];
	int fmt[PG_PARAMS_MAX];
	char num[PG_PARAMS_MAX][24];
	int n;
};

/* Failure codes the backend's rollback gives errstr. */
enum pg_fail { PG_FAIL_NONE, PG_FAIL_CONNECTION, PG_FAIL_QUERY };

/* A connection's cancel handle, which another thread may use at stop (store_pg_cancel.c). */
struct pg_cancel {
	pthread_mutex_t mu;
	PGcancel *c; /* under mu: of the connection as last connected; NULL: none */
};

struct pg_canceller; /* a thread cancelling, at stop, what some connections run */

/* The PostgreSQL backend's state (st->pg): a writer connection the storage thread owns and a
 * reader connection (the reader thread's view's; the store's own only once a read is made on the
 * loop thread, which refexd never does: NULL). */
struct store_pg {
	PGconn *w, *r;
	char *url; /* as configured: the news connection's too (store_pg_news.c) */
	/* Per connection: metrics_now() before which no reconnect is tried, and the wait after the
	 * next failed one (doubling to PG_BACKOFF_MAX). */
	double w_next_try, w_backoff, r_next_try, r_backoff;
	bool w_lost, r_lost; /* the loss is logged; the reconnection will be */
	/* Storage thread only: the audit chain's tail, once the open transaction has locked it. */
	bool audit_known;
	int64_t audit_seq;
	uint8_t audit_last[32];
	EVP_MD_CTX *audit_ctx;
	EVP_MD *audit_md;
	struct pg_vacuum *vacuum;            /* store_pg_vacuum.c */
	struct pg_cancel w_cancel, r_cancel; /* of w (r: of the reader thread's view) */
	struct pg_canceller *canceller;      /* at stop, while the threads have not ended */
};

/* Set parameter i (1-based) of p to text t (NULL: SQL NULL). */
void pg_text(struct pg_params *p, int i, const char *t);

/* Set parameter i (1-based) of p to the number v. */
void pg_int(struct pg_params *p, int i, int64_t v);

/* Set parameter i (1-based) of p to len bytes at b (NULL: SQL NULL). */
void pg_blob(struct pg_params *p, int i, const uint8_t *b, size_t len);

/* Run prepared statement prefix<which> on c; the result (check with pg_ok), never NULL-free. */
PGresult *pg_run(PGconn *c, char prefix, int which, const struct pg_params *p);

/* Say whether res is a successful command or query result. */
bool pg_ok(const PGresult *res);

/* Column j of row i as a number (NULL reads as 0). */
int64_t pg_num(const PGresult *res, int i, int j);

/* Copy column j of row i (NULL stays NULL); sets *oom when the copy fails. */
char *pg_str(const PGresult *res, int i, int j, bool *oom);

/* Decode bytea column j of row i into a new buffer (*len bytes); NULL for SQL NULL or no memory
 * (*oom then). */
uint8_t *pg_bytes(const PGresult *res, int i, int j, size_t *len, bool *oom);

/* Connect to the database at conninfo (a URL); NULL with err (never the URL) if not. */
PGconn *pg_connect(const char *conninfo, char *err, size_t errlen);

/* Make sure c is connected, reconnecting (and preparing its statements again) after a backoff;
 * -1 if it is not. */
int pg_ready(struct store_pg *pg, bool writer);

/* Say whether the result failed with SQLSTATE state (e.g. "23505", a unique violation). */
bool pg_state_is(const PGresult *res, const char *state);

/* The SQL of each statement (store_pg_write.c, store_pg_read.c). */
extern const char *const store_pg_wsql[PW_CLIENT_ADD];
extern const char *const store_pg_rsql[PR_CLIENT_GET];

/* The PostgreSQL statements under store_jobs.c's insert, change, sweep and forms jobs
 * (store_pg_write.c). */
extern const struct store_backend_stmts store_pg_stmts;

/* The PostgreSQL backend's writes of the other job kinds, on the storage thread. */
enum store_status store_pg_audit(struct store *st, const struct store_audit *a);
enum store_status store_pg_client(struct store *st, struct store_client_op *op, bool *partial);

/* Tell every hub, once the open transaction commits, that listings may have changed
 * (store_pg_news.c). */
enum store_status store_pg_news_pages(struct store *st);

/* Tell every hub, once the open transaction commits, that the sent pages of the sender of
 * referral parent_id changed: they show its onward referrals (store_pg_news.c). */
enum store_status store_pg_news_origin(struct store *st, const char *parent_id);

/* Reduce closed referrals last changed before `before` to tombstones and erase the stored
 * clients that leaves unheld, with those unheld since clients_since (store_pg_purge.c). */
enum store_status store_pg_purge(struct store *st, int64_t before, int64_t clients_since,
                                 int64_t now, struct store_result *res, bool *partial);

/* Start the thread that vacuums after erasures, on a connection of its own to url. 0 / -1
 * (store_pg_vacuum.c). */
int store_pg_vacuum_start(struct store_pg *pg, const char *url, char *err, size_t errlen);

/* Have the vacuum thread vacuum the tables erasures write, soon (storage thread). */
void store_pg_vacuum_request(struct store_pg *pg);

/* Stop the vacuum thread after the vacuum it owes, and close its connection (NULL-safe); a
 * vacuum still waiting after a while is cancelled. */
void store_pg_vacuum_stop(struct store_pg *pg);

struct event_base;
struct evdns_base;
struct pg_lookup; /* the host names of a URL, being looked up (store_pg_lookup.c) */

/* A lookup's answer: the lists to pass as host, hostaddr and port after the URL ("" port: the
 * URL's); NULLs if no name resolved. */
typedef void (*pg_lookup_fn)(void *arg, const char *host, const char *hostaddr, const char *port);

/* Start looking up the host names of url with dns, on base; done gets the lists, never before
 * this returns. 1 with *out NULL: nothing to look up (addresses, socket directories, hostaddr
 * given); 0 started; -1 (out of memory, a URL libpq cannot read). */
int pg_lookup_start(struct event_base *base, struct evdns_base *dns, const char *url,
                    pg_lookup_fn done, void *arg, struct pg_lookup **out);

/* Free a lookup (NULL is fine), stopping it if under way: its done is then not called. */
void pg_lookup_free(struct pg_lookup *lk);

/* Make k, holding no handle (store_pg_cancel.c). */
void pg_cancel_init(struct pg_cancel *k);

/* Keep c's cancel handle in k (the owner of c, after each connection it makes). */
void pg_cancel_keep(struct pg_cancel *k, PGconn *c);

/* Free what k holds (no canceller may use it any more). */
void pg_cancel_free(struct pg_cancel *k);

/* Start cancelling what the connections of the n slots run, every 200 ms until
 * pg_canceller_stop; NULL if it cannot start. */
struct pg_canceller *pg_canceller_start(struct pg_cancel *const *slots, size_t n);

/* Stop cancelling (NULL is fine). False if the canceller still waits for a server that does not
 * answer: it is left running, and its slots must stay. */
bool pg_canceller_stop(struct pg_canceller *cc);

/* Run writer statement which with p; STORE_OK if it worked (store_pg_write.c). */
enum store_status store_pg_wrun(struct store *st, int which, const struct pg_params *p);

/* Run writer statement which with p and keep its result in *out (NULL if it failed). */
enum store_status store_pg_wquery(struct store *st, int which, const struct pg_params *p,
                                  PGresult **out);

/* The client statements' SQL, from PW_CLIENT_ADD to PW_PURGE (store_pg_clients.c). */
extern const char *const store_pg_client_wsql[PW_PURGE - PW_CLIENT_ADD];

/* Retention's statements, from PW_PURGE on (store_pg_purge.c). */
extern const char *const store_pg_purge_wsql[PW_COUNT - PW_PURGE];

/* The client statements' SQL, from PR_CLIENT_GET on (store_pg_clients.c). */
extern const char *const store_pg_client_rsql[PR_COUNT - PR_CLIENT_GET];

/* Run reader statement which with p, after making sure the reader is connected; NULL if it
 * failed (store_pg_read.c). */
PGresult *store_pg_rquery(struct store *st, int which, const struct pg_params *p);

/* Open (begin) or close a read transaction on the reader: one snapshot for a read of several
 * statements. 0 / -1 (store_pg_read.c). */
int store_pg_rtx(struct store *st, bool begin);

/* Fill ref's stored-client state (erased; consent withdrawn for its recipient), inside the
 * caller's read transaction (store_pg_clients.c). */
enum store_status store_pg_clients_state(struct store *st, Refex__Referral *ref);

/* Check the stored client a referral just inserted may be shared, making a new one first for an
 * inline client (its possible duplicates go to res); audit the share (store_pg_clients.c). */
enum store_status store_pg_clients_on_insert(struct store *st, const struct store_new_referral *r,
                                             struct store_result *res);

/* Look idem up on connection c with statement prefix<which> (agency $1, key $2): STORE_OK with
 * the first referral's id in first, STORE_NOT_FOUND or STORE_KEY_REUSED (store_pg_write.c). */
enum store_status store_pg_idem_lookup(PGconn *c, char prefix, int which, const char *agency,
                                       const struct store_idem *idem, char *first);

/* The form versions' query, for a store and for store_pg_form_versions_at (store_pg_read.c). */
#define PG_FORMS_SQL                                                                               \
	"SELECT form, version, schema, accepted_at, coalesce(retired_at, 0) FROM form_versions"    \
	" ORDER BY form, version"

/* Copy the form versions in res (rows of PG_FORMS_SQL) into *out (n of them); -1 if out of
 * memory (store_pg_read.c). */
int pg_forms_from_result(const PGresult *res, struct store_form_version **out, size_t *n);

/* The SQL of migration 12: the report's counters and the triggers that keep them
 * (store_pg_report.c). */
extern const char store_pg_report_migration[];

/* The PostgreSQL backend's reads (store_pg_read.c; the report's in store_pg_report.c), on the
 * reader thread (or the thread of a program that calls store.h's reads itself). */
enum store_status store_pg_get(struct store *st, const char *id, Refex__Referral **out);
enum store_status store_pg_list(struct store *st, const struct store_query *q,
                                struct store_page *page);
enum store_status store_pg_events(struct store *st, const char *agency, uint64_t after, size_t max,
                                  Refex__Event ***out, size_t *n);
enum store_status store_pg_event_range(struct store *st, const char *agency, uint64_t *oldest,
                                       uint64_t *newest);
enum store_status store_pg_sender_of(struct store *st, const char *id, char *sender, size_t len);
enum store_status store_pg_next_due(struct store *st, int64_t *due);
enum store_status store_pg_idem_find(struct store *st, const char *agency,
                                     const struct store_idem *idem, char *first);
enum store_status store_pg_count_states(struct store *st, uint64_t counts[STORE_STATES],
                                        uint64_t *overdue, int64_t now);
enum store_status store_pg_purge_due(struct store *st, int64_t before, int64_t clients_since,
                                     bool *due);
enum store_status store_pg_audit_list(struct store *st, const char *record, size_t max,
                                      Refex__AuditEntry ***out, size_t *n);
enum store_status store_pg_form_versions(struct store *st, struct store_form_version **out,
                                         size_t *n);
enum store_status store_pg_client_get(struct store *st, const char *id, const char *agency,
                                      Refex__StoredClient **out, bool *owner);
enum store_status store_pg_client_list(struct store *st, const char *agency, const char *search,
                                       size_t max, Refex__StoredClient ***out, size_t *n);
enum store_status store_pg_consent_list(struct store *st, const char *id, const char *agency,
                                        bool owner, Refex__ConsentRecord ***out, size_t *n);
enum store_status store_pg_report_read(struct store *st, const struct store_report_query *q,
                                       struct store_report_data *out);

#endif
