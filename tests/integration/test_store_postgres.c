/* A hub on PostgreSQL whose database goes away under load: writes are refused with UNAVAILABLE
 * while it is down, nothing acknowledged is lost, and writes and reads resume by themselves once
 * it is back; while it hangs, what reads (a change too) is refused in order and the loop goes on.
 * Runs only on PostgreSQL (REFEX_STORE_BACKEND=postgresql, tests/pg/with-postgres). */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_bg.h"

#define LOAD 4 /* submissions in flight when the database stops */

static struct net *net;
static const char *north; /* north-advice: refers clients on */
static const char *east;  /* eastside-housing: receives housing referrals */

static void setup(void)
{
	if (!net_on_postgresql()) {
		return;
	}
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Jones");
	net_must_start(net);
	/* It listens before it opens the database: the test stops the database under an open hub.
	 */
	cr_assert(net_log_wait(net, "msg=started"));
}

static void teardown(void)
{
	if (net_on_postgresql()) {
		net_pg_server_signal(SIGCONT); /* a test that failed while the server hung */
	}
	net_teardown(net);
	net = NULL;
}

TestSuite(postgres, .init = setup, .fini = teardown, .timeout = 180);

/* Start a submission in the background. */
static struct bg *submit_bg(void)
{
	return bg_refex(net, NULL, north, "submit", "--to", "eastside-housing", "--form",
	                "housing_support", "--client", FIXTURE("client.json"), "--data",
	                FIXTURE("housing.json"), "--consent", FIXTURE("consent.json"), NULL);
}

/* Expect refex sent --json as north-advice to list id. */
static void expect_sent_lists(const char *id)
{
	struct run_result r;

	run_refex(&r, net, north, "sent", "--json", NULL);
	cr_assert_eq(r.status, 0, "refex sent exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, id) != NULL, "acknowledged referral %s is not listed:\n%s", id,
	          r.out);
	run_result_free(&r);
}

Test(postgres, writes_are_refused_while_the_database_is_stopped_then_resume)
{
	struct bg *load[LOAD];
	char *acked[LOAD] = {NULL}, id[REFEX_ID_LEN + 1];
	struct run_result r;

	if (!net_on_postgresql()) {
		cr_skip_test("the hub runs on SQLite here");
	}
	for (int i = 0; i < LOAD; i++) {
		load[i] = submit_bg();
	}
	net_pg_server_stop();

	/* Down: a submission is refused as unavailable, after refex's own retries. */
	run_refex(&r, net, north, "submit", "--to", "eastside-housing", "--form", "housing_support",
	          "--client", FIXTURE("client.json"), "--data", FIXTURE("housing.json"),
	          "--consent", FIXTURE("consent.json"), NULL);
	cr_expect_eq(r.status, 3, "refex submit exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "the hub is unavailable") != NULL, "%s", r.err);
	run_result_free(&r);
	cr_expect(net_log_wait(net, "msg=\"database connection lost\""));

	/* Back: writes resume by themselves; every acknowledged submission is stored. */
	net_pg_server_start();
	submit_housing(net, north, FIXTURE("housing.json"), id);
	cr_expect(net_log_wait(net, "msg=\"database reconnected\" connection=writer"));
	for (int i = 0; i < LOAD; i++) {
		acked[i] = bg_line(load[i], 30000); /* the id, if it was acknowledged */
		bg_free(load[i]);
	}
	expect_sent_lists(id);
	for (int i = 0; i < LOAD; i++) {
		if (acked[i] != NULL && strlen(acked[i]) == REFEX_ID_LEN) {
			expect_sent_lists(acked[i]);
		}
		free(acked[i]);
	}
	net_expect_clean_stop(net);
}

#define READS     10          /* reads asked while the database hangs: the lists, then a show */
#define ASKED     (READS + 3) /* then changes that read first: two submissions, an update */
#define PROMPT_MS 20000       /* generous: on a loaded machine; one reconnect blocks 5 s */
#define SERVED_MS 10000

static long long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000LL + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Send READS - 1 list_sent requests and then a get of referral id on c at once (ids 100...). */
static void send_reads(struct raw *c, const char *id)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListReferrals l = REFEX__LIST_REFERRALS__INIT;
	Refex__GetReferral get = REFEX__GET_REFERRAL__INIT;

	req.has_id = 1;
	req.body_case = REFEX__REQUEST__BODY_LIST_SENT;
	req.list_sent = &l;
	for (int i = 0; i < READS; i++) {
		req.id = 100 + (uint64_t)i;
		if (i == READS - 1) {
			get.id = (char *)id;
			req.body_case = REFEX__REQUEST__BODY_GET;
			req.get = &get;
		}
		cr_assert_eq(raw_send_request(c, &req), 0);
	}
}

/* Send the changes that read before they write on c at once (ids 100 + READS...): a submission
 * of stored client client_id, one with an idempotency key, and an update of that client. */
static void send_changes(struct raw *c, const char *client_id)
{
	struct raw_submit stored, keyed;
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__UpdateClient u = REFEX__UPDATE_CLIENT__INIT;
	Refex__ClientRecord record = REFEX__CLIENT_RECORD__INIT;

	raw_submit_init(&stored, 100 + READS, "Stored");
	stored.sub.client = NULL;
	stored.sub.consent = NULL;
	stored.sub.client_id = (char *)client_id;
	cr_assert_eq(raw_send_request(c, &stored.req), 0);
	raw_submit_init(&keyed, 100 + READS + 1, "Keyed");
	keyed.req.idempotency_key = "hang-1";
	cr_assert_eq(raw_send_request(c, &keyed.req), 0);
	record.given_name = "Stored";
	record.family_name = "Lee-Smith";
	u.id = (char *)client_id;
	u.record = &record;
	req.has_id = 1;
	req.id = 100 + READS + 2;
	req.body_case = REFEX__REQUEST__BODY_UPDATE_CLIENT;
	req.update_client = &u;
	cr_assert_eq(raw_send_request(c, &req), 0);
}

/* Expect the hub to hold four connections to its database once its news connection is up:
 * writer, reader, vacuum and news (the loop reads on none of its own). */
static void expect_four_connections(void)
{
	const char *news = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname ="
	                   " current_database() AND application_name = 'refexd-news')";
	bool up = false;

	for (int i = 0; i < 400 && !(up = net_pg_query_true(net, news)); i++) {
		usleep(50000); /* polls the server's list of connections: a condition */
	}
	cr_assert(up, "the hub's news connection never came up");
	cr_expect(net_pg_query_true(net,
	                            "SELECT count(*) <= 4 FROM pg_stat_activity WHERE datname ="
	                            " current_database() AND backend_type = 'client backend'"
	                            " AND pid <> pg_backend_pid()"),
	          "the hub holds more than its writer, reader, vacuum and news connections");
}

/* Submit a referral on c (north-advice's) and return its id (free it). */
static char *raw_submit_one(struct raw *c)
{
	struct raw_submit s;
	Refex__ServerMessage *m;
	char *id;

	raw_submit_init(&s, 50, "Hang");
	m = raw_call(c, &s.req);
	cr_assert(m != NULL && m->response != NULL && m->response->referral != NULL,
	          "the submission before the database goes was not stored");
	id = strdup(m->response->referral->id);
	refex__server_message__free_unpacked(m, NULL);
	return id;
}

/* Expect ASKED answers on c, in order, each UNAVAILABLE, within PROMPT_MS of t0. */
static void expect_reads_refused(struct raw *c, const struct timespec *t0)
{
	for (int i = 0; i < ASKED; i++) {
		long long left = PROMPT_MS - ms_since(t0);
		Refex__ServerMessage *m = raw_read_message(c, left > 0 ? (int)left : 1);

		cr_assert(m != NULL && m->response != NULL,
		          "read %d: no answer within %d ms while the database hangs", i, PROMPT_MS);
		cr_expect_eq(m->response->id, 100 + (uint64_t)i, "answers out of order");
		cr_expect_eq(m->response->status->code, REFEX__STATUS_CODE__STATUS_UNAVAILABLE);
		refex__server_message__free_unpacked(m, NULL);
	}
}

Test(postgres, reads_while_the_database_hangs_are_refused_and_the_hub_serves_the_rest)
{
	Refex__ClientRecord record = REFEX__CLIENT_RECORD__INIT;
	char client_id[REFEX_ID_LEN + 1];
	struct raw *a, *b;
	struct timespec t0;
	char *id;

	if (!net_on_postgresql()) {
		cr_skip_test("the hub runs on SQLite here");
	}
	cr_assert((a = raw_connect(net, north, NULL)) != NULL);
	cr_assert_eq(raw_hello(a), 0);
	id = raw_submit_one(a);
	record.given_name = "Stored";
	record.family_name = "Lee";
	cr_assert_eq(raw_add_client(a, &record, client_id), REFEX__STATUS_CODE__STATUS_OK);
	expect_four_connections();
	cr_assert_geq(raw_count_sent(a, 1), 0, "the hub reads before the database goes");
	/* The server hangs on new connections, and the hub's are cut. */
	net_pg_server_signal(SIGSTOP);
	net_pg_cut_connections(net);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	send_reads(a, id);
	send_changes(a, client_id);
	/* Meanwhile a second partner connects and gets what needs no database. */
	cr_assert((b = raw_connect(net, east, NULL)) != NULL, "no handshake while reads wait");
	cr_assert_eq(raw_hello(b), 0);
	cr_expect_gt(raw_list_forms(b, 2), 0);
	cr_expect_lt(ms_since(&t0), SERVED_MS, "the hub served another partner only after %lld ms",
	             ms_since(&t0));
	expect_reads_refused(a, &t0);

	/* Back: reads resume by themselves. */
	net_pg_server_signal(SIGCONT);
	cr_expect(net_log_wait(net, "msg=\"database reconnected\" connection=reader"));
	cr_expect_geq(raw_count_sent(a, 3), 0, "reads did not resume");
	free(id);
	raw_free(a);
	raw_free(b);
	net_expect_clean_stop(net);
}

/* Take an exclusive lock on table, on a connection of the test's own. */
static PGconn *lock_table(const char *table)
{
	char sql[128];

	PGconn *lock = PQconnectdb(net->database);
	PGresult *res;

	cr_assert_eq(PQstatus(lock), CONNECTION_OK, "%s", PQerrorMessage(lock));
	PQclear(PQexec(lock, "BEGIN"));
	snprintf(sql, sizeof(sql), "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", table);
	res = PQexec(lock, sql);
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(lock));
	PQclear(res);
	return lock;
}

/* Wait until at least n statements wait for a lock (the hub's, for lock's). */
static void wait_for_blocked(PGconn *lock, int n)
{
	PGresult *res;
	bool waiting = false;

	for (int i = 0; i < 400 && !waiting; i++) {
		res = PQexec(lock, "SELECT count(*) FROM pg_locks WHERE NOT granted");
		waiting =
		    PQresultStatus(res) == PGRES_TUPLES_OK && atoi(PQgetvalue(res, 0, 0)) >= n;
		PQclear(res);
		if (!waiting) {
			usleep(50000); /* polls the server's lock table: a condition, not a guess */
		}
	}
	cr_assert(waiting, "fewer than %d of the hub's statements waited for the lock", n);
}

Test(postgres, reads_for_a_reload_while_the_database_hangs_hold_no_partner)
{
	struct raw *a, *b;
	struct timespec t0;
	PGconn *lock;

	if (!net_on_postgresql()) {
		cr_skip_test("the hub runs on SQLite here");
	}
	cr_assert((a = raw_connect(net, north, NULL)) != NULL);
	cr_assert_eq(raw_hello(a), 0);
	/* The database does not answer the reload's read of the stored form versions. */
	lock = lock_table("form_versions");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	wait_for_blocked(lock, 1);
	cr_assert((b = raw_connect(net, east, NULL)) != NULL, "no handshake while a reload waits");
	cr_assert_eq(raw_hello(b), 0);
	cr_expect_gt(raw_list_forms(b, 2), 0);
	cr_expect_lt(ms_since(&t0), SERVED_MS,
	             "the hub served another partner only after %lld ms of a reload",
	             ms_since(&t0));
	/* A second reload asked for meanwhile runs once the first has ended. */
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_expect(net_log_wait(net, "msg=\"reload queued\""));
	cr_expect_eq(net_log_count(net, "msg=reloaded"), 0, "a reload went through while waiting");

	/* Back: the reload goes through, and then the one asked for meanwhile. */
	PQfinish(lock);
	cr_expect(net_log_wait_count(net, "msg=reloaded", 2),
	          "no reloads once the database answers");
	cr_expect(raw_list_forms(b, 4) > 0, "the partner is still served after the reloads");
	raw_free(a);
	raw_free(b);
	net_expect_clean_stop(net);
}

/* Send a list_sent request with id on c. */
static void send_list_sent(struct raw *c, uint64_t id)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListReferrals l = REFEX__LIST_REFERRALS__INIT;

	req.has_id = 1;
	req.id = id;
	req.body_case = REFEX__REQUEST__BODY_LIST_SENT;
	req.list_sent = &l;
	cr_assert_eq(raw_send_request(c, &req), 0);
}

Test(postgres, stop_answers_the_reads_in_flight)
{
	Refex__ServerMessage *m;
	struct raw *a;
	PGconn *lock;

	if (!net_on_postgresql()) {
		cr_skip_test("the hub runs on SQLite here");
	}
	cr_assert((a = raw_connect(net, north, NULL)) != NULL);
	cr_assert_eq(raw_hello(a), 0);
	lock = lock_table("referrals");
	send_list_sent(a, 7);
	wait_for_blocked(lock, 1);
	/* A graceful stop while the read waits: it must still be answered. */
	kill(net->pid, SIGTERM);
	cr_assert(net_log_wait(net, "msg=stopping"));
	PQclear(PQexec(lock, "ROLLBACK"));
	PQfinish(lock);
	m = raw_read_message(a, HARNESS_READ_TIMEOUT_MS);
	cr_expect(m != NULL && m->response != NULL && m->response->id == 7,
	          "the listing in flight at the stop got no answer");
	cr_expect(m == NULL || m->response == NULL ||
	              m->response->status->code == REFEX__STATUS_CODE__STATUS_OK,
	          "the listing in flight at the stop was refused");
	if (m != NULL) {
		refex__server_message__free_unpacked(m, NULL);
	}
	raw_free(a);
	net_expect_clean_stop(net);
}

Test(postgres, stop_cancels_the_statements_waiting_for_a_lock)
{
	struct raw_submit s;
	struct raw *a;
	PGconn *lock;

	if (!net_on_postgresql()) {
		cr_skip_test("the hub runs on SQLite here");
	}
	cr_assert((a = raw_connect(net, north, NULL)) != NULL);
	cr_assert_eq(raw_hello(a), 0);
	lock = lock_table("referrals");
	/* A write (the storage thread) and a read (the reader thread) wait for the lock, which
	 * another session holds for longer than anyone waits for a stop. */
	raw_submit_init(&s, 8, "Stuck");
	cr_assert_eq(raw_send_request(a, &s.req), 0);
	send_list_sent(a, 9);
	wait_for_blocked(lock, 2);
	/* net_stop waits 20 s for the exit, then kills refexd and says -1. */
	cr_expect_eq(net_stop(net), 0,
	             "refexd did not exit while its statements waited for a lock");
	cr_expect_eq(net_log_count(net, "msg=\"database statements cancelled at stop\""), 1);
	cr_expect_eq(net_log_count(net, "msg=stopped"), 1);
	PQclear(PQexec(lock, "ROLLBACK"));
	PQfinish(lock);
	raw_free(a);
}

Test(postgres, stop_ends_a_reload_waiting_for_the_database)
{
	PGconn *lock;

	if (!net_on_postgresql()) {
		cr_skip_test("the hub runs on SQLite here");
	}
	lock = lock_table("form_versions");
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	wait_for_blocked(lock, 1);
	/* What the reload prepared is freed (the sanitizer build checks), the old state kept. */
	cr_expect_eq(net_stop(net), 0, "refexd did not exit while a reload waited for a lock");
	cr_expect(net_log_count(net, "msg=reload-refused") == 1, "the reload did not end");
	cr_expect_eq(net_log_count(net, "msg=reloaded"), 0);
	cr_expect_eq(net_log_count(net, "msg=stopped"), 1);
	PQclear(PQexec(lock, "ROLLBACK"));
	PQfinish(lock);
}
