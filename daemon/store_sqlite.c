/*
 * The SQLite store. A writer connection belongs to a storage thread that
 * takes every queued write, runs them in one transaction (one fsync for the
 * lot; a write that fails costs only itself) and hands the finished jobs back
 * to the loop through a pipe, whose event runs the callbacks. A read-only connection serves reads
 * on the loop thread; WAL lets it read while the writer commits.
 *
 * Every store_* function is called on the loop thread; only the storage
 * thread touches the writer connection. Errors are returned, not logged.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.pb-c.h"
#include "log.h"

#define STORE_BATCH_MAX  4096      /* jobs per transaction: bounds WAL growth and latency */
#define STORE_BUSY_MS    5000      /* wait this long for another process's lock */
#define STORE_BLOB_MAX   (1 << 30) /* SQLite's own length limit is just under this */
#define STORE_CKPT_PAGES 2048      /* WAL pages that start a background checkpoint */
#define STORE_CKPT_FORCE (8 * STORE_CKPT_PAGES) /* the writer finishes the checkpoint itself */

/* Migration i brings the schema from user_version i to i + 1. Append only. */
static const char *const store_migrations[] = {
    "CREATE TABLE referrals ("
    " rid INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " sender TEXT NOT NULL,"
    " sender_holder TEXT NOT NULL,"
    " recipient TEXT NOT NULL,"
    " form TEXT NOT NULL,"
    " form_version INTEGER NOT NULL,"
    " state INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " client_name TEXT);"
    /* What only `show` reads lives apart, so listings walk small rows (dozens a page). */
    "CREATE TABLE referral_data ("
    " rid INTEGER PRIMARY KEY REFERENCES referrals (rid),"
    " client BLOB,"
    " consent BLOB,"
    " form_data BLOB);"
    /* Every listing is a short index range scan, newest first; a state filter skips rows
       within it. Fewer indexes, fewer b-tree writes per referral. */
    "CREATE INDEX referrals_recipient ON referrals (recipient, rid);"
    "CREATE INDEX referrals_sender ON referrals (sender, rid);"
    "CREATE TABLE history ("
    " referral_rid INTEGER NOT NULL REFERENCES referrals (rid),"
    " seq INTEGER PRIMARY KEY,"
    " from_state INTEGER,"
    " to_state INTEGER NOT NULL,"
    " agency TEXT NOT NULL,"
    " holder TEXT NOT NULL,"
    " at INTEGER NOT NULL,"
    " reason TEXT);"
    "CREATE INDEX history_referral ON history (referral_rid);",
};

#define STORE_VERSION (sizeof(store_migrations) / sizeof(store_migrations[0]))

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
	W_COUNT
};

static const char *const wsql[W_COUNT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_SAVE] = "SAVEPOINT job",
    [W_RELEASE] = "RELEASE job",
    [W_UNDO] = "ROLLBACK TO job",
    [W_INSERT] = "INSERT INTO referrals (id, sender, sender_holder, recipient, form, form_version,"
                 " state, created_at, updated_at, client_name)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
    [W_INSERT_DATA] = "INSERT INTO referral_data (rid, client, consent, form_data)"
                      " VALUES (?1, ?2, ?3, ?4)",
    [W_HISTORY] = "INSERT INTO history (referral_rid, from_state, to_state, agency, holder, at,"
                  " reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [W_UPDATE] = "UPDATE referrals SET state = ?1, updated_at = ?2 WHERE id = ?3 AND state = ?4"
                 " RETURNING rid",
    [W_EXISTS] = "SELECT 1 FROM referrals WHERE id = ?1",
};

#define SUMMARY_COLS                                                                               \
	"rid, id, sender, sender_holder, recipient, form, form_version, state, created_at,"        \
	" updated_at, client_name"
#define LIST_SQL(who, state)                                                                       \
	"SELECT " SUMMARY_COLS " FROM referrals WHERE " who " = ?1 AND rid < ?2" state             \
	" ORDER BY rid DESC LIMIT ?3"

/* Statements of the reader connection (loop thread only). */
enum rstmt {
	R_BEGIN,
	R_COMMIT,
	R_ROLLBACK,
	R_GET,
	R_HISTORY,
	R_INBOX,
	R_INBOX_STATE,
	R_SENT,
	R_SENT_STATE,
	R_COUNT
};

static const char *const rsql[R_COUNT] = {
    [R_BEGIN] = "BEGIN",
    [R_COMMIT] = "COMMIT",
    [R_ROLLBACK] = "ROLLBACK",
    [R_GET] = "SELECT " SUMMARY_COLS ", client, consent, form_data FROM referrals"
              " LEFT JOIN referral_data USING (rid) WHERE id = ?1",
    /* The first entry (-> sent) is the referral row itself: no history row is written for it,
       which saves two b-tree inserts per submission. */
    [R_HISTORY] = "SELECT NULL, 1, sender, sender_holder, created_at, NULL, 0 AS seq FROM referrals"
                  " WHERE rid = ?1"
                  " UNION ALL SELECT from_state, to_state, agency, holder, at, reason, seq"
                  " FROM history WHERE referral_rid = ?1 ORDER BY seq",
    [R_INBOX] = LIST_SQL("recipient", ""),
    [R_INBOX_STATE] = LIST_SQL("recipient", " AND state = ?4"),
    [R_SENT] = LIST_SQL("sender", ""),
    [R_SENT_STATE] = LIST_SQL("sender", " AND state = ?4"),
};

/* Column numbers of SUMMARY_COLS and the full row that extends it. */
enum {
	C_RID,
	C_ID,
	C_SENDER,
	C_SENDER_HOLDER,
	C_RECIPIENT,
	C_FORM,
	C_FORM_VERSION,
	C_STATE,
	C_CREATED_AT,
	C_UPDATED_AT,
	C_CLIENT_NAME,
	C_CLIENT,
	C_CONSENT,
	C_FORM_DATA
};

enum job_kind { JOB_INSERT, JOB_CHANGE };

/* One queued write: the request's copy lives in data, right after the struct. */
struct job {
	struct job *next;
	enum job_kind kind;
	enum store_status status;
	store_done_cb cb;
	void *arg;
	union {
		struct store_new_referral ins;
		struct store_change chg;
	} u;
	char data[];
};

struct store {
	sqlite3 *wdb, *rdb;
	sqlite3_stmt *w[W_COUNT], *r[R_COUNT];
	struct event *done_ev;
	/* Loop thread only: jobs queued during this loop turn, handed over together at its end. */
	struct job *staged, **staged_tail;
	bool closing_loop; /* store_close has begun: refuse new jobs */
	struct event *handoff_ev;
	int wake[2]; /* the storage thread writes a byte to wake[1] when jobs are done */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Under mu. */
	struct job *queue, **queue_tail;
	struct job *done, **done_tail;
	bool closing;
	bool woken; /* a wake byte is on its way to the loop */
	/* Loop thread only: queued, being committed, or waiting for its callback. */
	size_t pending;
	atomic_size_t commits;
	/* Checkpoints run on a thread of their own so commits do not wait for them. */
	sqlite3 *cdb;
	pthread_t checkpointer;
	bool checkpointer_started;
	pthread_cond_t ckpt_cv;
	bool ckpt_wanted; /* under mu */
};

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Step a statement that returns nothing we need, and reset it. */
static int step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* Reset s and drop its bindings: they may point into a job about to be freed. */
static void stmt_end(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Bind t (NULL: SQL NULL); nonzero if it could not be (too big): never store it as NULL. */
static int bind_text(sqlite3_stmt *s, int i, const char *t)
{
	if (t == NULL) {
		return sqlite3_bind_null(s, i);
	}
	return sqlite3_bind_text64(s, i, t, strlen(t), SQLITE_STATIC, SQLITE_UTF8);
}

static int bind_blob(sqlite3_stmt *s, int i, const uint8_t *b, size_t len)
{
	if (b == NULL) {
		return sqlite3_bind_null(s, i);
	}
	return sqlite3_bind_blob64(s, i, b, len, SQLITE_STATIC);
}

/* ---- storage thread ---- */

static enum store_status history_add(struct store *st, sqlite3_int64 rid, Refex__State from,
                                     Refex__State to, const char *agency, const char *holder,
                                     int64_t at, const char *reason)
{
	sqlite3_stmt *s = st->w[W_HISTORY];
	int rc;

	sqlite3_bind_int64(s, 1, rid);
	if (from == REFEX__STATE__STATE_UNSPECIFIED) {
		sqlite3_bind_null(s, 2);
	} else {
		sqlite3_bind_int(s, 2, (int)from);
	}
	sqlite3_bind_int(s, 3, (int)to);
	sqlite3_bind_int64(s, 6, at);
	rc = bind_text(s, 4, agency) | bind_text(s, 5, holder) | bind_text(s, 7, reason);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	stmt_end(s);
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/*
 * The job functions fail "cleanly" (their first statement failed, which SQLite
 * undid on its own) or set *partial: a later statement failed after an earlier
 * one had written, and only a savepoint (or the whole transaction) can undo it.
 */
static enum store_status job_insert(struct store *st, const struct store_new_referral *r,
                                    bool *partial)
{
	sqlite3_stmt *s = st->w[W_INSERT];
	int rc;

	sqlite3_bind_int64(s, 6, r->form_version);
	sqlite3_bind_int(s, 7, REFEX__STATE__STATE_SENT);
	sqlite3_bind_int64(s, 8, r->created_at);
	rc = bind_text(s, 1, r->id) | bind_text(s, 2, r->sender) |
	     bind_text(s, 3, r->sender_holder) | bind_text(s, 4, r->recipient) |
	     bind_text(s, 5, r->form) | bind_text(s, 9, r->client_name);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	stmt_end(s);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		return STORE_DUPLICATE;
	}
	if (rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	s = st->w[W_INSERT_DATA];
	sqlite3_bind_int64(s, 1, sqlite3_last_insert_rowid(st->wdb));
	rc = bind_blob(s, 2, r->client, r->client_len) |
	     bind_blob(s, 3, r->consent, r->consent_len) |
	     bind_blob(s, 4, r->form_data, r->form_data_len);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	stmt_end(s);
	/* The referral row is in: a failure now must undo it (the batch reruns with savepoints). */
	*partial = rc != SQLITE_DONE;
	return rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Tell a change that matched no row apart: no such referral, or it moved on. */
static enum store_status change_missed(struct store *st, const char *id)
{
	sqlite3_stmt *s = st->w[W_EXISTS];
	int rc = bind_text(s, 1, id);

	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	stmt_end(s);
	if (rc == SQLITE_ROW) {
		return STORE_CONFLICT;
	}
	return rc == SQLITE_DONE ? STORE_NOT_FOUND : STORE_UNAVAILABLE;
}

static enum store_status job_change(struct store *st, const struct store_change *c, bool *partial)
{
	sqlite3_stmt *s = st->w[W_UPDATE];
	enum store_status status;
	sqlite3_int64 rid = 0;
	bool hit = false;
	int rc;

	sqlite3_bind_int(s, 1, (int)c->to);
	sqlite3_bind_int64(s, 2, c->at);
	sqlite3_bind_int(s, 4, (int)c->from);
	rc = bind_text(s, 3, c->referral_id);
	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW) {
		hit = true;
		rid = sqlite3_column_int64(s, 0);
		rc = sqlite3_step(s);
	}
	stmt_end(s);
	if (rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	if (!hit) {
		return change_missed(st, c->referral_id);
	}
	status = history_add(st, rid, c->from, c->to, c->agency, c->holder, c->at, c->reason);
	*partial = status != STORE_OK;
	return status;
}

static enum store_status job_exec(struct store *st, struct job *j, bool *partial)
{
	*partial = false;
	if (j->kind == JOB_INSERT) {
		return job_insert(st, &j->u.ins, partial);
	}
	return job_change(st, &j->u.chg, partial);
}

/* Run one job in its own savepoint; -1 if the batch's transaction can no longer commit. */
static int job_run_isolated(struct store *st, struct job *j)
{
	bool partial;

	if (step_done(st->w[W_SAVE]) < 0) {
		j->status = STORE_UNAVAILABLE;
		return -1;
	}
	j->status = job_exec(st, j, &partial);
	if (partial && step_done(st->w[W_UNDO]) < 0) {
		return -1; /* releasing now would commit half a job */
	}
	if (step_done(st->w[W_RELEASE]) < 0 || sqlite3_get_autocommit(st->wdb)) {
		return -1; /* SQLite rolled the whole transaction back (I/O error, disk full) */
	}
	return 0;
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
	if (partial || j->status == STORE_UNAVAILABLE || sqlite3_get_autocommit(st->wdb)) {
		return -1;
	}
	return 0;
}

/* Run a batch in one transaction and commit it; -1 (rolled back) if that failed. */
static int batch_try(struct store *st, struct job *batch, bool isolated)
{
	struct job *j;
	int ok = step_done(st->w[W_BEGIN]);

	for (j = batch; ok == 0 && j != NULL; j = j->next) {
		ok = isolated ? job_run_isolated(st, j) : job_run_fast(st, j);
	}
	if (ok == 0 && step_done(st->w[W_COMMIT]) == 0) {
		atomic_fetch_add(&st->commits, 1);
		return 0;
	}
	if (!sqlite3_get_autocommit(st->wdb)) {
		step_done(st->w[W_ROLLBACK]);
	}
	return -1;
}

/* Commit a batch, setting every job's status: one job's failure costs only that job. */
static void batch_run(struct store *st, struct job *batch)
{
	if (batch_try(st, batch, false) == 0 || batch_try(st, batch, true) == 0) {
		return;
	}
	for (struct job *j = batch; j != NULL; j = j->next) {
		j->status = STORE_UNAVAILABLE;
	}
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

/* After each commit: wake the checkpointer, or catch up inline if the WAL keeps growing. */
static int store_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store *st = arg;

	if (pages >= STORE_CKPT_FORCE) {
		/* Under sustained writes a background checkpoint never sees the WAL's end, so the
		 * WAL is never restarted; the checkpointer has copied most of it, the rest is
		 * quick. */
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	} else if (pages >= STORE_CKPT_PAGES) {
		pthread_mutex_lock(&st->mu);
		st->ckpt_wanted = true;
		pthread_cond_signal(&st->ckpt_cv);
		pthread_mutex_unlock(&st->mu);
	}
	return SQLITE_OK;
}

static void *checkpoint_thread(void *arg)
{
	struct store *st = arg;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (!st->ckpt_wanted && !st->closing) {
			pthread_cond_wait(&st->ckpt_cv, &st->mu);
		}
		if (st->closing) {
			break; /* the last connection to close checkpoints everything */
		}
		st->ckpt_wanted = false;
		pthread_mutex_unlock(&st->mu);
		sqlite3_wal_checkpoint_v2(st->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&st->mu);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* ---- loop thread: completions ---- */

/* Move the staged jobs to the storage thread's queue, waking it if it sleeps. */
static void jobs_hand_over(struct store *st)
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

static void store_on_handoff(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	jobs_hand_over(arg);
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
		st->pending--;
		if (list->cb != NULL) {
			list->cb(list->status, list->arg);
		}
		free(list);
	}
}

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

/* ---- open and close ---- */

static int db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		errf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* Run a pragma and return its one integer (or text) result. */
static int db_pragma(sqlite3 *db, const char *sql, sqlite3_int64 *num, char *text, size_t textlen)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (num != NULL) {
			*num = sqlite3_column_int64(s, 0);
		}
		if (text != NULL) {
			snprintf(text, textlen, "%s", (const char *)sqlite3_column_text(s, 0));
		}
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_OK ? 0 : -1;
}

static int db_prepare(sqlite3 *db, const char *const *sql, sqlite3_stmt **out, size_t n, char *err,
                      size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &out[i], NULL) !=
		    SQLITE_OK) {
			errf(err, errlen, "cannot prepare statement %zu: %s", i,
			     sqlite3_errmsg(db));
			return -1;
		}
	}
	return 0;
}

/* Bring the schema up to STORE_VERSION in one transaction; refuse a newer one. */
static int store_migrate(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_int64 version = 0;
	char sql[64];

	if (db_exec(db, "BEGIN IMMEDIATE", err, errlen) < 0) {
		return -1;
	}
	if (db_pragma(db, "PRAGMA user_version", &version, NULL, 0) < 0) {
		errf(err, errlen, "%s", sqlite3_errmsg(db));
		goto fail;
	}
	if (version < 0 || (sqlite3_uint64)version > STORE_VERSION) {
		errf(err, errlen,
		     "the database schema is version %lld, newer than this refexd knows (%zu); "
		     "run a newer refexd",
		     (long long)version, STORE_VERSION);
		goto fail;
	}
	for (size_t v = (size_t)version; v < STORE_VERSION; v++) {
		if (db_exec(db, store_migrations[v], err, errlen) < 0) {
			goto fail;
		}
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", STORE_VERSION);
	if (db_exec(db, sql, err, errlen) < 0 || db_exec(db, "COMMIT", err, errlen) < 0) {
		goto fail;
	}
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int db_open(const char *path, int flags, sqlite3 **db, char *err, size_t errlen)
{
	if (sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		errf(err, errlen, "%s", *db ? sqlite3_errmsg(*db) : "out of memory");
		return -1;
	}
	sqlite3_extended_result_codes(*db, 1);
	sqlite3_busy_timeout(*db, STORE_BUSY_MS);
	return 0;
}

static int writer_open(struct store *st, const char *path, char *err, size_t errlen)
{
	char mode[16] = "";

	if (db_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &st->wdb, err, errlen) < 0) {
		return -1;
	}
	if (db_pragma(st->wdb, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode)) < 0) {
		errf(err, errlen, "%s", sqlite3_errmsg(st->wdb));
		return -1;
	}
	if (strcmp(mode, "wal") != 0) {
		errf(err, errlen, "cannot use write-ahead logging (journal mode is %s)", mode);
		return -1;
	}
	if (db_exec(st->wdb,
	            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
	            " PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;"
	            " PRAGMA journal_size_limit = 67108864",
	            err, errlen) < 0 ||
	    store_migrate(st->wdb, err, errlen) < 0) {
		return -1;
	}
	/* Replaces SQLite's automatic checkpoint, which would run inside our commits. */
	sqlite3_wal_hook(st->wdb, store_wal_hook, st);
	return db_prepare(st->wdb, wsql, st->w, W_COUNT, err, errlen);
}

static int reader_open(struct store *st, const char *path, char *err, size_t errlen)
{
	if (db_open(path, SQLITE_OPEN_READONLY, &st->rdb, err, errlen) < 0 ||
	    db_exec(st->rdb, "PRAGMA cache_size = -65536", err, errlen) < 0) {
		return -1;
	}
	return db_prepare(st->rdb, rsql, st->r, R_COUNT, err, errlen);
}

static int checkpointer_open(struct store *st, const char *path, char *err, size_t errlen)
{
	if (db_open(path, SQLITE_OPEN_READWRITE, &st->cdb, err, errlen) < 0) {
		return -1;
	}
	if (pthread_create(&st->checkpointer, NULL, checkpoint_thread, st) != 0) {
		errf(err, errlen, "cannot start the checkpoint thread");
		return -1;
	}
	st->checkpointer_started = true;
	return 0;
}

static int wake_open(struct store *st, struct event_base *base, char *err, size_t errlen)
{
	if (pipe2(st->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		st->wake[0] = st->wake[1] = -1;
		errf(err, errlen, "cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	st->handoff_ev = event_new(base, -1, 0, store_on_handoff, st);
	if (st->handoff_ev == NULL) {
		errf(err, errlen, "cannot create the hand-over event");
		return -1;
	}
	st->done_ev = event_new(base, st->wake[0], EV_READ | EV_PERSIST, store_on_done, st);
	if (st->done_ev == NULL || event_add(st->done_ev, NULL) < 0) {
		errf(err, errlen, "cannot watch the storage thread's pipe");
		return -1;
	}
	return 0;
}

static void store_free(struct store *st)
{
	for (size_t i = 0; i < W_COUNT; i++) {
		sqlite3_finalize(st->w[i]);
	}
	for (size_t i = 0; i < R_COUNT; i++) {
		sqlite3_finalize(st->r[i]);
	}
	sqlite3_close(st->cdb);
	sqlite3_close(st->rdb);
	sqlite3_close(st->wdb); /* the last connection out checkpoints and removes the WAL */
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
	pthread_cond_destroy(&st->ckpt_cv);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

/* Open (creating or migrating) the database at path and start the storage thread. */
struct store *store_open(const char *path, struct event_base *base, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	char why[256] = "";

	if (st == NULL) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	st->wake[0] = st->wake[1] = -1;
	st->queue_tail = &st->queue;
	st->staged_tail = &st->staged;
	st->done_tail = &st->done;
	atomic_init(&st->commits, 0);
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	pthread_cond_init(&st->ckpt_cv, NULL);
	if (path == NULL || base == NULL) {
		snprintf(why, sizeof(why), "no database path or event loop");
		goto fail;
	}
	/* The writer creates and migrates the schema before the reader prepares against it. */
	if (writer_open(st, path, why, sizeof(why)) < 0 ||
	    reader_open(st, path, why, sizeof(why)) < 0 ||
	    checkpointer_open(st, path, why, sizeof(why)) < 0 ||
	    wake_open(st, base, why, sizeof(why)) < 0) {
		goto fail;
	}
	if (pthread_create(&st->thread, NULL, store_thread, st) != 0) {
		snprintf(why, sizeof(why), "cannot start the storage thread");
		goto fail;
	}
	return st;
fail:
	errf(err, errlen, "%s: %s", path ? path : "(null)", why);
	store_free(st);
	return NULL;
}

/* Finish every queued write (running its callback), stop the thread, close. */
void store_close(struct store *st)
{
	if (st == NULL) {
		return;
	}
	st->closing_loop = true;
	jobs_hand_over(st);
	pthread_mutex_lock(&st->mu);
	st->closing = true;
	pthread_cond_signal(&st->cv);
	pthread_cond_signal(&st->ckpt_cv);
	pthread_mutex_unlock(&st->mu);
	pthread_join(st->thread, NULL);
	if (st->checkpointer_started) {
		pthread_join(st->checkpointer, NULL);
	}
	/* The reader is still open: callbacks may read what they just wrote. */
	jobs_complete(st, done_take(st));
	store_free(st);
}

/* ---- queueing writes ---- */

/* Copy n random bytes from a per-thread pool: OpenSSL 3.0 makes a getpid() syscall and takes
 * locks on every RAND_bytes call, which is too much once per submission. */
static void random_take(unsigned char *out, size_t n)
{
	static _Thread_local unsigned char pool[4096];
	static _Thread_local size_t used = sizeof(pool);

	if (used + n > sizeof(pool)) {
		if (RAND_bytes(pool, sizeof(pool)) != 1) {
			fatalx("msg=\"no random bytes for a referral id\"");
		}
		used = 0;
	}
	memcpy(out, pool + used, n);
	OPENSSL_cleanse(pool + used, n); /* an id's random part is never handed out twice */
	used += n;
}

/* Fill id (STORE_ID_LEN + 1 bytes) with a new, unguessable, time-ordered referral id. */
void store_new_id(char *id)
{
	static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	unsigned char b[STORE_ID_LEN * 5 / 8];
	struct timespec now;
	uint64_t ms;

	/* 48 bits of milliseconds, then 32 random bits: new ids land at the right edge of the id
	 * index (one hot page) instead of a random leaf each, and sort by creation time. */
	clock_gettime(CLOCK_REALTIME, &now);
	ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	for (int i = 0; i < 6; i++) {
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	}
	random_take(b + 6, sizeof(b) - 6);
	for (int i = 0; i < STORE_ID_LEN; i++) {
		int bit = i * 5, byte = bit / 8;
		unsigned v = (unsigned)b[byte] << 8 | (byte + 1 < (int)sizeof(b) ? b[byte + 1] : 0);

		id[i] = crockford[(v >> (11 - bit % 8)) & 31];
	}
	id[STORE_ID_LEN] = '\0';
}

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *copy_str(char **p, const char *s)
{
	char *out = *p;
	size_t n = str_size(s);

	if (s == NULL) {
		return NULL;
	}
	memcpy(out, s, n);
	*p += n;
	return out;
}

static const uint8_t *copy_blob(char **p, const uint8_t *b, size_t len)
{
	uint8_t *out = (uint8_t *)*p;

	if (b == NULL) {
		return NULL;
	}
	memcpy(out, b, len);
	*p += len;
	return out;
}

static struct job *job_new(enum job_kind kind, size_t extra, store_done_cb cb, void *arg)
{
	struct job *j = malloc(sizeof(*j) + extra);

	if (j != NULL) {
		j->next = NULL;
		j->kind = kind;
		j->status = STORE_UNAVAILABLE;
		j->cb = cb;
		j->arg = arg;
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

/* Queue a referral, with its first history entry (-> sent), for the next group commit. */
int store_insert(struct store *st, const struct store_new_referral *r, store_done_cb cb, void *arg)
{
	struct store_new_referral *c;
	struct job *j;
	char *p;

	if (st == NULL || r == NULL || r->id == NULL || r->sender == NULL ||
	    r->sender_holder == NULL || r->recipient == NULL || r->form == NULL ||
	    blob_size(r->client, r->client_len) > STORE_BLOB_MAX ||
	    blob_size(r->consent, r->consent_len) > STORE_BLOB_MAX ||
	    blob_size(r->form_data, r->form_data_len) > STORE_BLOB_MAX) {
		return -1;
	}
	j = job_new(JOB_INSERT,
	            str_size(r->id) + str_size(r->sender) + str_size(r->sender_holder) +
	                str_size(r->recipient) + str_size(r->form) + str_size(r->client_name) +
	                blob_size(r->client, r->client_len) +
	                blob_size(r->consent, r->consent_len) +
	                blob_size(r->form_data, r->form_data_len),
	            cb, arg);
	if (j == NULL) {
		return -1;
	}
	c = &j->u.ins;
	p = j->data;
	*c = *r;
	c->id = copy_str(&p, r->id);
	c->sender = copy_str(&p, r->sender);
	c->sender_holder = copy_str(&p, r->sender_holder);
	c->recipient = copy_str(&p, r->recipient);
	c->form = copy_str(&p, r->form);
	c->client_name = copy_str(&p, r->client_name);
	c->client = copy_blob(&p, r->client, r->client_len);
	c->consent = copy_blob(&p, r->consent, r->consent_len);
	c->form_data = copy_blob(&p, r->form_data, r->form_data_len);
	return job_queue(st, j);
}

/* Queue a conditional state change with its history entry for the next group commit. */
int store_change_state(struct store *st, const struct store_change *c, store_done_cb cb, void *arg)
{
	struct store_change *k;
	struct job *j;
	char *p;

	if (st == NULL || c == NULL || c->referral_id == NULL || c->agency == NULL ||
	    c->holder == NULL) {
		return -1;
	}
	j = job_new(JOB_CHANGE,
	            str_size(c->referral_id) + str_size(c->agency) + str_size(c->holder) +
	                str_size(c->reason),
	            cb, arg);
	if (j == NULL) {
		return -1;
	}
	k = &j->u.chg;
	p = j->data;
	*k = *c;
	k->referral_id = copy_str(&p, c->referral_id);
	k->agency = copy_str(&p, c->agency);
	k->holder = copy_str(&p, c->holder);
	k->reason = copy_str(&p, c->reason);
	return job_queue(st, j);
}

/* Return how many writes are queued or being committed (for shutdown and metrics). */
size_t store_pending(struct store *st)
{
	return st ? st->pending : 0;
}

/* For tests and metrics: return how many write transactions have committed. */
size_t store_commit_count(struct store *st)
{
	return st ? atomic_load(&st->commits) : 0;
}

/* ---- reads (loop thread) ---- */

static char *col_str(sqlite3_stmt *s, int i, bool *oom)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	char *c;

	if (t == NULL) {
		return NULL;
	}
	if ((c = strdup((const char *)t)) == NULL) {
		*oom = true;
	}
	return c;
}

/* Build a referral's summary fields from a row of SUMMARY_COLS. */
static Refex__Referral *summary_from_row(sqlite3_stmt *s, bool *oom)
{
	Refex__Referral *r = malloc(sizeof(*r));

	if (r == NULL) {
		*oom = true;
		return NULL;
	}
	refex__referral__init(r);
	r->id = col_str(s, C_ID, oom);
	r->sender = col_str(s, C_SENDER, oom);
	r->sender_holder = col_str(s, C_SENDER_HOLDER, oom);
	r->recipient = col_str(s, C_RECIPIENT, oom);
	r->form = col_str(s, C_FORM, oom);
	r->client_name = col_str(s, C_CLIENT_NAME, oom);
	r->has_form_version = r->has_state = r->has_created_at = r->has_updated_at = 1;
	r->form_version = (uint32_t)sqlite3_column_int64(s, C_FORM_VERSION);
	r->state = (Refex__State)sqlite3_column_int(s, C_STATE);
	r->created_at = sqlite3_column_int64(s, C_CREATED_AT);
	r->updated_at = sqlite3_column_int64(s, C_UPDATED_AT);
	return r;
}

/* Decode the client, consent and form data columns into r; -1 if one is unreadable. */
static int details_from_row(sqlite3_stmt *s, Refex__Referral *r)
{
	const uint8_t *b;
	size_t n;

	if ((n = (size_t)sqlite3_column_bytes(s, C_CLIENT)) > 0) {
		b = sqlite3_column_blob(s, C_CLIENT);
		if ((r->client = refex__client_record__unpack(NULL, n, b)) == NULL) {
			return -1;
		}
	}
	if ((n = (size_t)sqlite3_column_bytes(s, C_CONSENT)) > 0) {
		b = sqlite3_column_blob(s, C_CONSENT);
		if ((r->consent = refex__consent__unpack(NULL, n, b)) == NULL) {
			return -1;
		}
	}
	if (sqlite3_column_type(s, C_FORM_DATA) != SQLITE_NULL) {
		n = (size_t)sqlite3_column_bytes(s, C_FORM_DATA);
		if ((r->form_data.data = malloc(n ? n : 1)) == NULL) {
			return -1;
		}
		if (n > 0) {
			memcpy(r->form_data.data, sqlite3_column_blob(s, C_FORM_DATA), n);
		}
		r->form_data.len = n;
		r->has_form_data = 1;
	}
	return 0;
}

static Refex__StatusChange *change_from_row(sqlite3_stmt *s, const char *id, bool *oom)
{
	Refex__StatusChange *c = malloc(sizeof(*c));

	if (c == NULL) {
		*oom = true;
		return NULL;
	}
	refex__status_change__init(c);
	if ((c->referral_id = strdup(id)) == NULL) {
		*oom = true;
	}
	if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
		c->has_from = 1;
		c->from = (Refex__State)sqlite3_column_int(s, 0);
	}
	c->has_to = c->has_at = 1;
	c->to = (Refex__State)sqlite3_column_int(s, 1);
	c->agency = col_str(s, 2, oom);
	c->holder = col_str(s, 3, oom);
	c->at = sqlite3_column_int64(s, 4);
	c->reason = col_str(s, 5, oom);
	return c;
}

static enum store_status history_read(struct store *st, sqlite3_int64 rid, Refex__Referral *r)
{
	sqlite3_stmt *s = st->r[R_HISTORY];
	Refex__StatusChange **grown;
	size_t cap = 0;
	bool oom = false;
	int rc = SQLITE_DONE;

	sqlite3_bind_int64(s, 1, rid);
	while (!oom && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (r->n_history == cap) {
			cap = cap ? cap * 2 : 4;
			if ((grown = realloc(r->history, cap * sizeof(*grown))) == NULL) {
				oom = true;
				break;
			}
			r->history = grown;
		}
		r->history[r->n_history] = change_from_row(s, r->id, &oom);
		if (r->history[r->n_history] != NULL) {
			r->n_history++;
		}
	}
	stmt_end(s);
	return !oom && rc == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

static enum store_status referral_read(struct store *st, const char *id, Refex__Referral **out)
{
	sqlite3_stmt *s = st->r[R_GET];
	Refex__Referral *r = NULL;
	sqlite3_int64 rid = 0;
	bool oom = false;
	int rc;

	bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		rid = sqlite3_column_int64(s, C_RID);
		r = summary_from_row(s, &oom);
		if (r != NULL && details_from_row(s, r) < 0) {
			oom = true;
		}
	}
	stmt_end(s);
	if (rc == SQLITE_DONE) {
		return STORE_NOT_FOUND;
	}
	if (rc != SQLITE_ROW || oom || history_read(st, rid, r) != STORE_OK) {
		store_referral_free(r);
		return STORE_UNAVAILABLE;
	}
	*out = r;
	return STORE_OK;
}

/* Read one referral with client, consent, form data and history into *out. */
enum store_status store_get(struct store *st, const char *id, Refex__Referral **out)
{
	enum store_status status;

	*out = NULL;
	if (st == NULL || id == NULL) {
		return STORE_NOT_FOUND;
	}
	/* One read transaction: the row and its history come from the same snapshot. */
	if (step_done(st->r[R_BEGIN]) < 0) {
		return STORE_UNAVAILABLE;
	}
	status = referral_read(st, id, out);
	if (step_done(st->r[R_COMMIT]) < 0 && !sqlite3_get_autocommit(st->rdb)) {
		step_done(st->r[R_ROLLBACK]);
	}
	return status;
}

/* Free a referral returned by store_get(). NULL is fine. */
void store_referral_free(Refex__Referral *r)
{
	if (r != NULL) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
}

static sqlite3_stmt *list_stmt(struct store *st, const struct store_query *q)
{
	bool any = q->state == REFEX__STATE__STATE_UNSPECIFIED;

	if (q->box == STORE_SENT) {
		return st->r[any ? R_SENT : R_SENT_STATE];
	}
	return st->r[any ? R_INBOX : R_INBOX_STATE];
}

/* Read one page of an agency's inbox or sent list, newest first. */
enum store_status store_list(struct store *st, const struct store_query *q, struct store_page *page)
{
	sqlite3_stmt *s;
	Refex__Referral **grown;
	sqlite3_int64 last = 0;
	size_t cap = 0, limit;
	bool oom = false, more = false;
	int rc;

	memset(page, 0, sizeof(*page));
	if (st == NULL || q == NULL || q->agency == NULL) {
		return STORE_UNAVAILABLE;
	}
	limit = q->limit > 0 ? q->limit : 1;
	s = list_stmt(st, q);
	bind_text(s, 1, q->agency);
	sqlite3_bind_int64(s, 2, q->before > 0 ? q->before : INT64_MAX);
	sqlite3_bind_int64(s, 3,
	                   (sqlite3_int64)limit + 1); /* one more tells if a next page exists */
	if (q->state != REFEX__STATE__STATE_UNSPECIFIED) {
		sqlite3_bind_int(s, 4, (int)q->state);
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (page->n == limit) {
			more = true;
			rc = SQLITE_DONE;
			break;
		}
		if (page->n == cap) {
			cap = cap ? cap * 2 : (limit < 16 ? limit : 16);
			if ((grown = realloc(page->items, cap * sizeof(*grown))) == NULL) {
				oom = true;
				break;
			}
			page->items = grown;
		}
		last = sqlite3_column_int64(s, C_RID);
		if ((page->items[page->n] = summary_from_row(s, &oom)) != NULL) {
			page->n++;
		}
		if (oom) {
			break;
		}
	}
	stmt_end(s);
	if (oom || rc != SQLITE_DONE) {
		store_page_free(page);
		return STORE_UNAVAILABLE;
	}
	page->next_before = more ? last : 0;
	return STORE_OK;
}

/* Free what store_list() put in page. */
void store_page_free(struct store_page *page)
{
	if (page == NULL) {
		return;
	}
	for (size_t i = 0; i < page->n; i++) {
		store_referral_free(page->items[i]);
	}
	free(page->items);
	memset(page, 0, sizeof(*page));
}
