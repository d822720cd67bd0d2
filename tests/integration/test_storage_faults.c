/* A full or failing disk: submissions and changes are refused with UNAVAILABLE, nothing
 * acknowledged is lost, reads keep working, and writes resume once the disk does. refexd-faults
 * (tests/crash/fault_vfs.c) fails SQLite's writes or syncs while a switch file exists. On
 * PostgreSQL (REFEX_STORE_BACKEND=postgresql) the test adds a trigger that fails every commit, or
 * a statement in the middle of each write, and kills the hub's connections under load. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_web.h"

typedef Refex__StatusCode code_t;

static struct net *net;
static const char *north; /* sends housing referrals */
static const char *east;  /* receives them */
static char fault_switch[NET_PATH_MAX + 16];

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Jones");
	snprintf(fault_switch, sizeof(fault_switch), "%s/fault", net->dir);
	/* Inherited by refexd-faults through net_start; refexd proper ignores both. */
	if (!net_on_postgresql()) {
		setenv("REFEX_IT_REFEXD", REFEXD_FAULTS_PATH, 1);
		setenv("REFEX_FAULT_SWITCH", fault_switch, 1);
	}
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(storage_faults, .init = setup, .fini = teardown, .timeout = 120);

/* On PostgreSQL: a trigger on events (which every submission and change writes after its
 * referral's row) that fails the statement ("statement") or, deferred, the commit. */
static void pg_fault_set(const char *mode)
{
	net_pg_exec(net, "DROP TRIGGER IF EXISTS refex_fault ON events");
	if (mode == NULL) {
		return;
	}
	net_pg_exec(net, "CREATE OR REPLACE FUNCTION refex_fault() RETURNS trigger LANGUAGE plpgsql"
	                 " AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$");
	net_pg_exec(net, strcmp(mode, "statement") == 0
	                     ? "CREATE TRIGGER refex_fault AFTER INSERT ON events FOR EACH ROW"
	                       " EXECUTE FUNCTION refex_fault()"
	                     : "CREATE CONSTRAINT TRIGGER refex_fault AFTER INSERT ON events"
	                       " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
	                       " EXECUTE FUNCTION refex_fault()");
}

/* Turn the fault on (mode: full, ioerr, fsync; on PostgreSQL commit or statement) or off
 * (NULL). */
static void fault_set(const char *mode)
{
	char *path;

	if (net_on_postgresql()) {
		pg_fault_set(mode);
		return;
	}
	if (mode == NULL) {
		cr_assert(unlink(fault_switch) == 0 || errno == ENOENT);
		return;
	}
	cr_assert_not_null(path = net_write_file(net, "fault", mode));
	free(path);
}

static struct raw *connect_as(const char *who)
{
	struct raw *c = raw_connect(net, who, NULL);

	cr_assert(c != NULL && raw_hello(c) == 0, "cannot connect and say hello");
	return c;
}

/* Send req and return its status code; a referral in the reply is copied to id (if given). */
static code_t call(struct raw *c, const Refex__Request *req, char id[REFEX_ID_LEN + 1])
{
	Refex__ServerMessage *m = raw_call(c, req);
	code_t code;

	cr_assert(m != NULL && m->response->status != NULL, "no answer to request %llu",
	          (unsigned long long)req->id);
	code = m->response->status->code;
	if (id != NULL && m->response->body_case == REFEX__RESPONSE__BODY_REFERRAL) {
		snprintf(id, REFEX_ID_LEN + 1, "%s", m->response->referral->id);
	}
	refex__server_message__free_unpacked(m, NULL);
	return code;
}

/* Submit a housing referral from north (key: idempotency key or NULL). */
static code_t submit(struct raw *c, uint64_t rq, const char *key, char id[REFEX_ID_LEN + 1])
{
	struct raw_submit s;

	raw_submit_init(&s, rq, "Robin");
	s.req.idempotency_key = (char *)key;
	return call(c, &s.req, id);
}

static code_t get(struct raw *c, uint64_t rq, const char *id)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetReferral g = REFEX__GET_REFERRAL__INIT;

	g.id = (char *)id;
	req.has_id = 1;
	req.id = rq;
	req.body_case = REFEX__REQUEST__BODY_GET;
	req.get = &g;
	return call(c, &req, NULL);
}

static code_t accept_referral(struct raw *c, uint64_t rq, const char *id)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__UpdateStatus u = REFEX__UPDATE_STATUS__INIT;

	u.id = (char *)id;
	u.has_action = 1;
	u.action = REFEX__ACTION__ACTION_ACCEPT;
	req.has_id = 1;
	req.id = rq;
	req.body_case = REFEX__REQUEST__BODY_UPDATE;
	req.update = &u;
	return call(c, &req, NULL);
}

/* Read the answers to n requests sent at once (ids first on): how many were refused with
 * UNAVAILABLE (the others acknowledged); refused_at (unless NULL) marks which. */
static size_t burst_read_refused(struct raw *c, uint64_t first, size_t n, bool *refused_at)
{
	size_t refused = 0;

	for (size_t i = 0; i < n; i++) {
		Refex__ServerMessage *m = raw_read_message(c, HARNESS_READ_TIMEOUT_MS);

		cr_assert(m != NULL && m->body_case == REFEX__SERVER_MESSAGE__BODY_RESPONSE &&
		          m->response->status != NULL);
		refused += m->response->status->code == REFEX__STATUS_CODE__STATUS_UNAVAILABLE;
		if (refused_at != NULL && m->response->id - first < n) {
			refused_at[m->response->id - first] =
			    m->response->status->code == REFEX__STATUS_CODE__STATUS_UNAVAILABLE;
		}
		cr_expect(m->response->status->code == REFEX__STATUS_CODE__STATUS_OK ||
		              m->response->status->code == REFEX__STATUS_CODE__STATUS_UNAVAILABLE,
		          "answered %d", (int)m->response->status->code);
		refex__server_message__free_unpacked(m, NULL);
	}
	return refused;
}

/* Send n submissions at once (so they share group commits) and return how many were refused
 * with UNAVAILABLE. */
static size_t burst_refused(struct raw *c, uint64_t first, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct raw_submit s;

		raw_submit_init(&s, first + i, "Robin");
		cr_assert_eq(raw_send_request(c, &s.req), 0);
	}
	return burst_read_refused(c, first, n, NULL);
}

/* With refexd stopped: the database passes SQLite's integrity check; on PostgreSQL, nothing is
 * half written (every referral has its details, its sender's first event and its count; no
 * event names a referral that is not there). */
static void expect_database_intact(void)
{
	char path[NET_PATH_MAX + 16];
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;

	if (net_on_postgresql()) {
		cr_expect(
		    net_pg_query_true(
		        net,
		        "SELECT (SELECT count(*) FROM referrals)"
		        " = (SELECT count(*) FROM referral_data)"
		        " AND (SELECT count(*) FROM referrals) = (SELECT coalesce(sum(n), 0)"
		        " FROM state_counts) AND NOT EXISTS (SELECT 1 FROM referrals r"
		        " WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.referral_rid = r.rid"
		        " AND e.agency = r.sender)) AND NOT EXISTS (SELECT 1 FROM events e"
		        " WHERE NOT EXISTS (SELECT 1 FROM referrals r"
		        " WHERE r.rid = e.referral_rid))"),
		    "something is half written");
		return;
	}

	snprintf(path, sizeof(path), "%s/refex.db", net->dir);
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_expect_str_eq((const char *)sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void expect_log(const char *text, bool present)
{
	char *log = net_read_log(net);

	cr_expect_eq(strstr(log, text) != NULL, present, "the log %s \"%s\":\n%s",
	             present ? "lacks" : "has", text, log);
	free(log);
}

/* The whole story of one kind of fault, on one connection per agency. */
static void refused_then_resumed(const char *mode, const char *error_name)
{
	char a[REFEX_ID_LEN + 1], b[REFEX_ID_LEN + 1], c_id[REFEX_ID_LEN + 1] = "";
	char e[REFEX_ID_LEN + 1];
	struct raw *n = connect_as(north), *h = connect_as(east);
	const code_t ok = REFEX__STATUS_CODE__STATUS_OK;
	const code_t unavailable = REFEX__STATUS_CODE__STATUS_UNAVAILABLE;

	cr_assert_eq(submit(n, 1, NULL, a), ok);
	cr_assert_eq(submit(n, 2, "before-the-fault", b), ok);
	cr_assert_eq(get(h, 3, b), ok, "east receives b");

	fault_set(mode);
	cr_expect_eq(submit(n, 10, "during-the-fault", c_id), unavailable);
	cr_expect_eq(submit(n, 11, NULL, NULL), unavailable);
	cr_expect_eq(accept_referral(h, 12, b), unavailable, "a change is refused too");
	cr_expect_eq(burst_refused(n, 100, 32), 32, "a whole group commit is refused");
	/* Reads are served from their own connection: the sender's, and the recipient's first
	 * read (whose receipt cannot be recorded yet). */
	cr_expect_eq(get(n, 13, a), ok);
	cr_expect_eq(get(h, 14, a), ok, "the recipient can read a new referral");
	cr_expect_eq(raw_count_sent(n, 15), 2);
	cr_expect_eq(submit(n, 16, "before-the-fault", NULL), ok,
	             "a repeat of an acknowledged key is answered from the store");
	if (error_name != NULL) { /* NULL: the batches commit, without the refused writes */
		expect_log("msg=\"storage failing\"", true);
		expect_log(error_name, true);
	}

	fault_set(NULL);
	cr_expect_eq(submit(n, 20, "during-the-fault", c_id), ok, "the refused key works now");
	cr_expect_eq(submit(n, 21, NULL, e), ok);
	cr_expect_eq(accept_referral(h, 22, b), ok);
	cr_expect_eq(get(h, 23, a), ok);
	cr_expect_eq(raw_count_sent(n, 24), 4);
	expect_log("msg=\"storage recovered\"", error_name != NULL);
	expect_log("Robin", false); /* no personal data, even in trouble */
	expect_log("Priya", false);
	raw_free(n);
	raw_free(h);

	net_expect_clean_stop(net);
	expect_database_intact();
	net_must_start(net);
	n = connect_as(north);
	cr_expect_eq(raw_count_sent(n, 30), 4,
	             "what was acknowledged is all there after a restart");
	cr_expect_eq(get(n, 31, c_id), ok);
	cr_expect_eq(get(n, 32, e), ok);
	raw_free(n);
}

/* Skip a test of SQLite's files on PostgreSQL, or one of PostgreSQL's on SQLite. */
static void only_on(bool postgresql)
{
	if (net_on_postgresql() != postgresql) {
		cr_skip_test("a fault of the other backend");
	}
}

Test(storage_faults, disk_full_refuses_writes_serves_reads_and_recovers)
{
	only_on(false);
	refused_then_resumed("full", "disk is full");
}

Test(storage_faults, write_errors_refuse_writes_serve_reads_and_recover)
{
	only_on(false);
	refused_then_resumed("ioerr", "disk I/O error");
}

Test(storage_faults, fsync_errors_refuse_writes_serve_reads_and_recover)
{
	only_on(false);
	refused_then_resumed("fsync", "disk I/O error");
}

Test(storage_faults, a_failing_commit_refuses_writes_serves_reads_and_recovers)
{
	only_on(true);
	refused_then_resumed("commit", "a database statement failed");
}

Test(storage_faults, a_statement_failing_mid_write_refuses_it_and_writes_nothing_of_it)
{
	only_on(true);
	refused_then_resumed("statement", NULL);
}

/* Under a burst of submissions (each with its idempotency key), the hub's database connections
 * are killed: nothing is half written, the next writes are served on new connections, and a
 * retry of each refused submission with its key stores it once (a connection lost during COMMIT
 * cannot tell whether the commit happened: the key answers with the first outcome). */
Test(storage_faults, killed_database_connections_lose_nothing_acknowledged)
{
	enum { BURST = 64 };
	bool refused_at[BURST] = {false};
	struct raw_submit s;
	struct raw *n;
	char key[BURST][16];
	size_t refused = 0;
	int stored;

	only_on(true);
	n = connect_as(north);
	cr_assert_eq(submit(n, 1, NULL, NULL), REFEX__STATUS_CODE__STATUS_OK);
	for (size_t i = 0; i < BURST; i++) {
		snprintf(key[i], sizeof(key[i]), "burst-%zu", i);
		raw_submit_init(&s, 100 + i, "Robin");
		s.req.idempotency_key = key[i];
		cr_assert_eq(raw_send_request(n, &s.req), 0);
	}
	cr_assert(net_pg_query_true(net,
	                            "SELECT coalesce(bool_and(pg_terminate_backend(pid)), false)"
	                            " FROM pg_stat_activity WHERE datname = current_database()"
	                            " AND pid <> pg_backend_pid()"),
	          "no connection of the hub's to kill");
	refused = burst_read_refused(n, 100, BURST, refused_at);
	cr_expect_eq(submit(n, 2, NULL, NULL), REFEX__STATUS_CODE__STATUS_OK,
	             "the next write is served");
	for (size_t i = 0; i < BURST; i++) {
		if (refused_at[i]) {
			cr_expect_eq(submit(n, 200 + i, key[i], NULL),
			             REFEX__STATUS_CODE__STATUS_OK, "the retry of %s", key[i]);
		}
	}
	/* The first read on a killed reader connection is refused (UNAVAILABLE); the next one
	 * reconnects (docs/STORAGE.md). */
	for (int tries = 0; (stored = raw_count_sent(n, 3 + (uint64_t)tries)) < 0 && tries < 3;
	     tries++) {
	}
	cr_expect_eq(stored, 2 + BURST, "%d stored, %zu refused and retried", stored, refused);
	raw_free(n);
	net_expect_clean_stop(net);
	expect_database_intact();
}

/*
 * A sync that fails may leave a whole transaction in the WAL; if refexd dies before its next
 * commit overwrites it, the refused write can reappear after the restart. What a client must
 * see is the idempotency key doing its job: the retry returns one referral, never two.
 */
Test(storage_faults, a_crash_after_a_failed_sync_keeps_retries_exactly_once)
{
	char kept[REFEX_ID_LEN + 1] = "", first[REFEX_ID_LEN + 1] = "";
	char again[REFEX_ID_LEN + 1] = "";
	struct raw *n = connect_as(north);
	int status;

	cr_assert_eq(submit(n, 1, "kept", kept), REFEX__STATUS_CODE__STATUS_OK);
	fault_set("fsync");
	cr_assert_eq(submit(n, 2, "retried", NULL), REFEX__STATUS_CODE__STATUS_UNAVAILABLE);
	raw_free(n);
	cr_assert_eq(kill(net->pid, SIGKILL), 0);
	cr_assert_eq(waitpid(net->pid, &status, 0), net->pid);
	net->pid = 0;
	fault_set(NULL);
	expect_database_intact();

	net_must_start(net);
	n = connect_as(north);
	cr_expect_eq(submit(n, 3, "retried", first), REFEX__STATUS_CODE__STATUS_OK);
	cr_expect_eq(submit(n, 4, "retried", again), REFEX__STATUS_CODE__STATUS_OK);
	cr_expect_str_eq(first, again, "the retry and its repeat name the same referral");
	cr_expect_eq(raw_count_sent(n, 5), 2, "one referral kept, one retried: two in all");
	raw_free(n);
}

/* The hub got each attempt and refused it (UNAVAILABLE): refex cannot know for sure that none
 * was stored (see the test above), so it hands over the key to find out with. */
Test(storage_faults, refex_gives_the_key_when_every_attempt_reached_the_hub)
{
	char first[REFEX_ID_LEN + 1];
	struct run_result r;

	submit_housing(net, north, FIXTURE("housing.json"), first); /* the store is open and well */
	fault_set("full");
	run_refex(&r, net, north, "submit", "--to", "eastside-housing", "--form", "housing_support",
	          "--client", FIXTURE("client.json"), "--consent", FIXTURE("consent.json"),
	          "--data", FIXTURE("housing.json"), "--idempotency-key", "submit-while-full",
	          NULL);
	fault_set(NULL);
	cr_expect_eq(r.status, 3, "refex submit exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "gave up after 4 attempts; the hub may or may not have done it"),
	          "%s", r.err);
	cr_expect(strstr(r.err, "--idempotency-key submit-while-full"), "%s", r.err);
	cr_expect(strstr(r.err, "never reached the hub") == NULL, "%s", r.err);
	run_result_free(&r);
}

Test(storage_faults, a_full_disk_is_503_over_https)
{
	char *body = web_submit_body("Amira"), *other = web_submit_body("Bilal");
	struct web_reply w;

	cr_assert_eq(net_stop(net), 0);
	cr_assert_eq(net_write_config(net, NET_DEFAULT_AGENCIES "\n[web]\nlisten = 127.0.0.1:0\n"),
	             0);
	net_must_start(net);
	web_op(&w, net, north, "submit", body); /* the store is open and well */
	cr_assert_eq(w.status, 200, "%s", w.body);
	web_reply_free(&w);
	fault_set("full");
	web_op(&w, net, north, "submit", other);
	fault_set(NULL);
	cr_expect_eq(w.status, 503, "a submit on a full disk answered %d: %s", w.status, w.body);
	cr_expect_str_eq(json_string_value(json_object_get(w.json, "code")), "STATUS_UNAVAILABLE");
	web_reply_free(&w);
	web_op(&w, net, north, "submit", other);
	cr_expect_eq(w.status, 200, "and once the disk has room again, 200: %s", w.body);
	web_reply_free(&w);
	free(body);
	free(other);
}
