/*
 * What the SQLite backend's files share: store_sqlite.c (open, close, schema,
 * checkpoints, the backend's table), store_writer.c (the transaction and the
 * statements under the write jobs, whose steps are store_jobs.c's),
 * store_reader.c (reads) and the store_clients, store_audit, store_forms and
 * store_report files. The commit queue (store_queue.c) sees only
 * store_private.h; the rest of the daemon store.h.
 */
#ifndef REFEX_STORE_SQLITE_PRIVATE_H
#define REFEX_STORE_SQLITE_PRIVATE_H

#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "store_private.h"

/* Statements of the writer connection (storage thread only). */
enum wstmt {
	W_BEGIN,
	W_COMMIT,
	W_ROLLBACK,
	W_SAVE,
	W_RELEASE,
	W_UNDO,
	W_INSERT,
	W_INSERT_DATA,
	W_HISTORY,
	W_UPDATE,
	W_EXISTS,
	W_EVENT,
	W_EVENT_LAST,
	W_AUDIT_ADD,
	W_PURGE_DATA,
	W_PURGE_HISTORY,
	W_PURGE_ROWS,
	W_AUDIT_LAST,
	W_IDEM_GET,
	W_IDEM_PUT,
	W_IDEM_PRUNE,
	W_SWEEP,
	W_COUNT_SENT,
	W_FORM_ADD,
	W_FORM_RETIRE,
	W_FORM_REVIVE,
	W_COUNT
};

/* Statements of the reader connection (loop thread only). */
enum rstmt {
	R_BEGIN,
	R_COMMIT,
	R_ROLLBACK,
	R_GET,
	R_HISTORY,
	R_INBOX,
	R_INBOX_STATE,
	R_INBOX_OVERDUE,
	R_INBOX_CLIENT,
	R_SENT,
	R_SENT_STATE,
	R_SENT_OVERDUE,
	R_SENT_CLIENT,
	R_EVENTS,
	R_EVENT_RANGE,
	R_NEXT_DUE,
	R_IDEM_GET,
	R_STATE_COUNTS,
	R_OVERDUE_COUNT,
	R_AUDIT_LIST,
	R_PURGE_DUE,
	R_CHILDREN,
	R_SENDER_OF,
	R_COUNT
};

#define STORE_SEQ_SLOTS 1024 /* agencies whose last event seq the writer remembers */

/* An agency's last event sequence number, as the writer's open transaction sees it. */
struct store_seq {
	char agency[64];
	uint64_t last; /* 0: a free slot */
};

/* The SQLite backend's state (st->sq): a writer connection the storage thread owns and a
 * read-only connection the loop thread reads on. */
struct store_sqlite {
	sqlite3 *wdb, *rdb;
	sqlite3_stmt *w[W_COUNT], *r[R_COUNT];
	/* Storage thread only: the audit chain's tail (store_audit.c). */
	bool audit_known;
	long long audit_seq;
	uint8_t audit_last[32];
	EVP_MD_CTX *audit_ctx; /* reused for every entry */
	EVP_MD *audit_md;      /* SHA-256, fetched once */
	/* Storage thread only: each agency's last event seq, so an event costs no max() query. */
	struct store_seq seqs[STORE_SEQ_SLOTS];
	/* Storage thread only: referrals inserted by the open transaction, added to state_counts
	 * once before it commits (forgotten on rollback). */
	size_t sent_added;
	struct store_clients *clients; /* client records' statements (store_clients.c) */
	/* Storage thread only: referrals the open transaction inserted, added to the report's
	 * cells once per cell before it commits (store_report.c; forgotten on rollback). */
	struct store_report_new *report_new;
	size_t n_report_new, cap_report_new;
	sqlite3_stmt *report_add;
};

/* Open the SQLite database at path: create, migrate, connect, prepare (store_sqlite.c). */
int store_sqlite_open(struct store *st, const char *path, char *err, size_t errlen);

/* Finalize and close what store_sqlite_open made (a half-opened store too). */
void store_sqlite_close(struct store *st);

/* The SQLite backend's reads (store_backend.h), in store_reader.c, store_audit.c,
 * store_forms.c, store_clients_read.c and store_report.c. */
enum store_status store_sqlite_get(struct store *st, const char *id, Refex__Referral **out);
enum store_status store_sqlite_list(struct store *st, const struct store_query *q,
                                    struct store_page *page);
enum store_status store_sqlite_events(struct store *st, const char *agency, uint64_t after,
                                      size_t max, Refex__Event ***out, size_t *n);
enum store_status store_sqlite_event_range(struct store *st, const char *agency, uint64_t *oldest,
                                           uint64_t *newest);
enum store_status store_sqlite_sender_of(struct store *st, const char *id, char *sender,
                                         size_t len);
enum store_status store_sqlite_next_due(struct store *st, int64_t *due);
enum store_status store_sqlite_idem_find(struct store *st, const char *agency,
                                         const struct store_idem *idem, char *first);
enum store_status store_sqlite_count_states(struct store *st, uint64_t counts[STORE_STATES],
                                            uint64_t *overdue, int64_t now);
enum store_status store_sqlite_purge_due(struct store *st, int64_t before, int64_t clients_since,
                                         bool *due);
enum store_status store_sqlite_audit_list(struct store *st, const char *record, size_t max,
                                          Refex__AuditEntry ***out, size_t *n);
enum store_status store_sqlite_form_versions(struct store *st, struct store_form_version **out,
                                             size_t *n);
enum store_status store_sqlite_client_get(struct store *st, const char *id, const char *agency,
                                          Refex__StoredClient **out, bool *owner);
enum store_status store_sqlite_client_list(struct store *st, const char *agency, const char *search,
                                           size_t max, Refex__StoredClient ***out, size_t *n);
enum store_status store_sqlite_consent_list(struct store *st, const char *id, const char *agency,
                                            bool owner, Refex__ConsentRecord ***out, size_t *n);
enum store_status store_sqlite_report_read(struct store *st, const struct store_report_query *q,
                                           struct store_report_data *out);

/* The SQL of each writer statement (store_writer.c), prepared once at open. */
extern const char *const store_wsql[W_COUNT];

/* The SQL of each reader statement (store_reader.c), prepared once at open. */
extern const char *const store_rsql[R_COUNT];

/* Step a statement that returns nothing we need, and reset it. */
int store_step_done(sqlite3_stmt *s);

/* Step the INSERT s unless binding it failed (bound: its bindings' result), and end it; the new
 * row's id to *rowid. STORE_DUPLICATE when the row breaks a unique key. */
enum store_status store_step_insert(sqlite3_stmt *s, int bound, int64_t *rowid);

/* Reset s and drop its bindings: they may point into a job about to be freed. */
void store_stmt_end(sqlite3_stmt *s);

/* Bind t (NULL: SQL NULL); nonzero if it could not be (too big): never store it as NULL. */
int store_bind_text(sqlite3_stmt *s, int i, const char *t);

/* Copy column i of s (NULL stays NULL); sets *oom when the copy fails. */
char *store_col_str(sqlite3_stmt *s, int i, bool *oom);

/* Look idem up with s, a prepared idempotency SELECT (see store_sqlite.c). */
enum store_status store_idem_lookup(sqlite3_stmt *s, const char *agency,
                                    const struct store_idem *idem, char *first);

/* Append an audit entry inside the writer's open transaction (store_audit.c). */
enum store_status store_audit_append(struct store *st, const struct store_audit *a);

/* Forget the audit chain's tail after a rollback (it is read again when next needed). */
void store_audit_forget(struct store *st);

/* Free the writer's audit hashing context (store_audit.c). */
void store_audit_close(struct store *st);

struct store_client_op; /* one client write, private to store_clients.c */

/* Prepare the client records' statements on both connections (store_clients_sqlite.c). */
int store_clients_open(struct store *st, char *err, size_t errlen);

/* Finalize what store_clients_open prepared. NULL st->sq->clients is fine. */
void store_clients_close(struct store *st);

/* Run a client write inside the writer's open transaction (store_clients_sqlite.c). */
enum store_status store_clients_exec(struct store *st, struct store_client_op *op, bool *partial);

/* Check the stored client a referral just inserted (its row names it) may be shared, making a
 * new one first for an inline client (its possible duplicates go to res); audit the share
 * (store_clients_sqlite.c). */
enum store_status store_clients_on_insert(struct store *st, const struct store_new_referral *r,
                                          struct store_result *res);

/* A number in SQL text. */
#define STORE_STR_(n) #n
#define STORE_STR(n)  STORE_STR_(n)

/* The most clients one store_clients_purge erases. */
#define STORE_CLIENTS_PURGE_MAX 256

/* Erase, under the retention policy, clients last changed in [since, before) none of whose
 * referrals still holds details (at most STORE_CLIENTS_PURGE_MAX); *n counts them
 * (store_clients_sqlite.c). */
enum store_status store_clients_purge(struct store *st, int64_t before, int64_t since, int64_t now,
                                      size_t *n);

/* Erase client id under the retention policy if it is unchanged since before and none of its
 * referrals still holds details; *n counts it (store_clients_sqlite.c). */
enum store_status store_clients_purge_one(struct store *st, const char *id, int64_t before,
                                          int64_t now, size_t *n);

/* Fill ref's stored-client state (erased; consent withdrawn for its recipient) from its
 * client_id, inside the caller's read transaction (store_clients_sqlite_read.c). */
enum store_status store_clients_referral_state(struct store *st, Refex__Referral *ref);

/* Say whether retention would erase some stored client last changed in [since, before)
 * (store_clients_sqlite_read.c). */
enum store_status store_clients_purge_due(struct store *st, int64_t before, int64_t since,
                                          bool *due);

/* The forms job's statements, inside the writer's open transaction (store_forms.c): record
 * version v, retire a form, bring one back. */
enum store_status store_forms_add(struct store *st, const struct store_form_version *v,
                                  int64_t at);
enum store_status store_forms_retire(struct store *st, const char *form, int64_t at);
enum store_status store_forms_revive(struct store *st, const char *form, int64_t at);

/* Note a referral the open transaction inserted, for the report's cells (store_report.c). */
int store_report_note_insert(struct store *st, const struct store_new_referral *r);

/* Add the noted referrals to the report's cells, once per cell (before the commit). */
int store_report_flush(struct store *st);

/* Forget the noted referrals (the transaction is redone or rolled back). */
void store_report_forget(struct store *st);

/* Free the writer's report statement and notes. */
void store_report_close(struct store *st);

#endif
