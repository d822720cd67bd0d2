/*
 * The SQLite backend (store_backend.h), the embedded default: one file. Its
 * writer connection belongs to the commit queue's storage thread
 * (store_queue.c), which runs every queued write in one transaction (one
 * fsync for the lot); a read-only connection serves reads on the loop thread,
 * and WAL lets it read while the writer commits.
 *
 * Only the storage thread touches the writer connection. Errors are returned,
 * not logged, except by the storage thread when commits start and stop
 * failing (store_health.c) and for read audit entries it could not store,
 * and for database files others may read, found at open.
 *
 * This file opens and closes the database (schema, migrations, connections,
 * checkpoints); the transaction, the SQL of each write and the backend's
 * table are in store_writer.c, reads in store_reader.c, ids in store_id.c.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store_report.h"
#include "store_sqlite_private.h"
#include "store_walbuf.h"

#define STORE_BUSY_MS    5000  /* wait this long for another process's lock */
#define STORE_CKPT_PAGES 16384 /* the writer checkpoints at this many WAL pages (64 MiB) */

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
    /* 2: due times, per-agency events (watch), idempotency keys. */
    "ALTER TABLE referrals ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0;"
    /* The due time while the overdue event is still owed, else NULL: the sweep reads a
       small partial index instead of every referral. */
    "ALTER TABLE referrals ADD COLUMN overdue_pending INTEGER;"
    "CREATE INDEX referrals_overdue_pending ON referrals (overdue_pending)"
    " WHERE overdue_pending IS NOT NULL;"
    /* One row per event per party; seq counts from 1 per agency, without gaps. The change
       is the history row (NULL: the submission itself; overdue: the last change before it,
       0 if none, NULL in rows written before refexd recorded that). */
    "CREATE TABLE events ("
    " agency TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " referral_rid INTEGER NOT NULL,"
    " kind INTEGER NOT NULL,"
    " history_seq INTEGER,"
    " PRIMARY KEY (agency, seq)) WITHOUT ROWID;"
    "CREATE TABLE idempotency ("
    " agency TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " digest BLOB NOT NULL,"
    " referral_id TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (agency, key)) WITHOUT ROWID;"
    "CREATE INDEX idempotency_created ON idempotency (created_at);"
    /* Open referrals with a due time: counting the overdue (metrics) and listing them walk
       these small partial indexes, not every referral of an agency. */
    "CREATE INDEX referrals_open_due ON referrals (due_at) WHERE state IN (1, 2) AND due_at > 0;"
    "CREATE INDEX referrals_open_due_recipient ON referrals (recipient, rid)"
    " WHERE state IN (1, 2) AND due_at > 0;"
    "CREATE INDEX referrals_open_due_sender ON referrals (sender, rid)"
    " WHERE state IN (1, 2) AND due_at > 0;",
    /* 3: per-state counts. */
    /* How many referrals are in each state, kept by triggers in the same transaction as the
       change, so a metrics scrape reads 6 rows instead of counting a million. */
    "CREATE TABLE state_counts (state INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
    "INSERT INTO state_counts (state, n) SELECT state, count(*) FROM referrals GROUP BY state;"
    "CREATE TRIGGER state_counts_insert AFTER INSERT ON referrals BEGIN"
    " INSERT INTO state_counts (state, n) VALUES (NEW.state, 1)"
    "  ON CONFLICT (state) DO UPDATE SET n = n + 1;"
    " END;"
    "CREATE TRIGGER state_counts_update AFTER UPDATE OF state ON referrals"
    " WHEN OLD.state <> NEW.state BEGIN"
    " UPDATE state_counts SET n = n - 1 WHERE state = OLD.state;"
    " INSERT INTO state_counts (state, n) VALUES (NEW.state, 1)"
    "  ON CONFLICT (state) DO UPDATE SET n = n + 1;"
    " END;"
    "CREATE TRIGGER state_counts_delete AFTER DELETE ON referrals BEGIN"
    " UPDATE state_counts SET n = n - 1 WHERE state = OLD.state;"
    " END;",
    /* 4: the audit trail, a hash chain (store_audit.c). */
    "CREATE TABLE audit ("
    " seq INTEGER PRIMARY KEY,"
    " at_ms INTEGER NOT NULL,"
    " agency TEXT NOT NULL,"
    " holder TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " record TEXT NOT NULL,"
    " hash BLOB NOT NULL);"
    "CREATE INDEX audit_record ON audit (record, seq);",
    /* 5: retention. purged_at: when the details went (a tombstone stays); the partial index
       holds only closed referrals still holding details. */
    "ALTER TABLE referrals ADD COLUMN purged_at INTEGER;"
    "CREATE INDEX referrals_closed ON referrals (updated_at)"
    " WHERE state IN (4, 5, 6) AND purged_at IS NULL;",
    /* 6: onward referral: the referral a forwarded one came from. */
    ("ALTER TABLE referrals ADD COLUMN parent_id TEXT;"
     "CREATE INDEX referrals_parent ON referrals (parent_id) WHERE parent_id IS NOT NULL;"),
    /* 7: client records, their versions, consents and other lawful bases (store_clients.c).
       name and dup_key (for search and duplicate flags) and each version's record go NULL
       when the owner erases the client; the row stays to say so. */
    ("CREATE TABLE clients ("
     " cid INTEGER PRIMARY KEY,"
     " id TEXT NOT NULL UNIQUE,"
     " owner TEXT NOT NULL,"
     " version INTEGER NOT NULL,"
     " created_at INTEGER NOT NULL,"
     " updated_at INTEGER NOT NULL,"
     " name TEXT,"
     " dup_key TEXT,"
     " erased_at INTEGER,"
     " erased_by TEXT,"
     " erase_reason TEXT);"
     "CREATE INDEX clients_owner ON clients (owner, cid);"
     "CREATE INDEX clients_dup ON clients (owner, dup_key) WHERE dup_key IS NOT NULL;"
     "CREATE TABLE client_versions ("
     " cid INTEGER NOT NULL REFERENCES clients (cid),"
     " version INTEGER NOT NULL,"
     " record BLOB,"
     " created_at INTEGER NOT NULL,"
     " holder TEXT NOT NULL,"
     " PRIMARY KEY (cid, version)) WITHOUT ROWID;"
     /* to_agency NULL: any partner. expires: the last day covered, YYYY-MM-DD. */
     "CREATE TABLE consents ("
     " id TEXT PRIMARY KEY,"
     " cid INTEGER NOT NULL REFERENCES clients (cid),"
     " to_agency TEXT,"
     " basis INTEGER NOT NULL,"
     " purpose TEXT,"
     " method INTEGER,"
     " reason TEXT,"
     " expires TEXT,"
     " recorded_agency TEXT NOT NULL,"
     " recorded_by TEXT NOT NULL,"
     " recorded_at INTEGER NOT NULL,"
     " withdrawn_at INTEGER,"
     " withdrawn_agency TEXT,"
     " withdrawn_by TEXT,"
     " withdraw_reason TEXT) WITHOUT ROWID;"
     "CREATE INDEX consents_client ON consents (cid);"
     /* Which stored client (and version) a referral shared. */
     "ALTER TABLE referrals ADD COLUMN client_id TEXT;"
     "ALTER TABLE referrals ADD COLUMN client_version INTEGER;"
     "CREATE INDEX referrals_client ON referrals (client_id) WHERE client_id IS NOT NULL;"),
    /* 8: the writer adds new referrals to state_counts once per batch (store_writer.c). */
    "DROP TRIGGER state_counts_insert;",
    /* 9: closed means state >= 4 (declined, completed, withdrawn): a constant IN list in a
       partial index's WHERE built a temporary b-tree on every insert into referrals. */
    ("DROP INDEX referrals_closed;"
     "CREATE INDEX referrals_closed ON referrals (updated_at)"
     " WHERE state >= 4 AND purged_at IS NULL;"),
    /* 10: the clients retention may erase are read by last change from those not yet erased
       (store_clients.c, CLIENTS_UNHELD), not by scanning every client. */
    "CREATE INDEX clients_live ON clients (updated_at) WHERE erased_at IS NULL;",
    /* 11: every form version the hub ever accepted (store_forms.c): schema is what
       schema_form_export wrote, what clients get for that version. retired_at is set on every
       version of a form that left the forms directory, and cleared if it comes back. */
    ("CREATE TABLE form_versions ("
     " form TEXT NOT NULL,"
     " version INTEGER NOT NULL,"
     " schema BLOB NOT NULL,"
     " accepted_at INTEGER NOT NULL,"
     " retired_at INTEGER,"
     " PRIMARY KEY (form, version)) WITHOUT ROWID;"),
    /* 12: outcomes reporting (store_report.c): counters per pathway and day sent, bands of
       durations and decline reasons, counted from what is stored and kept in the same
       transaction as each change (triggers; new referrals: the writer, once per cell and
       commit). A reason goes when retention erases it. */
    store_report_migration,
};

#define STORE_VERSION (sizeof(store_migrations) / sizeof(store_migrations[0]))

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
int store_step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* Step the INSERT s unless binding it failed (bound: its bindings' result), and end it; the new
 * row's id to *rowid. STORE_DUPLICATE when the row breaks a unique key. */
enum store_status store_step_insert(sqlite3_stmt *s, int bound, int64_t *rowid)
{
	int rc = bound == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;

	store_stmt_end(s);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		return STORE_DUPLICATE;
	}
	if (rc != SQLITE_DONE) {
		return STORE_UNAVAILABLE;
	}
	*rowid = sqlite3_last_insert_rowid(sqlite3_db_handle(s));
	return STORE_OK;
}

/* Reset s and drop its bindings: they may point into a job about to be freed. */
void store_stmt_end(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Copy column i of s (NULL stays NULL); sets *oom when the copy fails. */
char *store_col_str(sqlite3_stmt *s, int i, bool *oom)
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

/* Bind t (NULL: SQL NULL); nonzero if it could not be (too big): never store it as NULL. */
int store_bind_text(sqlite3_stmt *s, int i, const char *t)
{
	if (t == NULL) {
		return sqlite3_bind_null(s, i);
	}
	return sqlite3_bind_text64(s, i, t, strlen(t), SQLITE_STATIC, SQLITE_UTF8);
}

/* Run s (SELECT digest, referral_id ... agency = ?1 AND key = ?2) for idem: STORE_OK with the
 * first referral's id in first (STORE_ID_LEN + 1 bytes), STORE_NOT_FOUND or STORE_KEY_REUSED. */
enum store_status store_idem_lookup(sqlite3_stmt *s, const char *agency,
                                    const struct store_idem *idem, char *first)
{
	enum store_status status = STORE_NOT_FOUND;
	int rc = store_bind_text(s, 1, agency) | store_bind_text(s, 2, idem->key);

	rc = rc == SQLITE_OK ? sqlite3_step(s) : SQLITE_TOOBIG;
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_bytes(s, 0) == STORE_DIGEST_LEN &&
		    memcmp(sqlite3_column_blob(s, 0), idem->digest, STORE_DIGEST_LEN) == 0) {
			snprintf(first, STORE_ID_LEN + 1, "%s",
			         (const char *)sqlite3_column_text(s, 1));
			status = STORE_OK;
		} else {
			status = STORE_KEY_REUSED;
		}
	} else if (rc != SQLITE_DONE) {
		status = STORE_UNAVAILABLE;
	}
	store_stmt_end(s);
	return status;
}

/* After each commit: once the WAL has grown to STORE_CKPT_PAGES, copy it into the database file
 * (PASSIVE: readers are not waited for) so that the next commit can restart it from the top,
 * overwriting blocks the file already has. SQLite's automatic checkpoint would do this every
 * 1,000 pages; a checkpoint thread of our own measured worse (docs/PERFORMANCE.md). */
static int store_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)arg;
	if (pages >= STORE_CKPT_PAGES) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	return SQLITE_OK;
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

static int db_open(const char *path, int flags, const char *vfs, sqlite3 **db, char *err,
                   size_t errlen)
{
	if (sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, vfs) != SQLITE_OK) {
		errf(err, errlen, "%s", *db ? sqlite3_errmsg(*db) : "out of memory");
		return -1;
	}
	sqlite3_extended_result_codes(*db, 1);
	sqlite3_busy_timeout(*db, STORE_BUSY_MS);
	return 0;
}

/* Create the database file 0600 if it is not there yet. SQLite gives the -wal and -shm files it
 * creates the database's own mode, and would create the database itself 0644 less the umask:
 * the database holds personal data, whatever umask refexd was started with. */
static int db_create_private(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0 && errno == EEXIST) {
		return 0; /* it is there: store_warn_exposed says if others may read it */
	}
	if (fd < 0 || fchmod(fd, 0600) < 0) { /* a umask may have cleared the owner's bits */
		errf(err, errlen, "unable to open database file: %s", strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
		return -1;
	}
	close(fd);
	return 0;
}

/* Warn about each of the database, its WAL and its shared-memory file that the group or others
 * may read or write: they hold personal data (the path only, no data). */
static void store_warn_exposed(const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char name[4096];
	struct stat sb;

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
		if (stat(name, &sb) == 0 && (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
			log_warnx("msg=\"database file readable by others\" path=%s mode=%04o"
			          " hint=\"it holds personal data: chmod 600 it\"",
			          name, (unsigned)(sb.st_mode & 07777));
		}
	}
}

static int writer_open(struct store *st, const char *path, char *err, size_t errlen)
{
	char mode[16] = "";

	/* The writer's WAL frames go to the file once per commit (store_walbuf.c). */
	if (db_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, store_walbuf_vfs(),
	            &st->sq->wdb, err, errlen) < 0) {
		return -1;
	}
	if (db_pragma(st->sq->wdb, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode)) < 0) {
		errf(err, errlen, "%s", sqlite3_errmsg(st->sq->wdb));
		return -1;
	}
	if (strcmp(mode, "wal") != 0) {
		errf(err, errlen, "cannot use write-ahead logging (journal mode is %s)", mode);
		return -1;
	}
	if (db_exec(
	        st->sq->wdb,
	        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;"
	        " PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;"
	        " PRAGMA journal_size_limit = 67108864",
	        err, errlen) < 0 ||
	    store_migrate(st->sq->wdb, err, errlen) < 0) {
		return -1;
	}
	/* Replaces SQLite's automatic checkpoint: one per 64 MiB of WAL, not per 4 MiB. */
	sqlite3_wal_hook(st->sq->wdb, store_wal_hook, NULL);
	return db_prepare(st->sq->wdb, store_wsql, st->sq->w, W_COUNT, err, errlen);
}

static int reader_open(struct store *st, const char *path, char *err, size_t errlen)
{
	if (db_open(path, SQLITE_OPEN_READONLY, NULL, &st->sq->rdb, err, errlen) < 0 ||
	    db_exec(st->sq->rdb, "PRAGMA cache_size = -65536", err, errlen) < 0) {
		return -1;
	}
	return db_prepare(st->sq->rdb, store_rsql, st->sq->r, R_COUNT, err, errlen);
}

/* Open the SQLite database at path: create, migrate, connect, prepare. */
int store_sqlite_open(struct store *st, const char *path, char *err, size_t errlen)
{
	if ((st->sq = calloc(1, sizeof(*st->sq))) == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	/* The writer creates and migrates the schema before the reader prepares against it. */
	if (db_create_private(path, err, errlen) < 0 || writer_open(st, path, err, errlen) < 0 ||
	    reader_open(st, path, err, errlen) < 0 || store_clients_open(st, err, errlen) < 0) {
		return -1;
	}
	/* After the writer's open: its -wal and -shm files are there by now. */
	store_warn_exposed(path);
	return 0;
}

/* Finalize and close what store_sqlite_open made (a half-opened store too). */
void store_sqlite_close(struct store *st)
{
	if (st->sq == NULL) {
		return;
	}
	for (size_t i = 0; i < W_COUNT; i++) {
		sqlite3_finalize(st->sq->w[i]);
	}
	for (size_t i = 0; i < R_COUNT; i++) {
		sqlite3_finalize(st->sq->r[i]);
	}
	store_clients_close(st);
	store_audit_close(st);
	store_report_close(st);
	sqlite3_close(st->sq->rdb);
	sqlite3_close(st->sq->wdb); /* the last connection out checkpoints and removes the WAL */
	free(st->sq);
	st->sq = NULL;
}
