/*
 * The commit queue: write jobs (each request copied into one allocation), the
 * queue, the storage thread that commits them in groups (one transaction per
 * batch, redone with a savepoint per job if one fails), and the completions
 * handed back to the loop thread. It knows no SQL: the transaction and the
 * write of each job kind are the backend's (store_backend.h). What each kind
 * of job does (inside the transaction, after commit, after a failure, back on
 * the loop) is one row of job_types.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "store_jobs.h"
#include "store_private.h"

#define STORE_BATCH_MAX 4096      /* jobs per transaction: bounds WAL growth and latency */
#define STORE_BLOB_MAX  (1 << 30) /* a blob in a write: SQLite's own limit is just under this */
/* At close, after the hub's grace time: what the threads get to finish before the backend
 * cancels their statements, and then how long they get to end before refexd leaves them. */
#define STORE_STOP_WAIT_MS   1000
#define STORE_STOP_CANCEL_MS 5000

enum job_kind {
	JOB_INSERT,
	JOB_CHANGE,
	JOB_SWEEP,
	JOB_AUDIT,
	JOB_PURGE,
	JOB_CLIENT,
	JOB_FORMS,
	JOB_READ
};

/* A job the loop thread waits for (store_job_run_forms): set under mu when it has finished. */
struct job_sync {
	bool done;
	enum store_status status;
};

/* One queued write: the request's copy lives in data, right after the struct. */
struct job {
	struct job *next;
	enum job_kind kind;
	enum store_status status;
	struct store_result res;
	store_done_cb cb;
	void *arg;
	struct job_sync *sync; /* NULL: nobody waits; the callback, if any, says it is done */
	union {
		struct store_new_referral ins;
		struct store_change chg;
		int64_t now;              /* JOB_SWEEP */
		struct store_audit audit; /* JOB_AUDIT */
		struct {
			int64_t before, clients_since, now;
		} purge; /* JOB_PURGE */
		struct {
			struct store_client_op *op;
			void (*done)(enum store_status, struct store_client_op *);
		} client;                               /* JOB_CLIENT (store_clients.c) */
		const struct store_forms_change *forms; /* JOB_FORMS: the caller's, till done */
		struct {
			store_read_fn work;
			store_read_done_fn done;
			void *arg;
		} read; /* JOB_READ: run by the reader thread, not in a transaction */
	} u;
	char data[];
};

static struct job *job_new(enum job_kind kind, const struct store_copy *f, size_t n,
                           store_done_cb cb, void *arg);

/* ---- the kinds of job ---- */

static enum store_status exec_insert(struct store *st, struct job *j, bool *partial)
{
	return store_jobs_insert(st, st->be->stmts, &j->u.ins, &j->res, partial);
}

static enum store_status exec_change(struct store *st, struct job *j, bool *partial)
{
	return store_jobs_change(st, st->be->stmts, &j->u.chg, &j->res, partial);
}

static enum store_status exec_sweep(struct store *st, struct job *j, bool *partial)
{
	return store_jobs_sweep(st, st->be->stmts, j->u.now, &j->res, partial);
}

static enum store_status exec_audit(struct store *st, struct job *j, bool *partial)
{
	(void)partial; /* one statement: it fails whole */
	return st->be->write.audit(st, &j->u.audit);
}

static enum store_status exec_purge(struct store *st, struct job *j, bool *partial)
{
	return st->be->write.purge(st, j->u.purge.before, j->u.purge.clients_since, j->u.purge.now,
	                           &j->res, partial);
}

static enum store_status exec_client(struct store *st, struct job *j, bool *partial)
{
	return st->be->write.client(st, j->u.client.op, partial);
}

static enum store_status exec_forms(struct store *st, struct job *j, bool *partial)
{
	return store_jobs_forms(st, st->be->stmts, j->u.forms, partial);
}

/* A committed purge that reduced something, or a client's erasure: a log may still hold it. */
static bool erased_purge(const struct job *j)
{
	return j->res.purged + j->res.purged_clients > 0;
}

static bool erased_client(const struct job *j)
{
	return store_clients_erased(j->u.client.op);
}

/* The audit entry of a read that could not be stored: the log is then its only record (ids and
 * the action, not the holder's name). */
static void lost_audit(const struct job *j)
{
	log_error("msg=\"audit entry not stored\" agency=%s action=%s referral=%s at_ms=%lld",
	          j->u.audit.agency, j->u.audit.action, j->u.audit.record,
	          (long long)j->u.audit.at_ms);
}

/* Run the job's callback, if it has one. */
static void done_cb(struct job *j)
{
	if (j->cb != NULL) {
		j->cb(j->status, &j->res, j->arg);
	}
}

static void done_client(struct job *j)
{
	j->u.client.done(j->status, j->u.client.op);
}

static void done_read(struct job *j)
{
	j->u.read.done(j->status, j->u.read.arg);
}

/*
 * What each kind of job does: exec inside the batch's transaction (setting *partial when a
 * savepoint must undo what it wrote), erased after the batch committed (true: it erased
 * personal data, the backend must scrub; NULL: never), lost after its write failed or was
 * rolled back (NULL: nothing to say), and done on the loop thread once it is finished.
 */
static const struct job_type {
	enum store_status (*exec)(struct store *st, struct job *j, bool *partial);
	bool (*erased)(const struct job *j);
	void (*lost)(const struct job *j);
	void (*done)(struct job *j);
} job_types[] = {
    [JOB_INSERT] = {exec_insert, NULL, NULL, done_cb},
    [JOB_CHANGE] = {exec_change, NULL, NULL, done_cb},
    [JOB_SWEEP] = {exec_sweep, NULL, NULL, done_cb},
    [JOB_AUDIT] = {exec_audit, NULL, lost_audit, done_cb},
    [JOB_PURGE] = {exec_purge, erased_purge, NULL, done_cb},
    [JOB_CLIENT] = {exec_client, erased_client, NULL, done_client},
    [JOB_FORMS] = {exec_forms, NULL, NULL, done_cb},
    [JOB_READ] = {NULL, NULL, NULL, done_read}, /* never in a batch: the reader runs it */
};

static enum store_status job_exec(struct store *st, struct job *j, bool *partial)
{
	*partial = false;
	memset(&j->res, 0, sizeof(j->res));
	return job_types[j->kind].exec(st, j, partial);
}

/* Run one job in its own savepoint; -1 if the batch's transaction can no longer commit. */
static int job_run_isolated(struct store *st, struct job *j)
{
	bool partial;

	if (st->be->save(st) < 0) {
		j->status = STORE_UNAVAILABLE;
		return -1;
	}
	j->status = job_exec(st, j, &partial);
	if ((partial || j->status != STORE_OK) && st->be->undo(st, partial) < 0) {
		return -1; /* releasing now would commit half a job */
	}
	return st->be->release(st);
}

/*
 * Run one job without a savepoint: a savepoint per job costs about a third of
 * the write throughput. Expected outcomes (duplicate, not found, conflict)
 * leave nothing to undo; anything else returns -1 and the batch is redone
 * with savepoints.
 */
static int job_run_fast(struct store *st, struct job *j)
{
	bool partial;

	j->status = job_exec(st, j, &partial);
	if (partial || j->status == STORE_UNAVAILABLE || st->be->aborted(st)) {
		return -1;
	}
	return 0;
}

/* Run a batch in one transaction and commit it; -1 (rolled back) if that failed. */
static int batch_try(struct store *st, struct job *batch, bool isolated, int *rc)
{
	struct job *j;
	int ok = atomic_load(&st->cancelling) ? -1 : st->be->begin(st);

	for (j = batch; ok == 0 && j != NULL; j = j->next) {
		ok = isolated ? job_run_isolated(st, j) : job_run_fast(st, j);
	}
	if (ok == 0 && st->be->commit(st) == 0) {
		atomic_fetch_add(&st->commits, 1);
		return 0;
	}
	*rc = st->be->rollback(st);
	return -1;
}

/* After a purge or a client's erasure has committed, have the backend scrub its logs (SQLite:
 * the WAL's old frames still hold what was erased). */
static void batch_scrub(struct store *st, const struct job *batch)
{
	for (const struct job *j = batch; j != NULL; j = j->next) {
		if (j->status == STORE_OK && job_types[j->kind].erased != NULL &&
		    job_types[j->kind].erased(j)) {
			st->be->scrub(st);
			return;
		}
	}
}

/* Say what is lost of each job of the batch that did not commit. */
static void batch_lost(const struct job *batch)
{
	for (const struct job *j = batch; j != NULL; j = j->next) {
		if (j->status != STORE_OK && job_types[j->kind].lost != NULL) {
			job_types[j->kind].lost(j);
		}
	}
}

/* Commit a batch, setting every job's status: one job's failure costs only that job. A batch
 * that cannot commit at all (disk full, I/O error) was rolled back whole: the connection is
 * usable again and the next batch tries afresh, so writes resume when the disk does. */
static void batch_run(struct store *st, struct job *batch)
{
	double start = metrics_now();
	size_t n = 0;
	int rc = 0;

	if (batch_try(st, batch, false, &rc) == 0 || batch_try(st, batch, true, &rc) == 0) {
		metrics_commit_seconds(metrics_now() - start);
		store_health_ok(st);
		batch_scrub(st, batch);
		batch_lost(batch);
		return;
	}
	for (struct job *j = batch; j != NULL; j = j->next) {
		j->status = STORE_UNAVAILABLE;
		n++;
	}
	store_health_failed(st, rc, n);
	batch_lost(batch);
}

/* Wait for jobs and take up to a batch of them; NULL once closing and drained. */
static struct job *queue_take(struct store *st)
{
	struct job *head, *last;
	size_t n = 1;

	pthread_mutex_lock(&st->mu);
	while (st->queue == NULL && !st->closing) {
		pthread_cond_wait(&st->cv, &st->mu);
	}
	head = st->queue;
	if (head != NULL) {
		for (last = head; last->next != NULL && n < STORE_BATCH_MAX; last = last->next) {
			n++;
		}
		st->queue = last->next;
		if (st->queue == NULL) {
			st->queue_tail = &st->queue;
		}
		last->next = NULL;
	}
	pthread_mutex_unlock(&st->mu);
	return head;
}

/* Hand a committed batch to the loop, waking it unless a wake-up is already on its way. */
static void done_push(struct store *st, struct job *batch)
{
	struct job *last = batch;
	bool wake;
	ssize_t n;

	while (last->next != NULL) {
		last = last->next;
	}
	pthread_mutex_lock(&st->mu);
	for (struct job *j = batch; j != NULL; j = j->next) {
		if (j->sync != NULL) {
			j->sync->status = j->status;
			j->sync->done = true;
			pthread_cond_broadcast(&st->synced);
		}
	}
	*st->done_tail = batch;
	st->done_tail = &last->next;
	wake = !st->woken;
	st->woken = true;
	pthread_mutex_unlock(&st->mu);
	if (wake) {
		do {
			n = write(st->wake[1], "", 1);
		} while (n < 0 && errno == EINTR);
	}
}

/* Run the storage thread: commit queued batches until closing and drained. */
static void *store_thread(void *arg)
{
	struct store *st = arg;
	struct job *batch;

	while ((batch = queue_take(st)) != NULL) {
		batch_run(st, batch);
		done_push(st, batch);
	}
	return NULL;
}

/* ---- the reader thread ---- */

#define STORE_RECONNECT_POLL_NS 100000000L /* 0.1 s between looks while the reader is down */
#define STORE_RETRY_STEPS       20         /* reconnection steps a read found lost waits for */

/* Wait for reads (while the reader is down, at most until the next look at its reconnection;
 * not at all while a reconnection is under way) and take every queued read. NULL with *stop
 * once closing and drained. */
static struct job *rqueue_take(struct store *st, int reconnect, bool *stop)
{
	struct job *list;
	struct timespec until;

	pthread_mutex_lock(&st->mu);
	if (st->rqueue == NULL && !st->closing && reconnect != 1) {
		if (atomic_load(&st->reads_down)) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += STORE_RECONNECT_POLL_NS;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&st->rcv, &st->mu, &until);
		} else {
			pthread_cond_wait(&st->rcv, &st->mu);
		}
	}
	list = st->rqueue;
	st->rqueue = NULL;
	st->rqueue_tail = &st->rqueue;
	*stop = list == NULL && st->closing;
	pthread_mutex_unlock(&st->mu);
	return list;
}

/* Advance the lost reader's reconnection by one short step (starting it now, or once the
 * backend's backoff has passed): 0 connected, 1 under way, -1 not (yet). */
static int reader_reconnect(struct store *st, bool now)
{
	int rc = st->be->reader.reconnect(st->reader_view, now);

	if (rc == 0) {
		atomic_store(&st->reads_down, false);
	}
	return rc;
}

/* Run one read on the reader's view; none while the connection is known lost (UNAVAILABLE at
 * once: a read never waits for a reconnection). A read that finds the connection lost (the
 * database went away while the reader was idle) is run again if reconnecting at once works
 * within a few steps: reads change nothing, and a failed one leaves nothing behind. */
static void reader_run(struct store *st, struct job *j)
{
	const struct store_backend_reader *r = &st->be->reader;
	int rc = 1;

	if (atomic_load(&st->reads_down) || atomic_load(&st->cancelling)) {
		j->status = STORE_UNAVAILABLE;
		return;
	}
	j->status = j->u.read.work(st->reader_view, j->u.read.arg);
	if (!r->lost(st->reader_view)) {
		return;
	}
	atomic_store(&st->reads_down, true);
	for (int i = 0; i < STORE_RETRY_STEPS && rc == 1; i++) {
		rc = reader_reconnect(st, i == 0);
	}
	if (rc == 0) {
		j->status = j->u.read.work(st->reader_view, j->u.read.arg);
	}
}

/* Run the reader thread: run queued reads in order, handing each to the loop as it is done;
 * while the connection is lost, reconnect a step at a time between them (never on the loop). */
static void *store_reader_thread(void *arg)
{
	struct store *st = arg;
	struct job *list, *next;
	bool stop = false;
	int reconnect = 0;

	while (!stop) {
		if (atomic_load(&st->reads_down)) {
			reconnect = reader_reconnect(st, false);
		}
		for (list = rqueue_take(st, reconnect, &stop); list != NULL; list = next) {
			next = list->next;
			list->next = NULL;
			reader_run(st, list);
			done_push(st, list);
		}
	}
	return NULL;
}

/* Queue a read of work for the reader thread, done to run on the loop thread; NULL if it cannot
 * be queued. */
static struct job *read_queue(struct store *st, store_read_fn work, store_read_done_fn done,
                              void *arg, struct job_sync *sync)
{
	struct job *j;

	if (st->closing_loop || (j = job_new(JOB_READ, NULL, 0, NULL, NULL)) == NULL) {
		return NULL;
	}
	j->u.read.work = work;
	j->u.read.done = done;
	j->u.read.arg = arg;
	j->sync = sync;
	st->reads_pending++;
	pthread_mutex_lock(&st->mu);
	*st->rqueue_tail = j;
	st->rqueue_tail = &j->next;
	pthread_cond_signal(&st->rcv);
	pthread_mutex_unlock(&st->mu);
	return j;
}

/* Run work and then done (on the loop thread), on the reader thread if the backend has one. */
void store_read_async(struct store *st, store_read_fn work, store_read_done_fn done, void *arg)
{
	if (st == NULL || st->reader_view == NULL) {
		done(work(st, arg), arg);
	} else if (read_queue(st, work, done, arg, NULL) == NULL) {
		done(STORE_UNAVAILABLE, arg);
	}
}

/* Wait until the storage or reader thread has finished the job sync belongs to. */
static void job_wait(struct store *st, struct job_sync *sync)
{
	pthread_mutex_lock(&st->mu);
	while (!sync->done) {
		pthread_cond_wait(&st->synced, &st->mu);
	}
	pthread_mutex_unlock(&st->mu);
}

static void read_waited(enum store_status status, void *arg)
{
	(void)status;
	(void)arg;
}

/* Run work on the reader thread, if the backend has one, and wait for it. */
enum store_status store_read_wait(struct store *st, store_read_fn work, void *arg)
{
	struct job_sync sync = {false, STORE_UNAVAILABLE};

	if (st == NULL || st->reader_view == NULL) {
		return work(st, arg);
	}
	if (read_queue(st, work, read_waited, arg, &sync) == NULL) {
		return STORE_UNAVAILABLE;
	}
	job_wait(st, &sync);
	return sync.status;
}

/* ---- loop thread: completions ---- */

/* Move the staged jobs to the storage thread's queue, waking it if it sleeps. */
static void store_jobs_hand_over(struct store *st)
{
	bool was_empty;

	if (st->staged == NULL) {
		return;
	}
	pthread_mutex_lock(&st->mu);
	/* The thread only sleeps on an empty queue; otherwise it will find these jobs anyway. */
	was_empty = st->queue == NULL;
	*st->queue_tail = st->staged;
	st->queue_tail = st->staged_tail;
	if (was_empty) {
		pthread_cond_signal(&st->cv);
	}
	pthread_mutex_unlock(&st->mu);
	st->staged = NULL;
	st->staged_tail = &st->staged;
}

/* Hand this loop turn's staged jobs to the storage thread (the hand-over event). */
static void store_on_handoff(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	store_jobs_hand_over(arg);
}

static struct job *done_take(struct store *st)
{
	struct job *list;

	pthread_mutex_lock(&st->mu);
	list = st->done;
	st->done = NULL;
	st->done_tail = &st->done;
	st->woken = false;
	pthread_mutex_unlock(&st->mu);
	return list;
}

static void jobs_complete(struct store *st, struct job *list)
{
	struct job *next;

	for (; list != NULL; list = next) {
		next = list->next;
		if (list->kind != JOB_READ) { /* pending counts writes */
			st->pending--;
		} else {
			st->reads_pending--;
		}
		job_types[list->kind].done(list);
		free(list);
	}
}

/* Run the callbacks of committed jobs when the storage thread's wake-up arrives. */
static void store_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct store *st = arg;
	char buf[64];

	(void)what;
	/* Drain before taking the list: a wake-up written after the take must stay readable. */
	while (read(fd, buf, sizeof(buf)) > 0) {
	}
	jobs_complete(st, done_take(st));
}

/* Run the callbacks of every job the storage thread has finished, and free the jobs. */
static void store_jobs_finish(struct store *st)
{
	jobs_complete(st, done_take(st));
}

/* ---- queueing writes ---- */

/* Bytes one field's copy takes (0 for NULL). */
static size_t copy_size(const struct store_copy *f)
{
	if (f->str != NULL) {
		return *f->str ? strlen(*f->str) + 1 : 0;
	}
	return *f->blob ? f->len : 0;
}

/* Return the bytes the copies of n fields take. */
size_t store_copy_size(const struct store_copy *f, size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		total += copy_size(&f[i]);
	}
	return total;
}

/* Copy what each of n fields points at to data, one after the other (store_copy_size bytes),
 * and point the field at its copy; NULL stays NULL. */
void store_copy_fields(char *data, const struct store_copy *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const void *from =
		    f[i].str != NULL ? (const void *)*f[i].str : (const void *)*f[i].blob;
		size_t len = copy_size(&f[i]);

		if (from == NULL) {
			continue;
		}
		memcpy(data, from, len);
		if (f[i].str != NULL) {
			*f[i].str = data;
		} else {
			*f[i].blob = (const uint8_t *)data;
		}
		data += len;
	}
}

/* A new job of kind, with a copy of the n fields f (their pointers then point into the job). */
static struct job *job_new(enum job_kind kind, const struct store_copy *f, size_t n,
                           store_done_cb cb, void *arg)
{
	struct job *j = malloc(sizeof(*j) + store_copy_size(f, n));

	if (j != NULL) {
		store_copy_fields(j->data, f, n);
		j->next = NULL;
		j->kind = kind;
		j->status = STORE_UNAVAILABLE;
		j->cb = cb;
		j->arg = arg;
		j->sync = NULL;
	}
	return j;
}

static int job_queue(struct store *st, struct job *j)
{
	if (st->closing_loop) {
		free(j);
		return -1;
	}
	/* Stage the job; the hand-over runs after every callback already active in this loop
	 * turn, so a commit starts with the whole burst of requests instead of its first. */
	*st->staged_tail = j;
	st->staged_tail = &j->next;
	if (!event_pending(st->handoff_ev, EV_TIMEOUT, NULL)) {
		event_active(st->handoff_ev, EV_TIMEOUT, 0);
	}
	st->pending++;
	return 0;
}

static size_t blob_size(const uint8_t *b, size_t len)
{
	return b ? len : 0;
}

static int idem_valid(const struct store_idem *idem)
{
	return idem->key == NULL || (idem->digest != NULL && strlen(idem->key) >= 1 &&
	                             strlen(idem->key) <= STORE_KEY_MAX);
}

/* Queue a referral, with its first history entry (-> sent), for the next group commit. */
int store_insert(struct store *st, const struct store_new_referral *r, store_done_cb cb, void *arg)
{
	struct store_new_referral c;
	struct job *j;

	if (st == NULL || r == NULL || r->id == NULL || r->sender == NULL ||
	    r->sender_holder == NULL || r->recipient == NULL || r->form == NULL ||
	    blob_size(r->client, r->client_len) > STORE_BLOB_MAX ||
	    blob_size(r->consent, r->consent_len) > STORE_BLOB_MAX ||
	    blob_size(r->form_data, r->form_data_len) > STORE_BLOB_MAX || !idem_valid(&r->idem)) {
		return -1;
	}
	c = *r;
	if (c.idem.key == NULL) {
		c.idem = (struct store_idem){0};
	}
	const struct store_copy f[] = {
	    STORE_COPY_STR(&c.id),
	    STORE_COPY_STR(&c.sender),
	    STORE_COPY_STR(&c.sender_holder),
	    STORE_COPY_STR(&c.recipient),
	    STORE_COPY_STR(&c.form),
	    STORE_COPY_STR(&c.client_name),
	    STORE_COPY_STR(&c.parent_id),
	    STORE_COPY_STR(&c.idem.key),
	    STORE_COPY_BLOB(&c.client, r->client_len),
	    STORE_COPY_BLOB(&c.consent, r->consent_len),
	    {NULL, &c.form_data, r->form_data_len},
	    STORE_COPY_BLOB(&c.idem.digest, STORE_DIGEST_LEN),
	};
	if ((j = job_new(JOB_INSERT, f, sizeof(f) / sizeof(f[0]), cb, arg)) == NULL) {
		return -1;
	}
	j->u.ins = c;
	return job_queue(st, j);
}

/* Queue a conditional state change with its history entry for the next group commit. */
int store_change_state(struct store *st, const struct store_change *c, store_done_cb cb, void *arg)
{
	struct store_change k;
	struct job *j;

	if (st == NULL || c == NULL || c->referral_id == NULL || c->agency == NULL ||
	    c->holder == NULL || !idem_valid(&c->idem)) {
		return -1;
	}
	k = *c;
	if (k.idem.key == NULL) {
		k.idem = (struct store_idem){0};
	}
	const struct store_copy f[] = {
	    STORE_COPY_STR(&k.referral_id), STORE_COPY_STR(&k.agency),
	    STORE_COPY_STR(&k.holder),      STORE_COPY_STR(&k.reason),
	    STORE_COPY_STR(&k.idem.key),    STORE_COPY_BLOB(&k.idem.digest, STORE_DIGEST_LEN),
	};
	if ((j = job_new(JOB_CHANGE, f, sizeof(f) / sizeof(f[0]), cb, arg)) == NULL) {
		return -1;
	}
	j->u.chg = k;
	return job_queue(st, j);
}

/* Queue an audit entry for a read; it commits with the next group commit. */
int store_audit_read(struct store *st, const struct store_audit *a)
{
	struct store_audit k;
	struct job *j;

	if (st == NULL || a == NULL || a->agency == NULL || a->holder == NULL ||
	    a->action == NULL || a->record == NULL) {
		return -1;
	}
	k = *a;
	const struct store_copy f[] = {STORE_COPY_STR(&k.agency), STORE_COPY_STR(&k.holder),
	                               STORE_COPY_STR(&k.action), STORE_COPY_STR(&k.record)};
	if ((j = job_new(JOB_AUDIT, f, sizeof(f) / sizeof(f[0]), NULL, NULL)) == NULL) {
		return -1;
	}
	j->u.audit = k;
	return job_queue(st, j);
}

/* Queue a purge of closed referrals last changed before `before`. */
int store_purge_closed(struct store *st, int64_t before, int64_t clients_since, int64_t now,
                       store_done_cb cb, void *arg)
{
	struct job *j;

	if (st == NULL || (j = job_new(JOB_PURGE, NULL, 0, cb, arg)) == NULL) {
		return -1;
	}
	j->u.purge.before = before;
	j->u.purge.clients_since = clients_since;
	j->u.purge.now = now;
	return job_queue(st, j);
}

/* Queue op as a write job; done(status, op) runs on the loop thread. */
int store_job_queue_client(struct store *st, struct store_client_op *op,
                           void (*done)(enum store_status, struct store_client_op *))
{
	struct job *j;

	if (st == NULL || (j = job_new(JOB_CLIENT, NULL, 0, NULL, NULL)) == NULL) {
		return -1;
	}
	j->u.client.op = op;
	j->u.client.done = done;
	return job_queue(st, j);
}

/* Queue a sweep marking what fell due by now as overdue. */
int store_sweep_overdue(struct store *st, int64_t now, store_done_cb cb, void *arg)
{
	struct job *j;

	if (st == NULL || (j = job_new(JOB_SWEEP, NULL, 0, cb, arg)) == NULL) {
		return -1;
	}
	j->u.now = now;
	return job_queue(st, j);
}

/* Queue a forms change and wait until it has committed or failed. The job is handed to the
 * storage thread at once (with whatever this loop turn staged before it); it runs in a batch
 * like any other, and is freed with the batch's completions, which do not touch sync. */
enum store_status store_job_run_forms(struct store *st, const struct store_forms_change *c)
{
	struct job_sync sync = {false, STORE_UNAVAILABLE};
	struct job *j;

	if (st == NULL || (j = job_new(JOB_FORMS, NULL, 0, NULL, NULL)) == NULL) {
		return STORE_UNAVAILABLE;
	}
	j->u.forms = c;
	j->sync = &sync;
	if (job_queue(st, j) < 0) {
		return STORE_UNAVAILABLE;
	}
	store_jobs_hand_over(st);
	job_wait(st, &sync);
	return sync.status;
}

/* Queue a forms change for the next group commit, like any write; cb runs on the loop thread
 * once it has committed or failed. c must stay as it is until then. */
int store_job_queue_forms(struct store *st, const struct store_forms_change *c, store_done_cb cb,
                          void *arg)
{
	struct job *j;

	if (st == NULL || (j = job_new(JOB_FORMS, NULL, 0, cb, arg)) == NULL) {
		return -1;
	}
	j->u.forms = c;
	return job_queue(st, j);
}

/* Return how many writes are queued or being committed (for shutdown and metrics). */
size_t store_pending(struct store *st)
{
	return st ? st->pending : 0;
}

/* Return how many reads are on the reader thread, not yet answered (for shutdown). */
size_t store_reads_pending(struct store *st)
{
	return st ? st->reads_pending : 0;
}

/* For tests and metrics: return how many write transactions have committed. */
size_t store_commit_count(struct store *st)
{
	return st ? atomic_load(&st->commits) : 0;
}

/* ---- open and close ---- */

static int wake_open(struct store *st, struct event_base *base, char *err, size_t errlen)
{
	if (pipe2(st->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		st->wake[0] = st->wake[1] = -1;
		snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	st->handoff_ev = event_new(base, -1, 0, store_on_handoff, st);
	if (st->handoff_ev == NULL) {
		snprintf(err, errlen, "cannot create the hand-over event");
		return -1;
	}
	st->done_ev = event_new(base, st->wake[0], EV_READ | EV_PERSIST, store_on_done, st);
	if (st->done_ev == NULL || event_add(st->done_ev, NULL) < 0) {
		snprintf(err, errlen, "cannot watch the storage thread's pipe");
		return -1;
	}
	return 0;
}

static void store_free(struct store *st)
{
	if (st->be != NULL && st->be->reader.close != NULL) {
		st->be->reader.close(st->reader_view);
	}
	if (st->be != NULL) {
		st->be->close(st);
	}
	if (st->handoff_ev != NULL) {
		event_free(st->handoff_ev);
	}
	if (st->done_ev != NULL) {
		event_free(st->done_ev);
	}
	for (int i = 0; i < 2; i++) {
		if (st->wake[i] >= 0) {
			close(st->wake[i]);
		}
	}
	pthread_cond_destroy(&st->cv);
	pthread_cond_destroy(&st->rcv);
	pthread_cond_destroy(&st->synced);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

/* Open the backend's reader, if it has one, and start the reader thread. */
static int reader_start(struct store *st, const char *path, char *err, size_t errlen)
{
	if (st->be->reader.open == NULL) {
		return 0;
	}
	if (st->be->reader.open(st, path, &st->reader_view, err, errlen) < 0) {
		return -1;
	}
	if (pthread_create(&st->reader, NULL, store_reader_thread, st) != 0) {
		snprintf(err, errlen, "cannot start the reader thread");
		return -1;
	}
	st->reader_started = true;
	pthread_setname_np(st->reader, "refexd-read");
	return 0;
}

/* Return the CLOCK_REALTIME time ms from now, for a timed wait. */
struct timespec store_realtime_in(int ms)
{
	struct timespec at;

	clock_gettime(CLOCK_REALTIME, &at);
	at.tv_sec += ms / 1000;
	at.tv_nsec += (long)(ms % 1000) * 1000000L;
	at.tv_sec += at.tv_nsec / 1000000000L;
	at.tv_nsec %= 1000000000L;
	return at;
}

/* Join thread t if it ends within ms; say whether it did. */
bool store_join_within(pthread_t t, int ms)
{
	struct timespec by = store_realtime_in(ms);

	return pthread_timedjoin_np(t, NULL, &by) == 0;
}

/* Join the storage and reader threads that end within ms; say whether both have. */
static bool store_threads_join(struct store *st, int ms)
{
	if (!st->thread_ended) {
		st->thread_ended = store_join_within(st->thread, ms);
	}
	if (st->reader_started && st->thread_ended) {
		st->reader_started = !store_join_within(st->reader, ms);
	}
	return st->thread_ended && !st->reader_started;
}

/* The threads still run statements STORE_STOP_WAIT_MS after the stop (waiting for a lock
 * another session holds, or for a server that does not answer): have the backend cancel them,
 * and start none. Say whether the threads, and the cancelling, have ended. */
static bool store_threads_cancel(struct store *st)
{
	bool ended;

	atomic_store(&st->cancelling, true);
	log_warnx("msg=\"database statements cancelled at stop\" wait_ms=%d hint=\"writes not yet"
	          " acknowledged may or may not be made (a retry with the same idempotency key is"
	          " safe); a statement waited for a lock or for the database\"",
	          STORE_STOP_WAIT_MS);
	if (!st->be->cancel(st, true)) {
		return store_threads_join(st, STORE_STOP_CANCEL_MS);
	}
	ended = store_threads_join(st, STORE_STOP_CANCEL_MS);
	return st->be->cancel(st, false) && ended;
}

/* Stop the storage and reader threads once every queued job is done; what they still run after
 * a while on a backend that can cancel it is cancelled. Say whether they have ended (false:
 * they wait for a database that does not answer, and the store must stay). */
static bool store_thread_stop(struct store *st)
{
	st->closing_loop = true;
	store_jobs_hand_over(st);
	pthread_mutex_lock(&st->mu);
	st->closing = true;
	pthread_cond_signal(&st->cv);
	pthread_cond_signal(&st->rcv);
	pthread_mutex_unlock(&st->mu);
	if (st->be->cancel == NULL) {
		pthread_join(st->thread, NULL);
		if (st->reader_started) {
			pthread_join(st->reader, NULL);
		}
		return true;
	}
	return store_threads_join(st, STORE_STOP_WAIT_MS) || store_threads_cancel(st);
}

/* Open (creating or migrating) the database at path (a SQLite file, or a postgresql:// URL) and
 * start the storage thread. */
struct store *store_open(const char *path, struct event_base *base, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	char why[256] = "";

	if (st == NULL) {
		if (err != NULL && errlen > 0) {
			snprintf(err, errlen, "out of memory");
		}
		return NULL;
	}
	st->wake[0] = st->wake[1] = -1;
	st->queue_tail = &st->queue;
	st->staged_tail = &st->staged;
	st->done_tail = &st->done;
	st->rqueue_tail = &st->rqueue;
	atomic_init(&st->commits, 0);
	atomic_init(&st->reads_down, false);
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	pthread_cond_init(&st->rcv, NULL);
	pthread_cond_init(&st->synced, NULL);
	if (path == NULL || base == NULL) {
		snprintf(why, sizeof(why), "no database path or event loop");
		goto fail;
	}
	st->be = store_location_is_url(path) ? &store_pg_backend : &store_sqlite_backend;
	if (st->be->open(st, path, why, sizeof(why)) < 0 ||
	    wake_open(st, base, why, sizeof(why)) < 0) {
		goto fail;
	}
	if (pthread_create(&st->thread, NULL, store_thread, st) != 0) {
		snprintf(why, sizeof(why), "cannot start the storage thread");
		goto fail;
	}
	pthread_setname_np(st->thread, "refexd-store");
	if (reader_start(st, path, why, sizeof(why)) < 0) {
		store_thread_stop(st);
		goto fail;
	}
	return st;
fail:
	if (err != NULL && errlen > 0) {
		char safe[512];

		store_location_safe(path, safe, sizeof(safe));
		snprintf(err, errlen, "%s: %s", safe, why);
	}
	store_free(st);
	return NULL;
}

/* Finish every queued write (running its callback), stop the thread, close. */
void store_close(struct store *st)
{
	if (st == NULL) {
		return;
	}
	if (!store_thread_stop(st)) {
		/* Freeing what a thread still uses would crash the exit it waits on. */
		log_error("msg=\"the database does not answer at stop\" hint=\"refexd exits without"
		          " waiting for it: writes not yet acknowledged may or may not be made\"");
		return;
	}
	/* The backend's reads are still open: callbacks may read what they just wrote. */
	store_jobs_finish(st);
	store_free(st);
}
