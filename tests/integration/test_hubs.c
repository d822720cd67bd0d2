/* Two hubs on one PostgreSQL (issue 18, part 3): submissions through both, watchers on each
 * see every event of their agency once and in order, live; an idempotency key crosses hubs; an
 * inbox cached on one hub shows a write on the other; one hub at a time runs the overdue sweep,
 * and another takes over when it dies. Runs only on PostgreSQL (tests/pg/with-postgres). */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ACK_1S       NET_DEFAULT_AGENCIES "\n[form housing_support]\nacknowledge_within = 1s\n"
#define QUIET_MS     2500 /* longer than a sweep tick: long enough for a duplicate to show */
#define SWEEPING     "msg=\"sweeping here\""
#define WAIT_STEP_MS 20
#define ID_SIZE      (REFEX_ID_LEN + 1)
#define EVENTS_MAX   16

static struct net *a, *b; /* hub A, hub B: one database, one partnership */
static const char *north, *east, *third;

/* Start hub A (with extra as its config; NULL: the default), then hub B beside it. */
static void start(const char *extra)
{
	a = net_new();
	north = net_issue(a, "north-advice", "Priya Shah");
	east = net_issue(a, "eastside-housing", "Sam Okafor");
	third = net_issue(a, "third-party", "Lee Chan");
	if (extra != NULL) {
		cr_assert_eq(net_write_config(a, extra), 0, "cannot write the config");
	}
	net_must_start(a);
	b = net_start_second(a);
}

static void setup(void)
{
	if (net_on_postgresql()) {
		start(NULL);
	}
}

static void teardown(void)
{
	net_teardown(b);
	net_teardown(a);
	a = b = NULL;
}

TestSuite(hubs, .init = setup, .fini = teardown, .timeout = 180);
TestSuite(sweep, .fini = teardown, .timeout = 180);

static void skip_on_sqlite(void)
{
	if (!net_on_postgresql()) {
		cr_skip_test("the hub runs on SQLite here: one hub");
	}
}

static struct raw *greeted(const struct net *n, const char *prefix)
{
	struct raw *c = raw_connect(n, prefix, NULL);

	cr_assert_not_null(c, "raw TLS connection failed");
	cr_assert_eq(raw_hello(c), 0, "Hello was refused");
	return c;
}

/* Watch c's agency from now; return the newest event's seq. */
static uint64_t watch_now(struct raw *c)
{
	long long last = raw_watch(c, -1);

	cr_assert_geq(last, 0, "the watch was refused");
	return (uint64_t)last;
}

/* Submit as north on c (with an idempotency key, or NULL); copy the id if it was stored, and
 * return the status (unavailable allowed only when may_fail). */
static Refex__StatusCode submit_try(struct raw *c, const char *key, char id[ID_SIZE], bool may_fail)
{
	struct raw_submit s;
	Refex__ServerMessage *m;
	Refex__StatusCode code;

	raw_submit_init(&s, 21, "Pat");
	s.req.idempotency_key = (char *)key;
	m = raw_call(c, &s.req);
	cr_assert_not_null(m, "submit: no answer");
	code = m->response->status->code;
	cr_assert(code == REFEX__STATUS_CODE__STATUS_OK ||
	              (may_fail && code == REFEX__STATUS_CODE__STATUS_UNAVAILABLE),
	          "submit: %s", m->response->status->message ? m->response->status->message : "");
	if (code == REFEX__STATUS_CODE__STATUS_OK) {
		snprintf(id, ID_SIZE, "%s", m->response->referral->id);
	}
	refex__server_message__free_unpacked(m, NULL);
	return code;
}

/* Submit as north on c (with an idempotency key, or NULL); expect OK and copy the id. */
static void submit(struct raw *c, const char *key, char id[ID_SIZE])
{
	submit_try(c, key, id, false);
}

/* What a watcher saw: each event's kind and referral id, in the order they came. */
struct seen {
	Refex__EventKind kind[EVENTS_MAX];
	char id[EVENTS_MAX][ID_SIZE];
	size_t n;
};

/* Read count events from c, each numbered one after the last (*seq), into s. */
static void read_events(struct raw *c, uint64_t *seq, size_t count, struct seen *s)
{
	for (size_t i = 0; i < count; i++) {
		Refex__ServerMessage *m = raw_read_message(c, HARNESS_READ_TIMEOUT_MS);

		cr_assert_not_null(m, "event %zu of %zu did not arrive", i + 1, count);
		cr_assert_eq(m->body_case, REFEX__SERVER_MESSAGE__BODY_EVENT, "expected an event");
		cr_assert_eq(m->event->seq, *seq + 1, "event %llu came after %llu",
		             (unsigned long long)m->event->seq, (unsigned long long)*seq);
		*seq = m->event->seq;
		cr_assert_lt(s->n, EVENTS_MAX);
		s->kind[s->n] = m->event->kind;
		snprintf(s->id[s->n++], ID_SIZE, "%s", m->event->referral->id);
		refex__server_message__free_unpacked(m, NULL);
	}
}

/* Expect nothing more on c for a while: no event twice. */
static void expect_quiet(struct raw *c)
{
	Refex__ServerMessage *m = raw_read_message(c, QUIET_MS);

	cr_expect_null(m, "an event came that should not have (seq %llu)",
	               m && m->event ? (unsigned long long)m->event->seq : 0ULL);
	if (m != NULL) {
		refex__server_message__free_unpacked(m, NULL);
	}
}

/* Count the events of kind about referral id that s saw. */
static int count_seen(const struct seen *s, Refex__EventKind kind, const char *id)
{
	int n = 0;

	for (size_t i = 0; i < s->n; i++) {
		n += s->kind[i] == kind && strcmp(s->id[i], id) == 0;
	}
	return n;
}

Test(hubs, watchers_on_each_hub_see_every_event_once_and_in_order)
{
	struct raw *watch_a, *watch_b, *send_a, *send_b;
	struct seen seen_a = {0}, seen_b = {0};
	char ids[6][ID_SIZE];
	uint64_t seq_a, seq_b;

	skip_on_sqlite();
	watch_a = greeted(a, east);
	watch_b = greeted(b, east);
	send_a = greeted(a, north);
	send_b = greeted(b, north);
	seq_a = watch_now(watch_a);
	seq_b = watch_now(watch_b);
	for (int i = 0; i < 6; i++) {
		submit(i % 2 ? send_b : send_a, NULL, ids[i]);
	}
	read_events(watch_a, &seq_a, 6, &seen_a);
	read_events(watch_b, &seq_b, 6, &seen_b);
	for (int i = 0; i < 6; i++) {
		cr_expect_eq(count_seen(&seen_a, REFEX__EVENT_KIND__EVENT_SUBMITTED, ids[i]), 1,
		             "hub A's watcher: referral %d", i);
		cr_expect_eq(count_seen(&seen_b, REFEX__EVENT_KIND__EVENT_SUBMITTED, ids[i]), 1,
		             "hub B's watcher: referral %d", i);
	}
	expect_quiet(watch_a);
	expect_quiet(watch_b);
	raw_free(watch_a);
	raw_free(watch_b);
	raw_free(send_a);
	raw_free(send_b);
}

Test(hubs, an_idempotency_key_used_on_one_hub_is_honoured_on_the_other)
{
	struct raw *send_a, *send_b;
	char first[ID_SIZE], again[ID_SIZE];

	skip_on_sqlite();
	send_a = greeted(a, north);
	send_b = greeted(b, north);
	submit(send_a, "same-key", first);
	submit(send_b, "same-key", again);
	cr_expect_str_eq(again, first, "the retry on hub B is answered with hub A's referral");
	cr_expect_eq(raw_count_sent(send_b, 5), 1, "one referral, not two");
	raw_free(send_a);
	raw_free(send_b);
}

/* Wait (bounded) until east's inbox on c lists want referrals; return how many it last did. */
static int inbox_wait(struct raw *c, int want)
{
	int got = -1;

	for (int waited = 0; waited < HARNESS_READ_TIMEOUT_MS; waited += WAIT_STEP_MS) {
		if ((got = raw_count_inbox(c, 7)) == want) {
			break;
		}
		poll(NULL, 0, WAIT_STEP_MS); /* the other hub's news is on its way */
	}
	return got;
}

Test(hubs, an_inbox_cached_on_one_hub_shows_a_write_on_the_other)
{
	struct raw *staff_b, *send_a;
	char id[ID_SIZE];

	skip_on_sqlite();
	staff_b = greeted(b, east);
	send_a = greeted(a, north);
	cr_assert_eq(raw_count_inbox(staff_b, 6), 0, "the inbox starts empty (and is cached)");
	submit(send_a, NULL, id);
	cr_expect_eq(inbox_wait(staff_b, 1), 1, "hub B still serves its stale inbox page");
	submit(send_a, NULL, id);
	cr_expect_eq(inbox_wait(staff_b, 2), 2, "hub B still serves its stale inbox page");
	raw_free(staff_b);
	raw_free(send_a);
}

/* Send req on c and expect OK; the caller frees the message. */
static Refex__ServerMessage *call_ok(struct raw *c, Refex__Request *req, const char *what)
{
	Refex__ServerMessage *m;

	req->has_id = 1;
	req->id = 8;
	m = raw_call(c, req);
	cr_assert_not_null(m, "%s: no answer", what);
	cr_assert_eq(m->response->status->code, REFEX__STATUS_CODE__STATUS_OK, "%s: %s", what,
	             m->response->status->message ? m->response->status->message : "");
	return m;
}

/* Return the stored client referral id shares, as its sender reads it on c (malloc'd). */
static char *client_of(struct raw *c, const char *id)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetReferral g = REFEX__GET_REFERRAL__INIT;
	Refex__ServerMessage *m;
	char *client;

	g.id = (char *)id;
	req.body_case = REFEX__REQUEST__BODY_GET;
	req.get = &g;
	m = call_ok(c, &req, "get");
	cr_assert_not_null(m->response->referral->client_id,
	                   "the referral shares no stored client");
	client = strdup(m->response->referral->client_id);
	refex__server_message__free_unpacked(m, NULL);
	return client;
}

/* Say whether the first referral of the inbox on c shows its client's name. */
static bool inbox_names_client(struct raw *c)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListReferrals l = REFEX__LIST_REFERRALS__INIT;
	Refex__ServerMessage *m;
	bool named;

	req.body_case = REFEX__REQUEST__BODY_LIST_INBOX;
	req.list_inbox = &l;
	m = call_ok(c, &req, "inbox");
	cr_assert_eq(m->response->page->n_referrals, 1);
	named = m->response->page->referrals[0]->client_name != NULL &&
	        m->response->page->referrals[0]->client_name[0] != '\0';
	refex__server_message__free_unpacked(m, NULL);
	return named;
}

Test(hubs, a_client_erased_on_one_hub_leaves_the_other_hubs_listings)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__EraseClient e = REFEX__ERASE_CLIENT__INIT;
	struct raw *staff_b, *send_a;
	char id[ID_SIZE], *client;
	bool named = true;

	skip_on_sqlite();
	staff_b = greeted(b, east);
	send_a = greeted(a, north);
	submit(send_a, NULL, id);
	cr_assert_eq(inbox_wait(staff_b, 1), 1);
	cr_assert(inbox_names_client(staff_b), "the listing names the client (and is cached)");
	client = client_of(send_a, id);
	e.id = client;
	e.reason = "the client asked us to";
	req.body_case = REFEX__REQUEST__BODY_ERASE_CLIENT;
	req.erase_client = &e;
	refex__server_message__free_unpacked(call_ok(send_a, &req, "erase"), NULL);
	for (int waited = 0; named && waited < HARNESS_READ_TIMEOUT_MS; waited += WAIT_STEP_MS) {
		if ((named = inbox_names_client(staff_b))) {
			poll(NULL, 0, WAIT_STEP_MS); /* the other hub's news is on its way */
		}
	}
	cr_expect_not(named, "hub B still lists the erased client's name");
	free(client);
	raw_free(staff_b);
	raw_free(send_a);
}

/* The state of the onward referral of north's newest sent referral, as c lists it; -1: none. */
static int sent_onward_state(struct raw *c)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListReferrals l = REFEX__LIST_REFERRALS__INIT;
	Refex__ServerMessage *m;
	int state = -1;

	req.body_case = REFEX__REQUEST__BODY_LIST_SENT;
	req.list_sent = &l;
	m = call_ok(c, &req, "sent");
	cr_assert_geq(m->response->page->n_referrals, 1);
	if (m->response->page->referrals[0]->n_onward > 0) {
		state = (int)m->response->page->referrals[0]->onward[0]->state;
	}
	refex__server_message__free_unpacked(m, NULL);
	return state;
}

/* Wait (bounded) until north's sent list on c shows the onward referral in state want. */
static int onward_wait(struct raw *c, int want)
{
	int got = -1;

	for (int waited = 0; waited < HARNESS_READ_TIMEOUT_MS; waited += WAIT_STEP_MS) {
		if ((got = sent_onward_state(c)) == want) {
			break;
		}
		poll(NULL, 0, WAIT_STEP_MS); /* the other hub's news is on its way */
	}
	return got;
}

Test(hubs, an_onward_referral_through_one_hub_shows_in_the_senders_list_on_the_other)
{
	struct raw *send_a, *north_b;
	struct run_result r;
	char first[ID_SIZE], onward[ID_SIZE], *client;
	char *food = net_write_file(a, "food.json",
	                            "{\"householdAdults\": 1, \"householdChildren\": 2,"
	                            " \"vouchersRequested\": 1, \"reason\": \"BENEFIT_DELAY\"}");

	skip_on_sqlite();
	send_a = greeted(a, north);
	north_b = greeted(b, north);
	submit(send_a, NULL, first);
	client = client_of(send_a, first);
	cr_assert_eq(run_refex(&r, a, north, "consent", "add", client, "--to", "third-party",
	                       "--purpose", "food support", "--method", "verbal", NULL),
	             0, "consent add: %s", r.err);
	run_result_free(&r);
	cr_assert_eq(sent_onward_state(north_b), -1, "no onward referral yet (and cached)");
	cr_assert_eq(run_refex(&r, a, east, "forward", first, "--to", "third-party", "--form",
	                       "food_support", "--data", food, NULL),
	             0, "forward: %s", r.err);
	snprintf(onward, sizeof(onward), "%s", run_line(&r));
	run_result_free(&r);
	cr_expect_eq(onward_wait(north_b, REFEX__STATE__STATE_SENT), REFEX__STATE__STATE_SENT,
	             "hub B's sent page misses the onward referral");
	cr_assert_eq(run_refex(&r, a, third, "accept", onward, NULL), 0, "accept: %s", r.err);
	run_result_free(&r);
	cr_expect_eq(onward_wait(north_b, REFEX__STATE__STATE_ACCEPTED),
	             REFEX__STATE__STATE_ACCEPTED, "hub B's sent page shows the old onward state");
	free(client);
	free(food);
	raw_free(send_a);
	raw_free(north_b);
}

/* Wait (bounded) until one of the hubs says it sweeps; return it. */
static struct net *sweeping_hub(void)
{
	for (int waited = 0; waited < HARNESS_START_TIMEOUT_MS; waited += WAIT_STEP_MS) {
		if (a->pid > 0 && net_log_count(a, SWEEPING) > 0) {
			return a;
		}
		if (b->pid > 0 && net_log_count(b, SWEEPING) > 0) {
			return b;
		}
		poll(NULL, 0, WAIT_STEP_MS);
	}
	cr_assert_fail("no hub took the sweeps");
	return NULL;
}

Test(sweep, two_hubs_make_one_overdue_event_per_referral_and_party)
{
	struct raw *watch[4], *send_a, *send_b;
	struct seen seen[4];
	uint64_t seq[4];
	char ids[4][ID_SIZE];

	skip_on_sqlite();
	start(ACK_1S);
	memset(seen, 0, sizeof(seen));
	for (int w = 0; w < 4; w++) { /* each agency on each hub */
		watch[w] = greeted(w % 2 ? b : a, w < 2 ? east : north);
		seq[w] = watch_now(watch[w]);
	}
	send_a = greeted(a, north);
	send_b = greeted(b, north);
	for (int i = 0; i < 4; i++) {
		submit(i % 2 ? send_b : send_a, NULL, ids[i]);
	}
	for (int w = 0; w < 4; w++) {
		read_events(watch[w], &seq[w], 8, &seen[w]);
	}
	for (int w = 0; w < 4; w++) {
		expect_quiet(watch[w]);
		for (int i = 0; i < 4; i++) {
			cr_expect_eq(count_seen(&seen[w], REFEX__EVENT_KIND__EVENT_OVERDUE, ids[i]),
			             1, "watcher %d, referral %d: one overdue event", w, i);
		}
		raw_free(watch[w]);
	}
	cr_expect(net_log_count(a, "msg=overdue ") == 0 || net_log_count(b, "msg=overdue ") == 0,
	          "both hubs swept");
	raw_free(send_a);
	raw_free(send_b);
}

Test(sweep, when_the_sweeping_hub_dies_the_other_takes_over)
{
	struct net *dead, *alive;
	struct raw *watcher, *sender;
	struct seen seen = {0};
	uint64_t seq;
	char id[ID_SIZE];

	skip_on_sqlite();
	start(ACK_1S);
	dead = sweeping_hub();
	alive = dead == a ? b : a;
	cr_expect_eq(net_log_count(alive, SWEEPING), 0, "both hubs sweep");
	net_kill(dead);
	cr_assert(net_log_wait(alive, SWEEPING), "the other hub did not take over the sweeps");
	watcher = greeted(alive, east);
	sender = greeted(alive, north);
	seq = watch_now(watcher);
	submit(sender, NULL, id);
	read_events(watcher, &seq, 2, &seen);
	cr_expect_eq(count_seen(&seen, REFEX__EVENT_KIND__EVENT_OVERDUE, id), 1,
	             "the surviving hub sweeps");
	raw_free(watcher);
	raw_free(sender);
}

/* Stops the database server: a suite of its own, run alone (tests/integration/CMakeLists.txt),
 * since every test of the binary shares the server. */
TestSuite(restart, .init = setup, .fini = teardown, .timeout = 180);

Test(restart, a_hub_hears_the_others_again_after_the_database_restarts)
{
	struct raw *staff_b, *send_a;
	char id[ID_SIZE];
	int tries = 0;

	skip_on_sqlite();
	staff_b = greeted(b, east);
	send_a = greeted(a, north);
	cr_assert_eq(raw_count_inbox(staff_b, 6), 0, "the inbox starts empty (and is cached)");
	net_pg_server_stop();
	net_pg_server_start();
	cr_assert(net_log_wait(b, "msg=\"database reconnected\" connection=listener"),
	          "hub B's news connection did not come back");
	/* Hub A's writer finds its connection gone at the first try, then reconnects. */
	while (submit_try(send_a, "after-restart", id, true) != REFEX__STATUS_CODE__STATUS_OK) {
		cr_assert_lt(++tries, HARNESS_READ_TIMEOUT_MS / WAIT_STEP_MS,
		             "hub A did not recover");
		poll(NULL, 0, WAIT_STEP_MS);
	}
	cr_expect_eq(inbox_wait(staff_b, 1), 1, "hub B still serves its stale inbox page");
	raw_free(staff_b);
	raw_free(send_a);
}
