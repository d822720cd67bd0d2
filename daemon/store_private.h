/*
 * The store as the commit queue (store_queue.c) and every backend see it: the
 * queue's state, the backend in use and the backend's own state. The rest of
 * the daemon sees only store.h.
 */
#ifndef REFEX_STORE_PRIVATE_H
#define REFEX_STORE_PRIVATE_H

#include <event2/event.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "store.h"
#include "store_backend.h"

struct job;          /* one queued write, private to store_queue.c */
struct store_sqlite; /* the SQLite backend's state (store_sqlite_private.h) */
struct store_pg;     /* the PostgreSQL backend's state (store_pg_private.h) */

struct store {
	const struct store_backend *be;
	struct store_sqlite *sq; /* be == &store_sqlite_backend */
	struct store_pg *pg;     /* be == &store_pg_backend */
	struct event *done_ev;
	/* Loop thread only: jobs queued during this loop turn, handed over together at its end. */
	struct job *staged, **staged_tail;
	bool closing_loop; /* store_close has begun: refuse new jobs */
	struct event *handoff_ev;
	int wake[2]; /* the storage thread writes a byte to wake[1] when jobs are done */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t synced; /* a job someone waits for (store_job_run_forms) has finished */
	/* Under mu. */
	struct job *queue, **queue_tail;
	struct job *done, **done_tail;
	bool closing;
	bool woken; /* a wake byte is on its way to the loop */
	/* Loop thread only: queued, being committed, or waiting for its callback. */
	size_t pending;
	size_t reads_pending; /* reads handed to the reader thread, not yet completed (loop) */
	atomic_size_t commits;
	/* The reader (store_backend_reader; reader_view NULL: reads run on the loop thread). Its
	 * queue is under mu. The reader thread sets reads_down while its connection is lost: it
	 * then answers reads UNAVAILABLE at once, in order, and reconnects between them. */
	struct store *reader_view;
	pthread_t reader;
	bool reader_started;
	pthread_cond_t rcv;
	struct job *rqueue, **rqueue_tail;
	atomic_bool reads_down;
	/* At close, once the threads took too long: the backend cancels their statements, and
	 * they start no more (writes and reads fail UNAVAILABLE). */
	atomic_bool cancelling;
	bool thread_ended; /* loop thread: the storage thread is joined */
	/* Storage thread only: whether commits fail, and since when (store_health.c). */
	bool failing;
	size_t refused;               /* writes refused since commits began to fail */
	double fail_since, fail_told; /* metrics_now() of the first failure and the last line */
};

/* Return the CLOCK_REALTIME time ms from now, for a timed wait (store_queue.c). */
struct timespec store_realtime_in(int ms);

/* Join thread t if it ends within ms; say whether it did (store_queue.c). */
bool store_join_within(pthread_t t, int ms);

/* A pointer field of a request that a write copies (so the caller's buffers may go): a string
 * (str) or len bytes (blob); the other is NULL. Pointers into the copy being made. */
struct store_copy {
	const char **str;
	const uint8_t **blob;
	size_t len;
};

/* A string field, a blob field of n bytes (in a list of struct store_copy). */
#define STORE_COPY_STR(p)     ((struct store_copy){.str = (p)})
#define STORE_COPY_BLOB(p, n) ((struct store_copy){.blob = (p), .len = (n)})

/* Return the bytes the copies of n fields take. */
size_t store_copy_size(const struct store_copy *f, size_t n);

/* Copy what each of n fields points at to data, one after the other (store_copy_size bytes),
 * and point the field at its copy; NULL stays NULL. */
void store_copy_fields(char *data, const struct store_copy *f, size_t n);

#define STORE_AUDIT_HASH_LEN 32 /* SHA-256 */

/* Hash audit entry a, number seq, onto the previous entry's hash prev into out (store_audit.c):
 * the chain every backend keeps. 0 / -1. */
int store_audit_hash(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t prev[STORE_AUDIT_HASH_LEN],
                     int64_t seq, const struct store_audit *a, uint8_t out[STORE_AUDIT_HASH_LEN]);

/* Make a hashing context and fetch SHA-256 for store_audit_hash; -1 if either failed. */
int store_audit_hasher_new(EVP_MD_CTX **ctx, EVP_MD **md);

/* A check of the audit chain, entry by entry, whatever the database (store_audit.c). */
struct store_audit_check {
	EVP_MD_CTX *ctx;
	EVP_MD *md;
	uint8_t prev[STORE_AUDIT_HASH_LEN];
	int64_t seq;
	uint64_t entries;   /* intact entries so far */
	uint64_t first_bad; /* the first entry that does not verify (0: none yet) */
};

/* Start checking a chain from its first entry. -1: SHA-256 cannot be set up. */
int store_audit_check_init(struct store_audit_check *c);

/* Check the chain's next entry (numbered got, with fields a and stored hash of len bytes);
 * false when it breaks the chain (c->first_bad says where). */
bool store_audit_check_row(struct store_audit_check *c, int64_t got, const struct store_audit *a,
                           const uint8_t *hash, size_t len);

/* Free what store_audit_check_init made. */
void store_audit_check_free(struct store_audit_check *c);

/* Verify the audit chain of the PostgreSQL database at url, read-only (store_pg_audit.c). */
int store_pg_audit_verify(const char *url, uint64_t *entries, uint64_t *first_bad, char *err,
                          size_t errlen);

/* Make summary r say the referral as it was at an event at moment: in state, last changed at
 * updated_at, overdue if still unanswered then past its due time (store_rows.c). */
void store_summary_as_of(Refex__Referral *r, Refex__State state, int64_t updated_at,
                         int64_t moment);

/* Build the submission's change (-> sent) of summary r: the referral row is its own first
 * change; sets *oom when out of memory (store_rows.c). */
Refex__StatusChange *store_submission_change(const Refex__Referral *r, bool *oom);

/* Note a batch of n writes that could not commit (code: the backend's error); log when it
 * starts. */
void store_health_failed(struct store *st, int code, size_t n);

/* Note a commit that worked; log the recovery if commits had been failing. */
void store_health_ok(struct store *st);

/* Say whether a committed client write erased personal data (the backend's scrub must follow;
 * store_clients.c). */
bool store_clients_erased(const struct store_client_op *op);

/* Queue op as a write job; done(status, op) runs on the loop thread (store_queue.c). */
int store_job_queue_client(struct store *st, struct store_client_op *op,
                           void (*done)(enum store_status, struct store_client_op *));

/* Queue a forms change; cb runs on the loop thread once it has committed or failed, and c
 * must stay until then (store_queue.c). */
int store_job_queue_forms(struct store *st, const struct store_forms_change *c, store_done_cb cb,
                          void *arg);

/* Queue a forms change and wait until it has committed or failed (store_queue.c). */
enum store_status store_job_run_forms(struct store *st, const struct store_forms_change *c);

#endif
