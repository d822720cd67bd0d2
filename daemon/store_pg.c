/*
 * The PostgreSQL backend (store_backend.h), selected by a database URL
 * (postgresql://...). Its writer connection belongs to the commit queue's
 * storage thread, which runs every queued write in one transaction and
 * commits with synchronous_commit on; a second connection serves the reads
 * on the commit queue's reader thread (store_read_async, store_read_wait;
 * MVCC: a read never waits for the writer's transaction). refexd makes no
 * read on the loop thread; a program that calls store.h's reads there itself
 * (the store's tests) gets a connection for them on its first (pg_loop_open).
 *
 * A lost connection fails the batch (UNAVAILABLE, logged once by
 * store_health.c); the next batch reconnects after a backoff, and the reader
 * thread reconnects the same way, answering reads UNAVAILABLE meanwhile.
 * Errors carry libpq's generic text, never data, and never the URL (which may
 * hold a password).
 *
 * This file connects, migrates and runs the transaction; the writes are in
 * store_pg_write.c, the reads in store_pg_read.c.
 */
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "store_pg_private.h"

#define PG_BACKOFF_MIN     0.1 /* seconds before the first reconnect attempt */
#define PG_BACKOFF_MAX     5.0
#define PG_CONNECT_TIMEOUT "5"             /* seconds, unless the URL says otherwise */
#define PG_MIGRATE_LOCK    "7310582981233" /* advisory lock of the migrations */

#define PG_READER_BACKOFF_MAX 0.5 /* the reader thread's, which tries while idle */
/* A dead peer or network is noticed within about 30 s, unless the URL says otherwise: TCP
 * keepalives on an idle connection, tcp_user_timeout (ms) on unacknowledged data. */
#define PG_KEEPALIVES_IDLE     "10"
#define PG_KEEPALIVES_INTERVAL "5"
#define PG_KEEPALIVES_COUNT    "3"
#define PG_TCP_USER_TIMEOUT    "30000"
/* A read statement runs at most this long, unless the URL sets a statement_timeout. */
#define PG_READ_TIMEOUT "30s"

/* Migration i brings the schema from version i to i + 1, as store_sqlite.c's do for SQLite.
 * Append only. */
static const char *const pg_migrations[] = {
    "CREATE TABLE referrals ("
    " rid bigserial PRIMARY KEY,"
    " id text NOT NULL UNIQUE,"
    " sender text NOT NULL,"
    " sender_holder text NOT NULL,"
    " recipient text NOT NULL,"
    " form text NOT NULL,"
    " form_version bigint NOT NULL,"
    " state integer NOT NULL,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " client_name text);"
    "CREATE TABLE referral_data ("
    " rid bigint PRIMARY KEY REFERENCES referrals (rid),"
    " client bytea,"
    " consent bytea,"
    " form_data bytea);"
    "CREATE INDEX referrals_recipient ON referrals (recipient, rid);"
    "CREATE INDEX referrals_sender ON referrals (sender, rid);"
    "CREATE TABLE history ("
    " referral_rid bigint NOT NULL REFERENCES referrals (rid),"
    " seq bigserial PRIMARY KEY,"
    " from_state integer,"
    " to_state integer NOT NULL,"
    " agency text NOT NULL,"
    " holder text NOT NULL,"
    " at bigint NOT NULL,"
    " reason text);"
    "CREATE INDEX history_referral ON history (referral_rid);",
    /* 2: due times, per-agency events, idempotency keys. event_seqs holds each agency's last
       event number: the writer takes the next one by updating that row, which stays locked to
       its commit, so numbers are gap-free and in commit order even with several writers. */
    "ALTER TABLE referrals ADD COLUMN due_at bigint NOT NULL DEFAULT 0;"
    "ALTER TABLE referrals ADD COLUMN overdue_pending bigint;"
    "CREATE INDEX referrals_overdue_pending ON referrals (overdue_pending)"
    " WHERE overdue_pending IS NOT NULL;"
    "CREATE TABLE events ("
    " agency text NOT NULL,"
    " seq bigint NOT NULL,"
    " referral_rid bigint NOT NULL,"
    " kind integer NOT NULL,"
    " history_seq bigint,"
    " PRIMARY KEY (agency, seq));"
    "CREATE TABLE event_seqs (agency text PRIMARY KEY, last bigint NOT NULL);"
    "CREATE TABLE idempotency ("
    " agency text NOT NULL,"
    " key text NOT NULL,"
    " digest bytea NOT NULL,"
    " referral_id text NOT NULL,"
    " created_at bigint NOT NULL,"
    " PRIMARY KEY (agency, key));"
    "CREATE INDEX idempotency_created ON idempotency (created_at);"
    "CREATE INDEX referrals_open_due ON referrals (due_at) WHERE state IN (1, 2) AND due_at > 0;"
    "CREATE INDEX referrals_open_due_recipient ON referrals (recipient, rid)"
    " WHERE state IN (1, 2) AND due_at > 0;"
    "CREATE INDEX referrals_open_due_sender ON referrals (sender, rid)"
    " WHERE state IN (1, 2) AND due_at > 0;",
    /* 3: per-state counts, kept by a trigger in the transaction of the change (SQLite's
       writer adds new referrals once per batch instead: migration 8 there). */
    "CREATE TABLE state_counts (state integer PRIMARY KEY, n bigint NOT NULL);"
    "CREATE FUNCTION state_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP IN ('UPDATE', 'DELETE') THEN"
    "  UPDATE state_counts SET n = n - 1 WHERE state = OLD.state; END IF;"
    " IF TG_OP IN ('UPDATE', 'INSERT') THEN"
    "  INSERT INTO state_counts (state, n) VALUES (NEW.state, 1)"
    "  ON CONFLICT (state) DO UPDATE SET n = state_counts.n + 1; END IF;"
    " RETURN NULL; END $$;"
    "CREATE TRIGGER state_counts_insert AFTER INSERT OR DELETE ON referrals"
    " FOR EACH ROW EXECUTE FUNCTION state_counts_keep();"
    "CREATE TRIGGER state_counts_update AFTER UPDATE OF state ON referrals"
    " FOR EACH ROW WHEN (OLD.state <> NEW.state) EXECUTE FUNCTION state_counts_keep();",
    /* 4: the audit trail, a hash chain (store_audit.c); audit_tail is the row a writer locks
       to append, so that the chain stays one line with several writers. */
    "CREATE TABLE audit ("
    " seq bigint PRIMARY KEY,"
    " at_ms bigint NOT NULL,"
    " agency text NOT NULL,"
    " holder text NOT NULL,"
    " action text NOT NULL,"
    " record text NOT NULL,"
    " hash bytea NOT NULL);"
    "CREATE INDEX audit_record ON audit (record, seq);"
    "CREATE TABLE audit_tail (one integer PRIMARY KEY CHECK (one = 1));"
    "INSERT INTO audit_tail VALUES (1);",
    /* 5: retention. */
    "ALTER TABLE referrals ADD COLUMN purged_at bigint;"
    "CREATE INDEX referrals_closed ON referrals (updated_at)"
    " WHERE state >= 4 AND purged_at IS NULL;",
    /* 6: onward referral. */
    "ALTER TABLE referrals ADD COLUMN parent_id text;"
    "CREATE INDEX referrals_parent ON referrals (parent_id) WHERE parent_id IS NOT NULL;",
    /* 7: client records, their versions and consents. */
    "CREATE TABLE clients ("
    " cid bigserial PRIMARY KEY,"
    " id text NOT NULL UNIQUE,"
    " owner text NOT NULL,"
    " version bigint NOT NULL,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL,"
    " name text,"
    " dup_key text,"
    " erased_at bigint,"
    " erased_by text,"
    " erase_reason text);"
    "CREATE INDEX clients_owner ON clients (owner, cid);"
    "CREATE INDEX clients_dup ON clients (owner, dup_key) WHERE dup_key IS NOT NULL;"
    "CREATE TABLE client_versions ("
    " cid bigint NOT NULL REFERENCES clients (cid),"
    " version bigint NOT NULL,"
    " record bytea,"
    " created_at bigint NOT NULL,"
    " holder text NOT NULL,"
    " PRIMARY KEY (cid, version));"
    "CREATE TABLE consents ("
    " id text PRIMARY KEY,"
    " cid bigint NOT NULL REFERENCES clients (cid),"
    " to_agency text,"
    " basis integer NOT NULL,"
    " purpose text,"
    " method integer,"
    " reason text,"
    " expires text,"
    " recorded_agency text NOT NULL,"
    " recorded_by text NOT NULL,"
    " recorded_at bigint NOT NULL,"
    " withdrawn_at bigint,"
    " withdrawn_agency text,"
    " withdrawn_by text,"
    " withdraw_reason text);"
    "CREATE INDEX consents_client ON consents (cid);"
    "ALTER TABLE referrals ADD COLUMN client_id text;"
    "ALTER TABLE referrals ADD COLUMN client_version bigint;"
    "CREATE INDEX referrals_client ON referrals (client_id) WHERE client_id IS NOT NULL;",
    /* 8: (SQLite: new referrals counted by the writer) nothing here. */
    "SELECT 1;",
    /* 9: (SQLite: the closed index rebuilt) made as such in 5 here. */
    "SELECT 1;",
    /* 10: clients retention may erase. */
    "CREATE INDEX clients_live ON clients (updated_at) WHERE erased_at IS NULL;",
    /* 11: every form version the hub ever accepted (store_forms.c). */
    "CREATE TABLE form_versions ("
    " form text NOT NULL,"
    " version bigint NOT NULL,"
    " schema bytea NOT NULL,"
    " accepted_at bigint NOT NULL,"
    " retired_at bigint,"
    " PRIMARY KEY (form, version));",
    /* 12: outcomes reporting (store_pg_report.c). */
    store_pg_report_migration,
};

#define PG_VERSION (sizeof(pg_migrations) / sizeof(pg_migrations[0]))

/* Set parameter i (1-based) of p to text t (NULL: SQL NULL). */
void pg_text(struct pg_params *p, int i, const char *t)
{
	p->v[i - 1] = t;
	p->len[i - 1] = 0;
	p->fmt[i - 1] = 0;
	if (i > p->n) {
		p->n = i;
	}
}

/* Set parameter i (1-based) of p to the number v. */
void pg_int(struct pg_params *p, int i, int64_t v)
{
	snprintf(p->num[i - 1], sizeof(p->num[i - 1]), "%lld", (long long)v);
	pg_text(p, i, p->num[i - 1]);
}

/* Set parameter i (1-based) of p to len bytes at b (NULL: SQL NULL). */
void pg_blob(struct pg_params *p, int i, const uint8_t *b, size_t len)
{
	pg_text(p, i, (const char *)b);
	p->len[i - 1] = (int)len;
	p->fmt[i - 1] = 1;
}

/* Run prepared statement prefix<which> on c. */
PGresult *pg_run(PGconn *c, char prefix, int which, const struct pg_params *p)
{
	char name[16];

	snprintf(name, sizeof(name), "%c%d", prefix, which);
	return PQexecPrepared(c, name, p ? p->n : 0, p ? p->v : NULL, p ? p->len : NULL,
	                      p ? p->fmt : NULL, 0);
}

/* Say whether res is a successful command or query result. */
bool pg_ok(const PGresult *res)
{
	ExecStatusType s = PQresultStatus(res);

	return res != NULL && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
}

/* Column j of row i as a number (NULL reads as 0). */
int64_t pg_num(const PGresult *res, int i, int j)
{
	return PQgetisnull(res, i, j) ? 0 : strtoll(PQgetvalue(res, i, j), NULL, 10);
}

/* Copy column j of row i (NULL stays NULL); sets *oom when the copy fails. */
char *pg_str(const PGresult *res, int i, int j, bool *oom)
{
	char *c;

	if (PQgetisnull(res, i, j)) {
		return NULL;
	}
	if ((c = strdup(PQgetvalue(res, i, j))) == NULL) {
		*oom = true;
	}
	return c;
}

/* Decode bytea column j of row i into a new buffer of *len bytes. */
uint8_t *pg_bytes(const PGresult *res, int i, int j, size_t *len, bool *oom)
{
	unsigned char *u, *c;

	*len = 0;
	if (PQgetisnull(res, i, j)) {
		return NULL;
	}
	if ((u = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, j), len)) == NULL ||
	    (c = malloc(*len ? *len : 1)) == NULL) {
		PQfreemem(u);
		*oom = true;
		return NULL;
	}
	memcpy(c, u, *len);
	PQfreemem(u);
	return c;
}

/* Say whether the result failed with SQLSTATE state. */
bool pg_state_is(const PGresult *res, const char *state)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s != NULL && strcmp(s, state) == 0;
}

/* Say whether location names a PostgreSQL database rather than a SQLite file. */
bool store_location_is_url(const char *location)
{
	return location != NULL && (strncmp(location, "postgresql://", 13) == 0 ||
	                            strncmp(location, "postgres://", 11) == 0);
}

/* Return where url's host starts, past its user and password (which end, as libpq reads a
 * URL, at the first '@' before any '/'); NULL when an '@' comes later, before the options: a
 * '/' in the password, which libpq would read as the host and port, showing them in its
 * messages. */
static const char *pg_url_host(const char *url)
{
	const char *rest = strstr(url, "://") + 3;
	size_t user = strcspn(rest, "@/");

	if (rest[user] == '@') {
		return rest + user + 1;
	}
	return memchr(rest, '@', strcspn(rest, "?")) == NULL ? rest : NULL;
}

/* Copy location into out for logs and messages, without what may be secret: a URL keeps its
 * scheme, host, port and database name, losing its user, password and options. */
void store_location_safe(const char *location, char *out, size_t len)
{
	const char *host;

	if (!store_location_is_url(location)) {
		snprintf(out, len, "%s", location ? location : "(null)");
		return;
	}
	if ((host = pg_url_host(location)) == NULL) {
		snprintf(out, len, "postgresql://(not shown: its password may hold a '/')");
		return;
	}
	snprintf(out, len, "postgresql://%.*s", (int)strcspn(host, "?"), host);
}

static int pg_exec_ok(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);
	int ok = pg_ok(res) ? 0 : -1;

	PQclear(res);
	return ok;
}

/* libpq's message for c, on one line. */
static void pg_err(PGconn *c, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", c ? PQerrorMessage(c) : "out of memory");
	err[strcspn(err, "\n")] = '\0';
}

/* Prepare the n statements of sql as prefix<first + i>. */
static int pg_prepare_all(PGconn *c, char prefix, const char *const *sql, int n, int first)
{
	char name[16];

	for (int i = 0; i < n; i++) {
		PGresult *res;
		bool ok;

		snprintf(name, sizeof(name), "%c%d", prefix, first + i);
		res = PQprepare(c, name, sql[i], 0, NULL);
		ok = pg_ok(res);
		PQclear(res);
		if (!ok) {
			return -1;
		}
	}
	return 0;
}

/* Settings and statements of a new connection: durable commits on the writer, read-only reads. */
static int pg_session_init(PGconn *c, bool writer)
{
	if (writer) {
		if (pg_exec_ok(c, "SET synchronous_commit = on") < 0 ||
		    pg_prepare_all(c, 'w', store_pg_wsql, PW_CLIENT_ADD, 0) < 0) {
			return -1;
		}
		if (pg_prepare_all(c, 'w', store_pg_client_wsql, PW_PURGE - PW_CLIENT_ADD,
		                   PW_CLIENT_ADD) < 0) {
			return -1;
		}
		return pg_prepare_all(c, 'w', store_pg_purge_wsql, PW_COUNT - PW_PURGE, PW_PURGE);
	}
	if (pg_exec_ok(c, "SET default_transaction_read_only = on") < 0 ||
	    pg_exec_ok(c, "SELECT set_config('statement_timeout', '" PG_READ_TIMEOUT "', false)"
	                  " WHERE current_setting('statement_timeout') = '0'") < 0) {
		return -1;
	}
	if (pg_prepare_all(c, 'r', store_pg_rsql, PR_CLIENT_GET, 0) < 0) {
		return -1;
	}
	return pg_prepare_all(c, 'r', store_pg_client_rsql, PR_COUNT - PR_CLIENT_GET,
	                      PR_CLIENT_GET);
}

/* Drop the server's notices ("already exists, skipping"): refexd logs its own lines. */
static void pg_notice_quiet(void *arg, const char *message)
{
	(void)arg, (void)message;
}

/* Connect to the database at conninfo; NULL with err (never the URL) if not. */
PGconn *pg_connect(const char *conninfo, char *err, size_t errlen)
{
	/* Keywords before dbname are defaults the URL may override. */
	const char *const keys[] = {"connect_timeout",
	                            "keepalives_idle",
	                            "keepalives_interval",
	                            "keepalives_count",
	                            "tcp_user_timeout",
	                            "application_name",
	                            "dbname",
	                            NULL};
	const char *const vals[] = {PG_CONNECT_TIMEOUT,
	                            PG_KEEPALIVES_IDLE,
	                            PG_KEEPALIVES_INTERVAL,
	                            PG_KEEPALIVES_COUNT,
	                            PG_TCP_USER_TIMEOUT,
	                            "refexd",
	                            conninfo,
	                            NULL};
	PGconn *c;

	if (store_location_is_url(conninfo) && pg_url_host(conninfo) == NULL) {
		snprintf(
		    err, errlen,
		    "the URL's user or password holds a '/' libpq cannot read: write it as %%2F"
		    " (and '@' as %%40)");
		return NULL;
	}
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		pg_err(c, err, errlen);
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, pg_notice_quiet, NULL);
	return c;
}

/* Open the loop thread's reader connection for its first read (refexd reads only on the reader
 * thread, whose view has one of its own, and never opens it); -1 if it cannot. */
static int pg_loop_open(struct store_pg *pg)
{
	char err[256];

	if (pg->url == NULL || (pg->r = pg_connect(pg->url, err, sizeof(err))) == NULL) {
		return -1;
	}
	if (pg_session_init(pg->r, false) < 0) {
		PQfinish(pg->r);
		pg->r = NULL;
		return -1;
	}
	pg_cancel_keep(&pg->r_cancel, pg->r);
	return 0;
}

/* Make sure the writer (or reader) is connected, reconnecting after a backoff; -1 if not. The
 * loss and the reconnection are logged once each. */
int pg_ready(struct store_pg *pg, bool writer)
{
	PGconn *c = writer ? pg->w : pg->r;
	double *next = writer ? &pg->w_next_try : &pg->r_next_try;
	double *backoff = writer ? &pg->w_backoff : &pg->r_backoff;
	bool *lost = writer ? &pg->w_lost : &pg->r_lost;
	const char *which = writer ? "writer" : "reader";
	double now;

	if (PQstatus(c) == CONNECTION_OK) {
		return 0;
	}
	if (c == NULL) {
		return pg_loop_open(pg);
	}
	if (!*lost) {
		*lost = true;
		log_error(
		    "msg=\"database connection lost\" connection=%s hint=\"what needs the"
		    " database is refused (UNAVAILABLE) until refexd has reconnected, which it"
		    " tries by itself\"",
		    which);
	}
	if ((now = metrics_now()) < *next) {
		return -1;
	}
	PQreset(c);
	pg_cancel_keep(writer ? &pg->w_cancel : &pg->r_cancel, c);
	if (PQstatus(c) == CONNECTION_OK && pg_session_init(c, writer) == 0) {
		*backoff = PG_BACKOFF_MIN;
		*lost = false;
		log_notice("msg=\"database reconnected\" connection=%s", which);
		return 0;
	}
	*next = now + *backoff;
	*backoff = *backoff * 2 < PG_BACKOFF_MAX ? *backoff * 2 : PG_BACKOFF_MAX;
	return -1;
}

/* Bring the schema up to PG_VERSION in one transaction (the schema table locked, so two hubs
 * starting together migrate one after the other); refuse a newer one. */
static int pg_migrate(PGconn *c, char *err, size_t errlen)
{
	PGresult *res = NULL;
	long long version = -1;
	char sql[96];

	/* The advisory lock first: two hubs creating refex_schema at once collide even with
	 * IF NOT EXISTS. */
	if (pg_exec_ok(c, "BEGIN") < 0 ||
	    pg_exec_ok(c, "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")") < 0 ||
	    pg_exec_ok(c, "CREATE TABLE IF NOT EXISTS refex_schema (version integer NOT NULL)") <
	        0 ||
	    pg_exec_ok(c, "LOCK TABLE refex_schema IN EXCLUSIVE MODE") < 0 ||
	    !pg_ok(res = PQexec(c, "SELECT version FROM refex_schema"))) {
		goto fail;
	}
	version = PQntuples(res) > 0 ? pg_num(res, 0, 0) : 0;
	if (PQntuples(res) == 0 && pg_exec_ok(c, "INSERT INTO refex_schema VALUES (0)") < 0) {
		goto fail;
	}
	if (version < 0 || (unsigned long long)version > PG_VERSION) {
		PQclear(res);
		pg_exec_ok(c, "ROLLBACK");
		snprintf(err, errlen,
		         "the database schema is version %lld, newer than this refexd knows (%zu); "
		         "run a newer refexd",
		         version, PG_VERSION);
		return -1;
	}
	for (size_t v = (size_t)version; v < PG_VERSION; v++) {
		if (pg_exec_ok(c, pg_migrations[v]) < 0) {
			goto fail;
		}
	}
	snprintf(sql, sizeof(sql), "UPDATE refex_schema SET version = %zu", PG_VERSION);
	if (pg_exec_ok(c, sql) < 0 || pg_exec_ok(c, "COMMIT") < 0) {
		goto fail;
	}
	PQclear(res);
	return 0;
fail:
	pg_err(c, err, errlen);
	PQclear(res);
	pg_exec_ok(c, "ROLLBACK");
	return -1;
}

/* Connect the writer to the database at url, migrate, prepare (the reader thread connects its
 * own, store_pg_reader_open). */
static int store_pg_open(struct store *st, const char *url, char *err, size_t errlen)
{
	struct store_pg *pg = calloc(1, sizeof(*pg));

	if ((st->pg = pg) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pg_cancel_init(&pg->w_cancel);
	pg_cancel_init(&pg->r_cancel);
	pg->w_backoff = pg->r_backoff = PG_BACKOFF_MIN;
	if ((pg->url = strdup(url)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((pg->w = pg_connect(url, err, errlen)) == NULL || pg_migrate(pg->w, err, errlen) < 0) {
		return -1;
	}
	if (pg_session_init(pg->w, true) < 0) {
		snprintf(err, errlen, "cannot prepare statements: %s", PQerrorMessage(pg->w));
		err[strcspn(err, "\n")] = '\0';
		return -1;
	}
	pg_cancel_keep(&pg->w_cancel, pg->w);
	return store_pg_vacuum_start(pg, url, err, errlen);
}

/* Close what store_pg_open made (a half-opened store too). */
static void store_pg_close(struct store *st)
{
	if (st->pg == NULL) {
		return;
	}
	store_pg_vacuum_stop(st->pg);
	PQfinish(st->pg->w);
	PQfinish(st->pg->r);
	pg_cancel_free(&st->pg->w_cancel);
	pg_cancel_free(&st->pg->r_cancel);
	free(st->pg->url);
	EVP_MD_CTX_free(st->pg->audit_ctx);
	EVP_MD_free(st->pg->audit_md);
	free(st->pg);
	st->pg = NULL;
}

/* Start or end cancelling what the writer and the reader thread run (store_backend.h). */
static bool store_pg_cancel(struct store *st, bool on)
{
	struct store_pg *pg = st->pg;
	struct pg_cancel *slots[] = {&pg->w_cancel, st->reader_view ? &st->reader_view->pg->r_cancel
	                                                            : &pg->r_cancel};
	bool ended;

	if (on) {
		pg->canceller = pg_canceller_start(slots, sizeof(slots) / sizeof(slots[0]));
		return pg->canceller != NULL;
	}
	ended = pg_canceller_stop(pg->canceller);
	pg->canceller = NULL;
	return ended;
}

/* The reader thread's view of the store: a reader connection of its own (pg.r), and the state
 * of a reconnection under way, which the thread advances a step at a time so that it can answer
 * the reads queued meanwhile. */
struct pg_reader {
	struct store view;
	struct store_pg pg;
	bool resetting;               /* PQresetStart was called; PQresetPoll goes on */
	PostgresPollingStatusType at; /* what the reset waits for */
	double deadline;              /* metrics_now() after which the reset has failed */
};

#define PG_READER_STEP_MS 50 /* the longest a reconnection step waits */

/* Make the reader thread's view of the store: a reader connection of its own. */
static int store_pg_reader_open(struct store *st, const char *url, struct store **view, char *err,
                                size_t errlen)
{
	struct pg_reader *rd = calloc(1, sizeof(*rd));

	if (rd == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*view = &rd->view;
	rd->view.be = st->be;
	rd->view.pg = &rd->pg;
	rd->pg.r_backoff = PG_BACKOFF_MIN;
	pg_cancel_init(&rd->pg.r_cancel);
	if ((rd->pg.r = pg_connect(url, err, errlen)) == NULL) {
		return -1;
	}
	if (pg_session_init(rd->pg.r, false) < 0) {
		pg_err(rd->pg.r, err, errlen);
		return -1;
	}
	pg_cancel_keep(&rd->pg.r_cancel, rd->pg.r);
	return 0;
}

static struct pg_reader *pg_reader_of(struct store *view)
{
	return (struct pg_reader *)((char *)view - offsetof(struct pg_reader, view));
}

/* Close the reader thread's view (NULL, or half made, is fine). */
static void store_pg_reader_close(struct store *view)
{
	if (view != NULL) {
		PQfinish(view->pg->r);
		pg_cancel_free(&view->pg->r_cancel);
		free(pg_reader_of(view));
	}
}

/* Say whether the reader thread's connection is lost. */
static bool store_pg_reader_lost(struct store *view)
{
	return PQstatus(view->pg->r) != CONNECTION_OK;
}

/* The reconnection failed: try again after the backoff (which grows only to
 * PG_READER_BACKOFF_MAX: the reader heals soon after the database is back). */
static int pg_reader_failed(struct pg_reader *rd)
{
	struct store_pg *pg = &rd->pg;

	rd->resetting = false;
	pg->r_next_try = metrics_now() + pg->r_backoff;
	pg->r_backoff =
	    pg->r_backoff * 2 < PG_READER_BACKOFF_MAX ? pg->r_backoff * 2 : PG_READER_BACKOFF_MAX;
	return -1;
}

/* Start reconnecting, now or once the backoff has passed; -1 if not started. */
static int pg_reader_start(struct pg_reader *rd, bool now)
{
	struct store_pg *pg = &rd->pg;

	if (!pg->r_lost) {
		pg->r_lost = true;
		log_error(
		    "msg=\"database connection lost\" connection=reader hint=\"reads are refused"
		    " (UNAVAILABLE) until refexd has reconnected, which it tries by itself\"");
	}
	if (!now && metrics_now() < pg->r_next_try) {
		return -1;
	}
	if (!PQresetStart(pg->r)) {
		return pg_reader_failed(rd);
	}
	rd->resetting = true;
	rd->at = PGRES_POLLING_WRITING;
	rd->deadline = metrics_now() + atof(PG_CONNECT_TIMEOUT);
	return 0;
}

/* Advance the reader thread's reconnection by one step of at most PG_READER_STEP_MS, starting it
 * now or once its backoff has passed: 0 connected, 1 under way, -1 not (yet). */
static int store_pg_reader_reconnect(struct store *view, bool now)
{
	struct pg_reader *rd = pg_reader_of(view);
	struct pollfd p;

	if (!rd->resetting && pg_reader_start(rd, now) < 0) {
		return -1;
	}
	/* Only now: PQresetStart, and each PQresetPoll, may have opened another socket. */
	p.fd = PQsocket(rd->pg.r);
	p.events = rd->at == PGRES_POLLING_READING ? POLLIN : POLLOUT;
	if (poll(&p, 1, PG_READER_STEP_MS) == 0) {
		return metrics_now() < rd->deadline ? 1 : pg_reader_failed(rd);
	}
	switch (rd->at = PQresetPoll(rd->pg.r)) {
	case PGRES_POLLING_OK:
		rd->resetting = false;
		if (pg_session_init(rd->pg.r, false) < 0) {
			return pg_reader_failed(rd);
		}
		pg_cancel_keep(&rd->pg.r_cancel, rd->pg.r);
		rd->pg.r_backoff = PG_BACKOFF_MIN;
		rd->pg.r_lost = false;
		log_notice("msg=\"database reconnected\" connection=reader");
		return 0;
	case PGRES_POLLING_FAILED:
		return pg_reader_failed(rd);
	default:
		return metrics_now() < rd->deadline ? 1 : pg_reader_failed(rd);
	}
}

/* Read the schema version of the database c is connected to (0: none yet) into *version. */
static int pg_schema_version(PGconn *c, long long *version)
{
	PGresult *res = PQexec(c, "SELECT CASE WHEN to_regclass('refex_schema') IS NULL THEN 0"
	                          " ELSE (SELECT coalesce(max(version), 0) FROM refex_schema) END");
	int ok = pg_ok(res) && PQntuples(res) == 1 ? 0 : -1;

	*version = ok == 0 ? pg_num(res, 0, 0) : 0;
	PQclear(res);
	return ok;
}

/* Connect to the database at url read-only and check its schema is one this refexd can run
 * (refexd --check-config): -1 with err (never the URL) if not. Changes nothing. */
int store_pg_check(const char *url, char *err, size_t errlen)
{
	PGconn *c = pg_connect(url, err, errlen);
	long long version = 0;
	int rc = -1;

	if (c == NULL) {
		return -1;
	}
	if (pg_schema_version(c, &version) < 0) {
		pg_err(c, err, errlen);
	} else if (version > (long long)PG_VERSION) {
		snprintf(err, errlen,
		         "the database schema is version %lld, newer than this refexd knows (%zu); "
		         "run a newer refexd",
		         version, PG_VERSION);
	} else {
		rc = 0;
	}
	PQfinish(c);
	return rc;
}

/* Read the form versions kept by the database at url (none if it has no schema yet). */
int store_pg_form_versions_at(const char *url, struct store_form_version **out, size_t *n,
                              char *err, size_t errlen)
{
	PGconn *c = pg_connect(url, err, errlen);
	PGresult *res = NULL;
	long long version = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (c == NULL) {
		return -1;
	}
	if (pg_schema_version(c, &version) == 0 && version < 11) {
		rc = 0; /* no form_versions table yet: nothing is kept */
	} else if (pg_ok(res = PQexec(c, PG_FORMS_SQL))) {
		if ((rc = pg_forms_from_result(res, out, n)) < 0) {
			snprintf(err, errlen, "out of memory");
		}
	} else {
		pg_err(c, err, errlen);
	}
	PQclear(res);
	PQfinish(c);
	return rc;
}

/* ---- the transaction (store_backend.h), on the storage thread ---- */

static int pg_tx(struct store *st, const char *sql)
{
	return pg_exec_ok(st->pg->w, sql);
}

/* Start a batch's transaction, reconnecting first if the connection was lost. */
static int store_pg_begin(struct store *st)
{
	st->pg->audit_known = false;
	if (pg_ready(st->pg, true) < 0) {
		return -1;
	}
	return pg_tx(st, "BEGIN");
}

/* Commit: durable once it returns (synchronous_commit = on). */
static int store_pg_commit(struct store *st)
{
	return pg_tx(st, "COMMIT");
}

/* Roll back what is still open; return why it failed. */
static int store_pg_rollback(struct store *st)
{
	int code = PQstatus(st->pg->w) != CONNECTION_OK ? PG_FAIL_CONNECTION : PG_FAIL_QUERY;

	if (PQstatus(st->pg->w) == CONNECTION_OK &&
	    PQtransactionStatus(st->pg->w) != PQTRANS_IDLE) {
		pg_tx(st, "ROLLBACK");
	}
	st->pg->audit_known = false;
	return code;
}

/* Open a savepoint for one job. */
static int store_pg_save(struct store *st)
{
	return pg_tx(st, "SAVEPOINT job");
}

/* A job failed: PostgreSQL ends the transaction on any failed statement, so roll back to the
 * savepoint whether or not the job wrote. */
static int store_pg_undo(struct store *st, bool partial)
{
	(void)partial;
	st->pg->audit_known = false;
	return pg_tx(st, "ROLLBACK TO SAVEPOINT job");
}

/* Release the job's savepoint. */
static int store_pg_release(struct store *st)
{
	return pg_tx(st, "RELEASE SAVEPOINT job");
}

/* Say whether the transaction can no longer commit (a failed statement, a lost connection). */
static bool store_pg_aborted(struct store *st)
{
	return PQstatus(st->pg->w) != CONNECTION_OK ||
	       PQtransactionStatus(st->pg->w) != PQTRANS_INTRANS;
}

/* Have the erased rows' old versions vacuumed away, off this thread (store_pg_vacuum.c); the
 * server recycles its WAL by itself (docs/STORAGE.md). */
static void store_pg_scrub(struct store *st)
{
	store_pg_vacuum_request(st->pg);
}

static const char *store_pg_errstr(int code)
{
	switch (code) {
	case PG_FAIL_CONNECTION:
		return "the connection to the database is lost";
	case PG_FAIL_QUERY:
		return "a database statement failed";
	default:
		return "no error";
	}
}

/* The PostgreSQL backend: a writer connection on the storage thread, a reader on the reader
 * thread. */
const struct store_backend store_pg_backend = {
    .name = "postgresql",
    .open = store_pg_open,
    .close = store_pg_close,
    .begin = store_pg_begin,
    .commit = store_pg_commit,
    .rollback = store_pg_rollback,
    .save = store_pg_save,
    .undo = store_pg_undo,
    .release = store_pg_release,
    .aborted = store_pg_aborted,
    .scrub = store_pg_scrub,
    .errstr = store_pg_errstr,
    .cancel = store_pg_cancel,
    .stmts = &store_pg_stmts,
    .write =
        {
            .audit = store_pg_audit,
            .purge = store_pg_purge,
            .client = store_pg_client,
        },
    .read =
        {
            .get = store_pg_get,
            .list = store_pg_list,
            .events = store_pg_events,
            .event_range = store_pg_event_range,
            .sender_of = store_pg_sender_of,
            .next_due = store_pg_next_due,
            .idem_find = store_pg_idem_find,
            .count_states = store_pg_count_states,
            .purge_due = store_pg_purge_due,
            .audit_list = store_pg_audit_list,
            .form_versions = store_pg_form_versions,
            .client_get = store_pg_client_get,
            .client_list = store_pg_client_list,
            .consent_list = store_pg_consent_list,
            .report_read = store_pg_report_read,
        },
    .reader =
        {
            .open = store_pg_reader_open,
            .close = store_pg_reader_close,
            .lost = store_pg_reader_lost,
            .reconnect = store_pg_reader_reconnect,
        },
};
