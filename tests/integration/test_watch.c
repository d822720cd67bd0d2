/* Nothing lost, nothing twice: watching events (live and replayed with since), idempotency
 * keys on submissions and changes, and overdue referrals — over the wire, against refexd. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

static struct net *net;
static const char *north, *east;

static void start(const char *extra)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Okafor");
	cr_assert_eq(net_write_config(net, extra), 0, "cannot write the config");
	net_must_start(net);
}

static void setup(void)
{
	start(NET_DEFAULT_AGENCIES);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(watch, .init = setup, .fini = teardown, .timeout = 120);

static struct raw *greeted(const char *prefix)
{
	struct raw *c = raw_connect(net, prefix, NULL);

	cr_assert_not_null(c, "raw TLS connection failed");
	cr_assert_eq(raw_hello(c), 0, "Hello was refused");
	return c;
}

/* Call and expect a status; return the message (free it) or NULL if freed already. */
static Refex__ServerMessage *call_expect(struct raw *c, const Refex__Request *req,
                                         Refex__StatusCode want, const char *what)
{
	Refex__ServerMessage *m = raw_call(c, req);

	cr_assert_not_null(m, "%s: no answer", what);
	cr_assert_eq(m->response->status->code, want, "%s: status %d (%s), expected %d", what,
	             (int)m->response->status->code,
	             m->response->status->message ? m->response->status->message : "", (int)want);
	return m;
}

/* Start watching on c (since < 0: from now); return the WatchReply's last_seq. */
static uint64_t watch(struct raw *c, long long since)
{
	long long last = raw_watch(c, since);

	cr_assert_geq(last, 0, "the watch was refused");
	return (uint64_t)last;
}

/* Read the next message, which must be an event; the caller frees it. */
static Refex__ServerMessage *next_event(struct raw *c, int timeout_ms)
{
	Refex__ServerMessage *m = raw_read_message(c, timeout_ms);

	cr_assert_not_null(m, "no event arrived");
	cr_assert_eq(m->body_case, REFEX__SERVER_MESSAGE__BODY_EVENT, "expected an event");
	return m;
}

/* Submit as north (with an idempotency key, or NULL) and return the status; id gets the id. */
static Refex__StatusCode submit(struct raw *c, const char *key, const char *given, char *id)
{
	struct raw_submit s;
	Refex__ServerMessage *m;
	Refex__StatusCode code;

	raw_submit_init(&s, 21, given);
	s.req.idempotency_key = (char *)key;
	m = raw_call(c, &s.req);
	cr_assert_not_null(m, "submit: no answer");
	code = m->response->status->code;
	if (code == REFEX__STATUS_CODE__STATUS_OK && id != NULL) {
		snprintf(id, 17, "%s", m->response->referral->id);
	}
	refex__server_message__free_unpacked(m, NULL);
	return code;
}

/* Act on a referral (with an idempotency key, or NULL); return the resulting state or -status. */
static int update(struct raw *c, const char *id, Refex__Action action, const char *key)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__UpdateStatus u = REFEX__UPDATE_STATUS__INIT;
	Refex__ServerMessage *m;
	int out;

	u.id = (char *)id;
	u.has_action = 1;
	u.action = action;
	u.reason = "no capacity this month";
	req.has_id = 1;
	req.id = 31;
	req.body_case = REFEX__REQUEST__BODY_UPDATE;
	req.update = &u;
	req.idempotency_key = (char *)key;
	m = raw_call(c, &req);
	cr_assert_not_null(m, "update: no answer");
	out = m->response->status->code == REFEX__STATUS_CODE__STATUS_OK
	          ? (int)m->response->referral->state
	          : -(int)m->response->status->code;
	refex__server_message__free_unpacked(m, NULL);
	return out;
}

/* List east's inbox (only the overdue ones if asked); the caller frees the message. */
static Refex__ServerMessage *inbox(struct raw *c, bool overdue_only)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListReferrals l = REFEX__LIST_REFERRALS__INIT;

	l.has_overdue_only = overdue_only;
	l.overdue_only = overdue_only;
	req.has_id = 1;
	req.id = 41;
	req.body_case = REFEX__REQUEST__BODY_LIST_INBOX;
	req.list_inbox = &l;
	return call_expect(c, &req, REFEX__STATUS_CODE__STATUS_OK, "inbox");
}

Test(watch, a_watcher_sees_a_new_referral_and_then_its_change)
{
	/* The staff connection says Hello first: a watcher must be found behind idle sessions. */
	struct raw *sender = greeted(north), *staff = greeted(east), *watcher = greeted(east);
	Refex__ServerMessage *m;
	Refex__Event *ev;
	uint64_t last = watch(watcher, -1);
	char id[17];

	cr_assert_eq(submit(sender, NULL, "Pat", id), REFEX__STATUS_CODE__STATUS_OK);
	m = next_event(watcher, HARNESS_READ_TIMEOUT_MS);
	ev = m->event;
	cr_expect_eq(ev->seq, last + 1, "seq %llu follows %llu", (unsigned long long)ev->seq,
	             (unsigned long long)last);
	cr_expect_eq(ev->kind, REFEX__EVENT_KIND__EVENT_SUBMITTED);
	cr_expect_str_eq(ev->referral->id, id);
	cr_expect_str_eq(ev->referral->sender, "north-advice");
	cr_expect_eq(ev->change->to, REFEX__STATE__STATE_SENT);
	refex__server_message__free_unpacked(m, NULL);

	cr_assert_eq(update(staff, id, REFEX__ACTION__ACTION_DECLINE, NULL),
	             REFEX__STATE__STATE_DECLINED);
	m = next_event(watcher, HARNESS_READ_TIMEOUT_MS);
	ev = m->event;
	cr_expect_eq(ev->seq, last + 2);
	cr_expect_eq(ev->kind, REFEX__EVENT_KIND__EVENT_CHANGED);
	cr_expect_eq(ev->change->from, REFEX__STATE__STATE_SENT);
	cr_expect_eq(ev->change->to, REFEX__STATE__STATE_DECLINED);
	cr_expect_str_eq(ev->change->agency, "eastside-housing");
	cr_expect_str_eq(ev->change->reason, "no capacity this month");
	cr_expect_eq(ev->referral->state, REFEX__STATE__STATE_DECLINED);
	refex__server_message__free_unpacked(m, NULL);
	raw_free(sender);
	raw_free(watcher);
	raw_free(staff);
}

Test(watch, since_replays_exactly_what_was_missed_then_goes_live)
{
	struct raw *sender = greeted(north), *watcher = greeted(east);
	uint64_t last = watch(watcher, -1);
	Refex__ServerMessage *m;
	char ids[4][17];

	raw_free(watcher); /* the watcher drops out */
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(submit(sender, NULL, "Pat", ids[i]), REFEX__STATUS_CODE__STATUS_OK);
	}
	watcher = greeted(east);
	cr_expect_eq(watch(watcher, (long long)last), last + 3, "the reply says the newest seq");
	for (int i = 0; i < 3; i++) {
		m = next_event(watcher, HARNESS_READ_TIMEOUT_MS);
		cr_expect_eq(m->event->seq, last + 1 + (uint64_t)i);
		cr_expect_str_eq(m->event->referral->id, ids[i], "replayed in order");
		refex__server_message__free_unpacked(m, NULL);
	}
	/* Nothing more was replayed: the next message is the answer to this request. */
	cr_expect_eq(raw_list_forms(watcher, 99), 3, "an extra event came before the answer");
	cr_assert_eq(submit(sender, NULL, "Pat", ids[3]), REFEX__STATUS_CODE__STATUS_OK);
	m = next_event(watcher, HARNESS_READ_TIMEOUT_MS);
	cr_expect_eq(m->event->seq, last + 4, "live events carry on from the replay");
	cr_expect_str_eq(m->event->referral->id, ids[3]);
	refex__server_message__free_unpacked(m, NULL);
	raw_free(sender);
	raw_free(watcher);
}

Test(watch, sequence_numbers_survive_a_restart_and_are_per_agency)
{
	struct raw *sender = greeted(north), *watcher;
	uint64_t east_last, north_last;
	char id[17];

	cr_assert_eq(submit(sender, NULL, "Pat", id), REFEX__STATUS_CODE__STATUS_OK);
	raw_free(sender);
	cr_assert_eq(net_stop(net), 0);
	net_must_start(net);
	sender = greeted(north);
	cr_assert_eq(submit(sender, NULL, "Pat", id), REFEX__STATUS_CODE__STATUS_OK);
	watcher = greeted(east);
	east_last = watch(watcher, -1);
	north_last = watch(sender, -1);
	cr_expect_eq(east_last, 2, "eastside's second event is seq 2, not %llu",
	             (unsigned long long)east_last);
	cr_expect_eq(north_last, 2, "north's own count: %llu", (unsigned long long)north_last);
	raw_free(sender);
	raw_free(watcher);
}

Test(watch, since_past_the_newest_event_is_refused)
{
	struct raw *watcher = greeted(east);
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Watch w = REFEX__WATCH__INIT;
	Refex__ServerMessage *m;

	w.has_since = 1;
	w.since = 1000;
	req.has_id = 1;
	req.id = 5;
	req.body_case = REFEX__REQUEST__BODY_WATCH;
	req.watch = &w;
	m = call_expect(watcher, &req, REFEX__STATUS_CODE__STATUS_INVALID, "watch since 1000");
	cr_expect_str_eq(m->response->status->field, "watch.since");
	refex__server_message__free_unpacked(m, NULL);
	raw_free(watcher);
}

Test(watch, a_repeated_submission_key_makes_one_referral)
{
	struct raw *sender = greeted(north), *staff = greeted(east);
	Refex__ServerMessage *m;
	char first[17], again[17];

	cr_assert_eq(submit(sender, "submit-7f3a", "Pat", first), REFEX__STATUS_CODE__STATUS_OK);
	raw_free(sender);
	sender = greeted(north); /* as after a lost connection */
	cr_assert_eq(submit(sender, "submit-7f3a", "Pat", again), REFEX__STATUS_CODE__STATUS_OK);
	cr_expect_str_eq(again, first, "the repeat answers with the first referral");
	m = inbox(staff, false);
	cr_expect_eq(m->response->page->n_referrals, 1, "%zu referrals stored, expected one",
	             m->response->page->n_referrals);
	refex__server_message__free_unpacked(m, NULL);
	cr_expect_eq(submit(sender, "submit-7f3a", "Robin", NULL),
	             REFEX__STATUS_CODE__STATUS_CONFLICT, "the same key for other content");
	cr_expect_eq(submit(sender, "has space", "Pat", NULL), REFEX__STATUS_CODE__STATUS_INVALID);
	cr_expect_eq(submit(sender, "other-key", "Pat", NULL), REFEX__STATUS_CODE__STATUS_OK,
	             "a new key is a new referral");
	raw_free(sender);
	raw_free(staff);
}

Test(watch, a_repeated_change_key_gets_the_first_answer_not_a_conflict)
{
	struct raw *sender = greeted(north), *staff = greeted(east);
	Refex__ServerMessage *m;
	char id[17];

	cr_assert_eq(submit(sender, NULL, "Pat", id), REFEX__STATUS_CODE__STATUS_OK);
	cr_assert_eq(update(staff, id, REFEX__ACTION__ACTION_ACCEPT, "accept-1"),
	             REFEX__STATE__STATE_ACCEPTED);
	cr_expect_eq(update(staff, id, REFEX__ACTION__ACTION_ACCEPT, "accept-1"),
	             REFEX__STATE__STATE_ACCEPTED, "the retry is answered like the first");
	cr_expect_eq(update(staff, id, REFEX__ACTION__ACTION_ACCEPT, NULL),
	             -REFEX__STATUS_CODE__STATUS_CONFLICT, "without the key it is a conflict");
	cr_expect_eq(update(staff, id, REFEX__ACTION__ACTION_DECLINE, "accept-1"),
	             -REFEX__STATUS_CODE__STATUS_CONFLICT, "the key, reused for a decline");
	m = inbox(staff, false);
	cr_expect_eq(m->response->page->referrals[0]->state, REFEX__STATE__STATE_ACCEPTED);
	refex__server_message__free_unpacked(m, NULL);
	raw_free(sender);
	raw_free(staff);
}

TestSuite(overdue, .fini = teardown, .timeout = 120);

Test(overdue, an_unanswered_referral_becomes_overdue_with_an_event)
{
	struct raw *sender, *watcher, *staff;
	Refex__ServerMessage *m;
	char id[17];

	start(NET_DEFAULT_AGENCIES "\n[form housing_support]\nacknowledge_within = 1s\n");
	sender = greeted(north);
	watcher = greeted(east);
	staff = greeted(east);
	watch(watcher, -1);
	cr_assert_eq(submit(sender, NULL, "Pat", id), REFEX__STATUS_CODE__STATUS_OK);
	m = next_event(watcher, HARNESS_READ_TIMEOUT_MS);
	cr_expect_eq(m->event->kind, REFEX__EVENT_KIND__EVENT_SUBMITTED);
	cr_expect(m->event->referral->has_due_at && m->event->referral->due_at > 0,
	          "the referral carries its due time");
	refex__server_message__free_unpacked(m, NULL);
	/* Due in a second; the sweep runs every second. */
	m = next_event(watcher, 10000);
	cr_expect_eq(m->event->kind, REFEX__EVENT_KIND__EVENT_OVERDUE);
	cr_expect_str_eq(m->event->referral->id, id);
	cr_expect(m->event->referral->overdue, "the event's referral is flagged overdue");
	refex__server_message__free_unpacked(m, NULL);
	m = inbox(staff, true);
	cr_assert_eq(m->response->page->n_referrals, 1, "inbox --overdue lists it");
	cr_expect(m->response->page->referrals[0]->overdue);
	refex__server_message__free_unpacked(m, NULL);
	cr_assert_eq(update(staff, id, REFEX__ACTION__ACTION_ACCEPT, NULL),
	             REFEX__STATE__STATE_ACCEPTED);
	m = inbox(staff, true);
	cr_expect_eq(m->response->page->n_referrals, 0, "accepted: no longer overdue");
	refex__server_message__free_unpacked(m, NULL);
	m = inbox(staff, false);
	cr_expect_not(m->response->page->referrals[0]->overdue);
	refex__server_message__free_unpacked(m, NULL);
	raw_free(sender);
	raw_free(watcher);
	raw_free(staff);
}
