/*
 * The one interface to storage.
 *
 * Writes are asynchronous: they are queued to a storage thread that commits
 * every waiting write in one transaction (group commit: one fsync for many
 * requests) and then runs each write's callback on the event loop thread.
 * A callback with STORE_OK means the write is durable (WAL, synchronous=FULL,
 * the commit has returned). Reads are on a connection of their own and never
 * wait for writes. The read functions below are synchronous; the loop thread
 * calls them through store_read_async, which runs them off the loop where the
 * backend's reads cross a network (PostgreSQL) and at once where they are
 * local (SQLite).
 */
#ifndef REFEX_STORE_H
#define REFEX_STORE_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "refex.pb-c.h"

#define STORE_ID_LEN     16 /* referral ids: 16 characters of Crockford base32 (80 bits) */
#define STORE_DUPS_MAX   8  /* possible duplicates reported when a client is stored */
#define STORE_DIGEST_LEN 32 /* SHA-256 of a request, kept with its idempotency key */
#define STORE_KEY_MAX    64 /* idempotency keys: 1-64 printable ASCII characters */
#define STORE_STATES     7  /* Refex__State values, STATE_UNSPECIFIED included */

enum store_status {
	STORE_OK = 0,
	STORE_NOT_FOUND,   /* no such referral */
	STORE_CONFLICT,    /* its state was no longer the expected one */
	STORE_DUPLICATE,   /* the id already exists */
	STORE_UNAVAILABLE, /* storage failed (disk full, I/O error); nothing changed, unless a
	                      failed fsync is followed by a crash (the WAL may hold the commit) */
	STORE_KEY_REUSED,  /* the idempotency key was used before for a different request */
	STORE_REFUSED,     /* no live consent or other basis covers sharing the client */
};

/*
 * An idempotency key scopes a write to "at most once per agency": a write
 * whose agency already used the key with the same digest changes nothing and
 * reports the first write's referral (repeat); another digest is refused.
 */
struct store_idem {
	const char *key;       /* NULL: no key */
	const uint8_t *digest; /* STORE_DIGEST_LEN bytes identifying the request's content */
};

/* What a committed write did, for its callback. */
struct store_result {
	char referral_id[STORE_ID_LEN + 1]; /* the referral written (a repeat: the first one) */
	bool repeat;                        /* a repeated idempotency key: nothing changed */
	uint64_t sender_seq, recipient_seq; /* the parties' new events (0: none) */
	size_t overdue;                     /* store_sweep_overdue: referrals newly overdue */
	size_t purged;         /* store_purge_closed: referrals reduced to tombstones */
	size_t purged_clients; /* store_purge_closed: stored clients erased */
	bool clients_checked;  /* store_purge_closed: every client in its window is now held */
	/* store_insert of an inline client: the sender's other clients with the same name and
	 * date of birth (possible duplicates, never merged) */
	char dups[STORE_DUPS_MAX][STORE_ID_LEN + 1];
	size_t n_dups;
};

struct store;

/* One audited access: who did what to which record, when. */
struct store_audit {
	const char *agency;
	const char *holder;
	const char *action; /* submit, read, receive, accept, decline, complete, withdraw */
	const char *record; /* referral id */
	int64_t at_ms;      /* unix milliseconds */
};

/* A referral to insert. The store copies everything before store_insert returns. */
struct store_new_referral {
	const char *id; /* STORE_ID_LEN characters, from store_new_id() */
	const char *sender;
	const char *sender_holder;
	const char *recipient;
	const char *form;
	uint32_t form_version;
	int64_t created_at;
	const char *client_name; /* for listings */
	const uint8_t *client;   /* packed Refex__ClientRecord */
	size_t client_len;
	const uint8_t *consent; /* packed Refex__Consent */
	size_t consent_len;
	const uint8_t *form_data; /* packed form message */
	size_t form_data_len;
	int64_t due_at; /* unix seconds to accept or decline by; 0: no due time */
	struct store_idem idem;
	const char *parent_id; /* forwarded from this referral; NULL: none */
	/* The stored client shared (store_clients.h), "" for none. client_version 0: make it now
	 * from client and consent, owned by the sender; else the version client holds, whose
	 * sharing the write checks again (a consent withdrawn meanwhile refuses it). */
	char client_id[STORE_ID_LEN + 1];
	uint32_t client_version;
	/* client_version 0: the id of the client's first consent row, the referral's consent.
	 * Made on the loop thread: the storage thread draws no random numbers. */
	char consent_id[STORE_ID_LEN + 1];
};

/* A state change to apply if the referral is still in state `from`. Copied. */
struct store_change {
	const char *referral_id;
	Refex__State from;
	Refex__State to;
	const char *agency;
	const char *holder;
	int64_t at;
	const char *reason; /* may be NULL */
	struct store_idem idem;
};

/* Which side of the exchange a listing is for. */
enum store_box {
	STORE_INBOX, /* referrals whose recipient is the agency */
	STORE_SENT,  /* referrals whose sender is the agency */
};

struct store_query {
	enum store_box box;
	const char *agency;
	Refex__State state;    /* REFEX__STATE__STATE_UNSPECIFIED: any */
	uint32_t limit;        /* 1.. */
	int64_t before;        /* cursor from a previous page; 0: start at the newest */
	bool overdue_only;     /* only referrals past their due time and not yet acknowledged */
	const char *client_id; /* only referrals sharing this stored client (NULL: any) */
	int64_t now;           /* what "overdue" is measured against (unix seconds) */
};

struct store_page {
	Refex__Referral **items; /* summary fields only, newest first */
	size_t n;
	int64_t next_before; /* cursor for the next page; 0: no more */
};

/* A read for store_read_async: calls the read functions of this header on st (which may not be
 * the store passed to store_read_async: use this one) and keeps their results in arg. */
typedef enum store_status (*store_read_fn)(struct store *st, void *arg);

/* Called on the loop thread with a read's status once it is done. */
typedef void (*store_read_done_fn)(enum store_status status, void *arg);

/*
 * Run work(st, arg) and then, on the loop thread, done(status, arg): exactly once, perhaps
 * before store_read_async returns (SQLite, whose reads are local, runs both at once; a database
 * whose reader connection is lost answers STORE_UNAVAILABLE at once, without waiting for a
 * reconnect). On PostgreSQL work runs on the reader thread, and reads complete in the order
 * they were asked. Loop thread only.
 */
void store_read_async(struct store *st, store_read_fn work, store_read_done_fn done, void *arg);

/* Run work as store_read_async does and wait for it, holding the loop: only for what the loop
 * cannot go on without and that is rare (the form versions, at start and on a reload). Returns
 * work's status (UNAVAILABLE, not run, as store_read_async's done would get it). Loop thread only.
 */
enum store_status store_read_wait(struct store *st, store_read_fn work, void *arg);

/* Called on the loop thread once a write has committed (or failed); res is valid during the call.
 */
typedef void (*store_done_cb)(enum store_status status, const struct store_result *res, void *arg);

/*
 * Open (creating or migrating) the database at path and start the storage
 * thread; completions are delivered on base. Returns NULL with err filled.
 */
struct store *store_open(const char *path, struct event_base *base, char *err, size_t errlen);

/* Say whether location names a PostgreSQL database (a postgresql:// or postgres:// URL) rather
 * than a SQLite file. */
bool store_location_is_url(const char *location);

/* Copy location into out (len bytes) for logs and messages without what may be secret: a URL
 * keeps only its host, port and database name. */
void store_location_safe(const char *location, char *out, size_t len);

/* Connect to the PostgreSQL database at url and check its schema is one this refexd can run,
 * changing nothing (refexd --check-config): -1 with err (never the URL) if not. */
int store_pg_check(const char *url, char *err, size_t errlen);

struct store_form_version;

/* Read the form versions kept by the PostgreSQL database at url (store_form_versions_at's
 * variant for a URL). */
int store_pg_form_versions_at(const char *url, struct store_form_version **out, size_t *n,
                              char *err, size_t errlen);

/* Finish every queued write (running its callback), stop the thread, close. NULL is fine. */
void store_close(struct store *st);

/* Fill id (STORE_ID_LEN + 1 bytes) with a new unguessable, time-ordered referral id. */
void store_new_id(char *id);

/* Queue a referral, with its first history entry (-> sent), for the next group commit. */
int store_insert(struct store *st, const struct store_new_referral *r, store_done_cb cb, void *arg);

/* Queue a conditional state change with its history entry for the next group commit. */
int store_change_state(struct store *st, const struct store_change *c, store_done_cb cb, void *arg);

/* Queue a sweep marking every referral past its due time and unacknowledged as overdue, with an
 * event for each party; res->overdue counts them. */
int store_sweep_overdue(struct store *st, int64_t now, store_done_cb cb, void *arg);

/* Queue a purge: closed referrals last changed before `before` lose client, consent, form data
 * and reasons (a tombstone of ids, dates and states stays), overwritten on disk (secure_delete,
 * then a WAL checkpoint that truncates the WAL). Stored clients unchanged since `before` that
 * this leaves held by no referral with details are erased too, and, once no closed referral is
 * left to purge, those last changed in [clients_since, before) that none holds (see
 * store_purge_due; res->clients_checked then says every client left in that window is held).
 * res->purged and res->purged_clients count them (at most a few hundred a
 * time: queue another while either is not 0). */
int store_purge_closed(struct store *st, int64_t before, int64_t clients_since, int64_t now,
                       store_done_cb cb, void *arg);

/* Say whether a purge is due: some closed referral last changed before `before` still holds its
 * details, or some stored client last changed in [clients_since, before) is held by no
 * unpurged referral. (A client can only become free of referrals in a purge, which checks the
 * clients of what it purges: each check need only look at those newly grown old enough.) */
enum store_status store_purge_due(struct store *st, int64_t before, int64_t clients_since,
                                  bool *due);

/* Copy into sender (len bytes) the agency that sent referral id: a change of a referral forwarded
 * from id is news to it too (its sent list shows the onward referral). */
enum store_status store_sender_of(struct store *st, const char *id, char *sender, size_t len);

/* Return the earliest due time of a referral not yet marked overdue (0: none) into *due. */
enum store_status store_next_due(struct store *st, int64_t *due);

/* Read up to max of agency's events with seq > after, oldest first, into *out (n of them). */
enum store_status store_events(struct store *st, const char *agency, uint64_t after, size_t max,
                               Refex__Event ***out, size_t *n);

/* Free what store_events() returned. */
void store_events_free(Refex__Event **events, size_t n);

/* Return agency's oldest kept and newest event sequence numbers (0, 0: none yet). */
enum store_status store_event_range(struct store *st, const char *agency, uint64_t *oldest,
                                    uint64_t *newest);

/* Look an idempotency key up: STORE_OK (a repeat; first gets the referral it wrote),
 * STORE_NOT_FOUND (unused), STORE_KEY_REUSED (used for another request). */
enum store_status store_idem_find(struct store *st, const char *agency,
                                  const struct store_idem *idem, char *first);

/* Queue an audit entry for a read; it commits with the next group commit (nothing waits). */
int store_audit_read(struct store *st, const struct store_audit *a);

/* Read up to max audit entries of one referral, oldest first, into *out (n of them). */
enum store_status store_audit_list(struct store *st, const char *record, size_t max,
                                   Refex__AuditEntry ***out, size_t *n);

/* Free what store_audit_list() returned. */
void store_audit_free(Refex__AuditEntry **entries, size_t n);

/* Check the audit chain of the database at path (read-only, refexd may be running): *entries
 * intact entries, *first_bad the first entry that does not verify (0: none). -1: unreadable. */
int store_audit_verify(const char *path, uint64_t *entries, uint64_t *first_bad, char *err,
                       size_t errlen);

/* Read one referral with client, consent, form data, history, parent and children into *out. */
enum store_status store_get(struct store *st, const char *id, Refex__Referral **out);

/* Free a referral returned by store_get(). NULL is fine. */
void store_referral_free(Refex__Referral *r);

/* Read one page of an agency's inbox or sent list, newest first. */
enum store_status store_list(struct store *st, const struct store_query *q,
                             struct store_page *page);

/* Free what store_list() put in page. */
void store_page_free(struct store_page *page);

/* Count the referrals in each state into counts (indexed by Refex__State, so counts[0] is 0)
 * and those still open (sent or received) whose due time has passed by now into *overdue. */
enum store_status store_count_states(struct store *st, uint64_t counts[STORE_STATES],
                                     uint64_t *overdue, int64_t now);

/* One version of one agreed form, as the store keeps it. */
struct store_form_version {
	char *form; /* housing_support */
	uint32_t version;
	uint8_t *schema; /* what schema_form_export wrote for it: what clients get */
	size_t schema_len;
	int64_t accepted_at; /* unix seconds */
	int64_t retired_at;  /* unix seconds the form left the forms directory; 0: in force */
};

/* New form versions and retirements to record together (store_forms_record). */
struct store_forms_change {
	const struct store_form_version *add; /* versions accepted now (retired_at unused) */
	size_t n_add;
	const char *const *retire; /* forms no longer in the forms directory */
	size_t n_retire;
	const char *const *revive; /* retired forms back in the directory */
	size_t n_revive;
	int64_t at; /* unix seconds: accepted_at of what is added, retired_at of what retires */
};

/* Read every stored form version, by form then version, into *out (n of them). */
enum store_status store_form_versions(struct store *st, struct store_form_version **out, size_t *n);

/* Read the form versions of the database at path read-only, changing nothing (refexd may be
 * running): none when there is no database yet, or no forms recorded in it. -1 with err. */
int store_form_versions_at(const char *path, struct store_form_version **out, size_t *n, char *err,
                           size_t errlen);

/* Free what store_form_versions returned. */
void store_form_versions_free(struct store_form_version *v, size_t n);

/*
 * Record c in one transaction, through the storage thread, and wait for its commit: all or
 * nothing. Only at start and on a reload (rare and small): the loop waits one commit so the
 * forms go into force only once their versions are durable.
 */
enum store_status store_forms_record(struct store *st, const struct store_forms_change *c);

/* Record c as store_forms_record does, without waiting: cb runs on the loop thread once it has
 * committed or failed (at once when there is nothing to record or it cannot be queued). c must
 * stay as it is until then. For a reload, which must not hold the loop while the database is
 * slow. */
void store_forms_record_async(struct store *st, const struct store_forms_change *c,
                              store_done_cb cb, void *arg);

/* Return how many writes are queued or being committed (for shutdown and metrics). */
size_t store_pending(struct store *st);

/* Return how many deferred reads (store_read_async) are not yet answered (for shutdown). */
size_t store_reads_pending(struct store *st);

/* For tests and metrics: return how many write transactions have committed. */
size_t store_commit_count(struct store *st);

#endif
