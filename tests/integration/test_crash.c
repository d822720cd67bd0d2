/*
 * Crash durability: 64 submitters (PROCS processes of CONNS connections) keep refexd busy while
 * it is killed with SIGKILL at random moments and restarted on the same database. After each
 * kill, with refexd down, the database must pass PRAGMA integrity_check and the audit chain
 * check, and every referral ever acknowledged must be in it exactly once; after each restart,
 * submissions retried with their idempotency keys must name the referral acknowledged before
 * (or, for ones cut off unanswered, one referral, whatever the retries).
 *
 * REFEX_CRASH_ROUNDS sets the number of kills (default ROUNDS_CI); REFEX_CRASH_SEED replays a
 * run (the seed is printed). tests/crash/run-kills runs many more rounds outside ctest. A fresh
 * database is started every GENERATION rounds so that long runs keep each check quick.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

enum {
	PROCS = 8,        /* submitter processes */
	CONNS = 8,        /* connections each: PROCS * CONNS submitters at once */
	ROUNDS_CI = 20,   /* kills per ctest run */
	GENERATION = 25,  /* rounds on one database before starting afresh */
	KILL_MAX_MS = 250 /* the kill comes 0..KILL_MAX_MS after every submitter is going */
};

#define KEY_LEN 48

/* An idempotency key and the referral it was acknowledged with. */
struct acked {
	char key[KEY_LEN];
	char id[REFEX_ID_LEN + 1];
};

/* What the submitters of one database were told, all rounds so far. */
struct ledger {
	struct acked *acked;
	size_t n, cap;
	char (*cut)[KEY_LEN]; /* this round's keys sent and never answered */
	size_t n_cut, cap_cut;
	size_t sent; /* keys sent, over all rounds */
};

static struct net *net;
static const char *north;
static unsigned seed;

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(crash, .fini = teardown);

/* Write refexd's config as the harness does, but logging warnings only: the log is read
 * whole at every start, and info lines for thousands of requests a round would slow it. */
static void write_quiet_config(void)
{
	FILE *f = fopen(net->config, "w");

	cr_assert_not_null(f);
	fprintf(f,
	        "[server]\nlisten = 127.0.0.1:0\ncertificate = server.crt\nkey = server.key\n"
	        "ca = ca/ca.crt\ncrl = ca/crl.pem\ndatabase = refex.db\nlog_level = warn\n\n%s",
	        NET_DEFAULT_AGENCIES);
	cr_assert_eq(fclose(f), 0);
}

static void new_database(void)
{
	net_teardown(net);
	net = net_new();
	north = net_issue(net, "north-advice", "Alice Smith");
	write_quiet_config();
	net_must_start(net);
}

/* Send the submission for key as request rq (the same body every time: a retry's digest
 * must match the first's). */
static int send_submit(struct raw *c, uint64_t rq, const char *key)
{
	struct raw_submit s;

	raw_submit_init(&s, rq, "Crash");
	s.req.idempotency_key = (char *)key;
	return raw_send_request(c, &s.req);
}

/* Read one response: its request id, and the referral id when it is an OK one. Returns -1
 * once the connection is gone. */
static int read_answer(struct raw *c, uint64_t *rq, char id[REFEX_ID_LEN + 1], int timeout_ms)
{
	Refex__ServerMessage *m;

	while ((m = raw_read_message(c, timeout_ms)) != NULL &&
	       m->body_case != REFEX__SERVER_MESSAGE__BODY_RESPONSE) {
		refex__server_message__free_unpacked(m, NULL);
	}
	if (m == NULL) {
		return -1;
	}
	*rq = m->response->id;
	id[0] = '\0';
	if (m->response->status != NULL &&
	    m->response->status->code == REFEX__STATUS_CODE__STATUS_OK &&
	    m->response->body_case == REFEX__RESPONSE__BODY_REFERRAL && m->response->referral->id) {
		snprintf(id, REFEX_ID_LEN + 1, "%s", m->response->referral->id);
	}
	refex__server_message__free_unpacked(m, NULL);
	return 0;
}

/*
 * A submitter process (forked): CONNS connections, each with one submission in flight, until
 * refexd dies. Every key is written to out as "S key" before it is sent and as "A key id" once
 * acknowledged. Says "r" on ready_fd once every connection has said hello.
 */
static void submitter(int round, int proc, const char *path, int ready_fd)
{
	struct raw *c[CONNS] = {0};
	FILE *out = fopen(path, "w");
	uint64_t n[CONNS] = {0};
	int live = CONNS;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (out == NULL) {
		_exit(3);
	}
	for (int i = 0; i < CONNS; i++) {
		if ((c[i] = raw_connect(net, north, NULL)) == NULL || raw_hello(c[i]) != 0) {
			_exit(3);
		}
	}
	if (write(ready_fd, "r", 1) != 1) {
		_exit(3);
	}
	while (live > 0) {
		char key[CONNS][KEY_LEN], id[REFEX_ID_LEN + 1];
		uint64_t rq;

		for (int i = 0; i < CONNS; i++) {
			if (c[i] == NULL) {
				continue;
			}
			snprintf(key[i], KEY_LEN, "r%d-p%d-c%d-n%llu", round, proc, i,
			         (unsigned long long)++n[i]);
			fprintf(out, "S %s\n", key[i]);
			fflush(out);
			if (send_submit(c[i], 1000 + n[i], key[i]) < 0) {
				raw_free(c[i]);
				c[i] = NULL;
				live--;
			}
		}
		for (int i = 0; i < CONNS; i++) {
			if (c[i] == NULL) {
				continue;
			}
			if (read_answer(c[i], &rq, id, HARNESS_READ_TIMEOUT_MS) < 0) {
				raw_free(c[i]);
				c[i] = NULL;
				live--;
			} else if (id[0] != '\0' && rq == 1000 + n[i]) {
				fprintf(out, "A %s %s\n", key[i], id);
				fflush(out);
			}
		}
	}
	fclose(out);
	_exit(0);
}

static void ledger_ack(struct ledger *l, const char *key, const char *id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		cr_assert_not_null(l->acked = realloc(l->acked, l->cap * sizeof(*l->acked)));
	}
	snprintf(l->acked[l->n].key, KEY_LEN, "%.*s", KEY_LEN - 1, key);
	snprintf(l->acked[l->n].id, REFEX_ID_LEN + 1, "%s", id);
	l->n++;
}

static void ledger_cut(struct ledger *l, const char *key)
{
	if (l->n_cut == l->cap_cut) {
		l->cap_cut = l->cap_cut ? l->cap_cut * 2 : 256;
		cr_assert_not_null(l->cut = realloc(l->cut, l->cap_cut * sizeof(*l->cut)));
	}
	snprintf(l->cut[l->n_cut++], KEY_LEN, "%.*s", KEY_LEN - 1, key);
}

/* Read a submitter's record into the ledger: acknowledged keys, and the one it sent last on
 * each connection if no answer came (its fate is for the retry to settle). */
static void ledger_read(struct ledger *l, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[128], last[CONNS][KEY_LEN] = {{0}};
	bool answered[CONNS] = {false};

	cr_assert_not_null(f, "a submitter left no %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		char key[KEY_LEN], id[REFEX_ID_LEN + 1];
		int conn;

		if (sscanf(line, "S %47s", key) == 1 && sscanf(key, "r%*d-p%*d-c%d", &conn) == 1 &&
		    conn >= 0 && conn < CONNS) {
			snprintf(last[conn], KEY_LEN, "%.*s", KEY_LEN - 1, key);
			answered[conn] = false;
			l->sent++;
		} else if (sscanf(line, "A %47s %16s", key, id) == 2 &&
		           sscanf(key, "r%*d-p%*d-c%d", &conn) == 1 && conn >= 0 && conn < CONNS) {
			ledger_ack(l, key, id);
			answered[conn] = true;
		}
	}
	fclose(f);
	for (int i = 0; i < CONNS; i++) {
		if (last[i][0] != '\0' && !answered[i]) {
			ledger_cut(l, last[i]);
		}
	}
}

static long long db_count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long n;

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s",
	             sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
	n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* With refexd down: the file is sound and holds every acknowledged referral exactly once. */
static void check_database(const struct ledger *l, int round)
{
	char path[NET_PATH_MAX + 16];
	sqlite3_stmt *s = NULL;
	sqlite3 *db = NULL;
	size_t missing = 0;
	long long referrals;
	char first[KEY_LEN + REFEX_ID_LEN + 16] = "";
	struct run_result r;
	char *verify[] = {REFEXD_PATH, "--verify-audit", "--config", net->config, NULL};

	snprintf(path, sizeof(path), "%s/refex.db", net->dir);
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), "ok",
	                 "round %d (seed %u): integrity_check", round, seed);
	sqlite3_finalize(s);

	cr_assert_eq(sqlite3_prepare_v2(db,
	                                "SELECT r.id, (SELECT count(*) FROM referral_data d"
	                                " WHERE d.rid = r.rid) FROM idempotency i JOIN referrals r"
	                                " ON r.id = i.referral_id"
	                                " WHERE i.agency = 'north-advice' AND i.key = ?1",
	                                -1, &s, NULL),
	             SQLITE_OK);
	for (size_t i = 0; i < l->n; i++) {
		sqlite3_bind_text(s, 1, l->acked[i].key, -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_ROW ||
		    strcmp((const char *)sqlite3_column_text(s, 0), l->acked[i].id) != 0 ||
		    sqlite3_column_int(s, 1) != 1) {
			if (missing++ == 0) {
				snprintf(first, sizeof(first), "%s (key %s)", l->acked[i].id,
				         l->acked[i].key);
			}
		}
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	cr_assert_eq(missing, 0,
	             "round %d (seed %u): %zu of %zu acknowledged referrals missing, first %s",
	             round, seed, missing, l->n, first);
	/* Exactly once: every referral came with its own key, and each key made one referral. */
	referrals = db_count(db, "SELECT count(*) FROM referrals");
	cr_assert_eq(referrals, db_count(db, "SELECT count(DISTINCT referral_id) FROM idempotency"),
	             "round %d (seed %u): referrals and keys do not pair up", round, seed);
	cr_assert_eq(db_count(db, "SELECT count(*) FROM idempotency"), referrals);
	cr_assert_eq(db_count(db, "SELECT count(*) FROM events"), 2 * referrals,
	             "round %d (seed %u): each submission has one event per party", round, seed);
	cr_assert_geq(referrals, (long long)l->n);
	cr_assert_leq(referrals, (long long)l->sent);
	sqlite3_close(db);

	run(&r, verify, NULL);
	cr_assert_eq(r.status, 0, "round %d (seed %u): the audit chain is broken: %s%s", round,
	             seed, r.out, r.err);
	run_result_free(&r);
}

/* Find key's acknowledged referral in the ledger (NULL: none); the newest rounds are last. */
static const struct acked *ledger_find(const struct ledger *l, const char *key)
{
	for (size_t i = l->n; i-- > 0;) {
		if (strcmp(l->acked[i].key, key) == 0) {
			return &l->acked[i];
		}
	}
	return NULL;
}

/*
 * After the restart: retry, pipelined on one connection, every submission cut off by the kill
 * and the round's last acknowledged ones. An acknowledged key must name its referral again; a
 * cut-off one gets a referral (the one it made before the kill, or a new one), which is then
 * acknowledged like any other.
 */
static void retry_keys(struct ledger *l, size_t first_of_round)
{
	enum { RETRY_ACKED = 16 };
	size_t n_acked = l->n - first_of_round < RETRY_ACKED ? l->n - first_of_round : RETRY_ACKED;
	size_t total = l->n_cut + n_acked;
	char(*keys)[KEY_LEN] = calloc(total + 1, KEY_LEN);
	struct raw *c = raw_connect(net, north, NULL);
	char id[REFEX_ID_LEN + 1];
	uint64_t rq;

	cr_assert(keys != NULL && c != NULL && raw_hello(c) == 0);
	for (size_t i = 0; i < total; i++) {
		snprintf(keys[i], KEY_LEN, "%s",
		         i < l->n_cut ? l->cut[i] : l->acked[l->n - n_acked + (i - l->n_cut)].key);
		cr_assert_eq(send_submit(c, i + 1, keys[i]), 0);
	}
	for (size_t got = 0; got < total; got++) {
		const struct acked *a;

		cr_assert_eq(read_answer(c, &rq, id, HARNESS_READ_TIMEOUT_MS), 0,
		             "no answer to a retry");
		cr_assert(rq >= 1 && rq <= total && id[0] != '\0', "retry %llu was refused",
		          (unsigned long long)rq);
		if ((a = ledger_find(l, keys[rq - 1])) != NULL) {
			cr_assert_str_eq(id, a->id,
			                 "seed %u: retrying key %s named another referral", seed,
			                 keys[rq - 1]);
		} else {
			ledger_ack(l, keys[rq - 1], id);
		}
	}
	raw_free(c);
	free(keys);
	l->n_cut = 0;
}

/* One round: start the submitters, kill refexd at a random moment, check, restart, retry. */
static void crash_round(struct ledger *l, int round)
{
	char paths[PROCS][NET_PATH_MAX + 32];
	size_t first_of_round = l->n;
	pid_t kids[PROCS];
	int ready[2], status;
	char byte;

	cr_assert_eq(pipe(ready), 0);
	for (int p = 0; p < PROCS; p++) {
		snprintf(paths[p], sizeof(paths[p]), "%s/submitter-%d.txt", net->dir, p);
		cr_assert_geq(kids[p] = fork(), 0);
		if (kids[p] == 0) {
			close(ready[0]);
			submitter(round, p, paths[p], ready[1]);
		}
	}
	close(ready[1]);
	for (int p = 0; p < PROCS; p++) {
		struct pollfd pfd = {.fd = ready[0], .events = POLLIN};

		cr_assert(poll(&pfd, 1, HARNESS_START_TIMEOUT_MS) > 0 &&
		              read(ready[0], &byte, 1) == 1,
		          "round %d: only %d of %d submitter processes got going", round, p, PROCS);
	}
	close(ready[0]);
	/* The random moment; not a wait for the server (it is already serving everyone). */
	poll(NULL, 0, (int)(rand() % (KILL_MAX_MS + 1)));
	cr_assert_eq(kill(net->pid, SIGKILL), 0);
	cr_assert_eq(waitpid(net->pid, &status, 0), net->pid);
	net->pid = 0;
	for (int p = 0; p < PROCS; p++) {
		cr_assert_eq(waitpid(kids[p], &status, 0), kids[p]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		          "round %d: submitter %d failed", round, p);
		ledger_read(l, paths[p]);
	}
	check_database(l, round);
	net_must_start(net);
	retry_keys(l, first_of_round);
}

Test(crash, sigkill_under_load_loses_no_acknowledged_referral, .timeout = 0)
{
	const char *env = getenv("REFEX_CRASH_ROUNDS");
	int rounds = env ? atoi(env) : ROUNDS_CI;
	struct ledger l = {0};
	struct timespec t0, t1;

	seed = getenv("REFEX_CRASH_SEED") ? (unsigned)strtoul(getenv("REFEX_CRASH_SEED"), NULL, 10)
	                                  : (unsigned)time(NULL) ^ (unsigned)getpid();
	srand(seed);
	cr_assert_gt(rounds, 0, "REFEX_CRASH_ROUNDS must be at least 1");
	fprintf(stderr, "test_crash: seed %u (REFEX_CRASH_SEED replays it), %d rounds\n", seed,
	        rounds);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int round = 0; round < rounds; round++) {
		if (round % GENERATION == 0) {
			l.n = l.n_cut = l.sent = 0;
			new_database();
		}
		crash_round(&l, round);
	}
	net_expect_clean_stop(net);
	check_database(&l, rounds);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "test_crash: %d kills, %zu acknowledged in the last database, %.1f s\n",
	        rounds, l.n,
	        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(l.acked);
	free(l.cut);
}
