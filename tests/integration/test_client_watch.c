/* refex watch as a receiving agency lives it: events arrive as they happen, nothing is missed
 * or repeated across a stop, a cut connection or a hub restart, and a quiet watch stays up. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_bg.h"
#include "harness_proxy.h"

#define EVENT_TIMEOUT_MS 30000 /* covers a reconnect's backoff as well as a loaded machine */

static struct net *net;
static const char *north; /* north-advice: refers clients on */
static const char *east;  /* eastside-housing: receives housing referrals and watches */
static struct bg *watcher;
static struct proxy *proxy;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Jones");
}

static void teardown(void)
{
	bg_free(watcher);
	watcher = NULL;
	proxy_free(proxy);
	proxy = NULL;
	net_teardown(net);
	net = NULL;
}

TestSuite(client_watch, .init = setup, .fini = teardown, .timeout = 180);

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

/* Start refex watch as east with args (NULL-terminated after server), and wait until it says it
 * is watching. */
static struct bg *start_watch(const char *server, const char *since)
{
	struct bg *b = since
	                   ? bg_refex(net, server, east, "watch", "--json", "--since", since, NULL)
	                   : bg_refex(net, server, east, "watch", "--json", NULL);

	cr_assert(bg_err_wait(b, "watching eastside-housing from seq", 1, EVENT_TIMEOUT_MS),
	          "refex watch did not start watching:\n%s", bg_err(b));
	return b;
}

/* Read the watcher's next event line as JSON. */
static json_t *next_event(struct bg *b)
{
	char *line = bg_line(b, EVENT_TIMEOUT_MS);
	json_error_t e;
	json_t *ev;

	cr_assert_not_null(line, "refex watch printed no event in time; stderr:\n%s", bg_err(b));
	ev = json_loads(line, 0, &e);
	cr_assert(json_is_object(ev), "refex watch printed \"%s\", not a JSON object", line);
	free(line);
	return ev;
}

/* The event's sequence number (a string in the canonical mapping of uint64). */
static uint64_t seq_of(const json_t *ev)
{
	return strtoull(str(ev, "seq"), NULL, 10);
}

/* Expect the next event to be kind on referral id; return its seq. */
static uint64_t expect_event(struct bg *b, const char *kind, const char *id)
{
	json_t *ev = next_event(b), *ref = json_object_get(ev, "referral");
	uint64_t seq = seq_of(ev);

	cr_expect_str_eq(str(ev, "kind"), kind);
	cr_expect_str_eq(str(ref, "id"), id, "event %" PRIu64 " is about another referral", seq);
	cr_expect_gt(seq, 0);
	json_decref(ev);
	return seq;
}

static void withdraw(const char *id, const char *reason)
{
	struct run_result r;

	run_refex(&r, net, north, "withdraw", id, "--reason", reason, NULL);
	cr_assert_eq(r.status, 0, "refex withdraw exited %d: %s", r.status, r.err);
	run_result_free(&r);
}

Test(client_watch, a_receiver_sees_a_referral_arrive_and_the_change_that_follows)
{
	struct bg *table;
	char id[REFEX_ID_LEN + 1], *line;
	json_t *ev, *change;
	uint64_t seq;

	net_must_start(net);
	watcher = start_watch(NULL, NULL);
	table = bg_refex(net, NULL, east, "watch", NULL);
	cr_assert(bg_err_wait(table, "watching eastside-housing from seq", 1, EVENT_TIMEOUT_MS));

	submit_housing(net, north, FIXTURE("housing.json"), id);
	ev = next_event(watcher);
	seq = seq_of(ev);
	cr_expect_str_eq(str(ev, "kind"), "EVENT_SUBMITTED");
	cr_expect_str_eq(str(json_object_get(ev, "referral"), "id"), id);
	cr_expect_str_eq(str(json_object_get(ev, "referral"), "sender"), "north-advice");
	cr_expect_str_eq(str(json_object_get(ev, "referral"), "state"), "STATE_SENT");
	json_decref(ev);

	withdraw(id, "client moved out of the area");
	ev = next_event(watcher);
	change = json_object_get(ev, "change");
	cr_expect_eq(seq_of(ev), seq + 1, "the change is not the next event");
	cr_expect_str_eq(str(ev, "kind"), "EVENT_CHANGED");
	cr_expect_str_eq(str(change, "from"), "STATE_SENT");
	cr_expect_str_eq(str(change, "to"), "STATE_WITHDRAWN");
	cr_expect_str_eq(str(change, "agency"), "north-advice");
	cr_expect_str_eq(str(change, "reason"), "client moved out of the area");
	json_decref(ev);

	/* The same two events, one line each, for people. */
	line = bg_line(table, EVENT_TIMEOUT_MS);
	cr_assert_not_null(line, "refex watch (table) printed nothing: %s", bg_err(table));
	cr_expect(strstr(line, "submitted") && strstr(line, id) &&
	              strstr(line, "north-advice -> eastside-housing") &&
	              strstr(line, "housing_support"),
	          "table line: %s", line);
	free(line);
	line = bg_line(table, EVENT_TIMEOUT_MS);
	cr_assert_not_null(line);
	cr_expect(strstr(line, "changed") &&
	              strstr(line, "sent -> withdrawn by north-advice (Priya Shah): client moved"),
	          "table line: %s", line);
	free(line);

	cr_expect_eq(bg_stop(table, SIGINT), 0, "refex watch did not end cleanly on SIGINT");
	bg_free(table);
	cr_expect_eq(bg_stop(watcher, SIGTERM), 0, "refex watch did not end cleanly on SIGTERM");
	net_expect_clean_stop(net);
}

Test(client_watch, a_watcher_stopped_during_three_submissions_gets_exactly_those_three_on_since)
{
	char first[REFEX_ID_LEN + 1], ids[4][REFEX_ID_LEN + 1], since[32];
	uint64_t last;

	net_must_start(net);
	watcher = start_watch(NULL, NULL);
	submit_housing(net, north, FIXTURE("housing.json"), first);
	last = expect_event(watcher, "EVENT_SUBMITTED", first);
	bg_stop(watcher, SIGKILL);
	bg_free(watcher);

	for (int i = 0; i < 3; i++) {
		submit_housing(net, north, FIXTURE("housing.json"), ids[i]);
	}
	snprintf(since, sizeof(since), "%" PRIu64, last);
	watcher = start_watch(NULL, since);
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(expect_event(watcher, "EVENT_SUBMITTED", ids[i]), last + 1 + i);
	}
	/* Nothing else was replayed: the next event is the next live one. */
	submit_housing(net, north, FIXTURE("housing.json"), ids[3]);
	cr_expect_eq(expect_event(watcher, "EVENT_SUBMITTED", ids[3]), last + 4);
	cr_expect_eq(bg_stop(watcher, SIGINT), 0);
	net_expect_clean_stop(net);
}

Test(client_watch, a_cut_connection_is_resumed_without_missing_or_repeating_an_event)
{
	char a[REFEX_ID_LEN + 1], b[REFEX_ID_LEN + 1], c[REFEX_ID_LEN + 1];
	uint64_t seq;

	net_must_start(net);
	proxy = proxy_start(net);
	watcher = start_watch(proxy_address(proxy), NULL);
	submit_housing(net, north, FIXTURE("housing.json"), a);
	seq = expect_event(watcher, "EVENT_SUBMITTED", a);

	proxy_cut_all(proxy);
	submit_housing(net, north, FIXTURE("housing.json"), b);
	cr_expect_eq(expect_event(watcher, "EVENT_SUBMITTED", b), seq + 1);
	submit_housing(net, north, FIXTURE("housing.json"), c);
	cr_expect_eq(expect_event(watcher, "EVENT_SUBMITTED", c), seq + 2);
	cr_expect(strstr(bg_err(watcher), "connection lost: ") &&
	              strstr(bg_err(watcher), "; reconnecting in "),
	          "refex watch did not say it lost the connection:\n%s", bg_err(watcher));
	cr_expect_geq(proxy_accepted(proxy), 2, "refex watch did not reconnect");
	cr_expect_eq(bg_stop(watcher, SIGTERM), 0);
	net_expect_clean_stop(net);
}

Test(client_watch, a_hub_restart_is_ridden_out)
{
	char a[REFEX_ID_LEN + 1], b[REFEX_ID_LEN + 1];
	uint64_t seq;

	net_must_start(net);
	proxy = proxy_start(net); /* refexd's port changes on restart; the proxy's does not */
	watcher = start_watch(proxy_address(proxy), NULL);
	submit_housing(net, north, FIXTURE("housing.json"), a);
	seq = expect_event(watcher, "EVENT_SUBMITTED", a);

	net_expect_clean_stop(net);
	cr_assert(bg_err_wait(watcher, "reconnecting in", 1, EVENT_TIMEOUT_MS),
	          "refex watch did not notice the hub stopping:\n%s", bg_err(watcher));
	net_must_start(net);
	submit_housing(net, north, FIXTURE("housing.json"), b);
	cr_expect_eq(expect_event(watcher, "EVENT_SUBMITTED", b), seq + 1);
	cr_expect_eq(bg_stop(watcher, SIGTERM), 0);
	net_expect_clean_stop(net);
}

/* Wait until refexd's log holds text count times (bounded). */
static bool log_count_wait(const char *text, int count)
{
	for (int waited = 0; waited < HARNESS_START_TIMEOUT_MS; waited += 20) {
		char *log = net_read_log(net), *s = log;
		int n = 0;

		while ((s = strstr(s, text)) != NULL) {
			n++;
			s += strlen(text);
		}
		free(log);
		if (n >= count) {
			return true;
		}
		poll(NULL, 0, 20);
	}
	return false;
}

Test(client_watch, a_quiet_watch_outlives_the_idle_timeout)
{
	char id[REFEX_ID_LEN + 1];

	cr_assert_eq(net_write_config(net, "[limits]\nidle_timeout = 2\n\n" NET_DEFAULT_AGENCIES),
	             0);
	net_must_start(net);
	watcher = start_watch(NULL, NULL);
	/* Three keepalives, one per second: well past the two-second idle timeout. */
	cr_assert(log_count_wait("type=list_forms", 3), "refex watch sent no keepalives:\n%s",
	          bg_err(watcher));
	submit_housing(net, north, FIXTURE("housing.json"), id);
	expect_event(watcher, "EVENT_SUBMITTED", id);
	cr_expect_null(strstr(bg_err(watcher), "connection lost"),
	               "the hub closed the quiet watch:\n%s", bg_err(watcher));
	cr_expect_eq(bg_stop(watcher, SIGTERM), 0);
	net_expect_clean_stop(net);
}

#define REPLAY_EVENTS 4 /* submitted, overdue, accepted, completed */

/* Read the next line of b (fails the test when none comes in time). */
static char *must_line(struct bg *b)
{
	char *line = bg_line(b, EVENT_TIMEOUT_MS);

	cr_assert_not_null(line, "refex watch printed no event in time; stderr:\n%s", bg_err(b));
	return line;
}

/* Run refex CMD ID [FLAG TEXT] as east and expect it done. */
static void update(const char *id, const char *cmd, const char *flag, const char *text)
{
	struct run_result r;

	run_refex(&r, net, east, cmd, id, flag, text, NULL);
	cr_assert_eq(r.status, 0, "refex %s exited %d: %s", cmd, r.status, r.err);
	run_result_free(&r);
}

/* Start refex watch as east (json: --json) with --since since, waiting until it watches. */
static struct bg *start_replay(const char *since, bool json)
{
	struct bg *b = json ? bg_refex(net, NULL, east, "watch", "--json", "--since", since, NULL)
	                    : bg_refex(net, NULL, east, "watch", "--since", since, NULL);

	cr_assert(bg_err_wait(b, "watching eastside-housing from seq", 1, EVENT_TIMEOUT_MS),
	          "refex watch --since did not start:\n%s", bg_err(b));
	return b;
}

Test(client_watch, an_event_reads_the_same_live_and_replayed)
{
	char id[REFEX_ID_LEN + 1], since[32], *live[2][REPLAY_EVENTS];
	struct bg *table, *replay;
	json_t *ev;
	uint64_t first;

	cr_assert_eq(net_write_config(net, NET_DEFAULT_AGENCIES
	                              "\n[form housing_support]\nacknowledge_within = 1s\n"),
	             0);
	net_must_start(net);
	watcher = start_watch(NULL, NULL);
	table = bg_refex(net, NULL, east, "watch", NULL);
	cr_assert(bg_err_wait(table, "watching eastside-housing from seq", 1, EVENT_TIMEOUT_MS));

	/* Each event read live before the next change: it shows the referral as it was then. */
	submit_housing(net, north, FIXTURE("housing.json"), id);
	for (int i = 0; i < REPLAY_EVENTS; i++) {
		if (i == 2) {
			update(id, "accept", NULL, NULL);
		} else if (i == 3) {
			update(id, "complete", "--outcome", "housed");
		}
		live[0][i] = must_line(watcher);
		live[1][i] = must_line(table);
	}
	ev = json_loads(live[0][0], 0, NULL);
	cr_assert_not_null(ev);
	first = seq_of(ev);
	json_decref(ev);
	cr_expect(strstr(live[1][1], "overdue") && strstr(live[1][1], " sent "),
	          "the overdue event: %s", live[1][1]);

	/* Replayed after the referral moved on to completed, each prints as it did live. */
	snprintf(since, sizeof(since), "%" PRIu64, first - 1);
	for (int k = 0; k < 2; k++) {
		replay = start_replay(since, k == 0);
		for (int i = 0; i < REPLAY_EVENTS; i++) {
			char *line = must_line(replay);

			cr_expect_str_eq(line, live[k][i],
			                 "event %d printed otherwise when replayed:\n%s\n%s", i,
			                 live[k][i], line);
			free(line);
			free(live[k][i]);
		}
		cr_expect_eq(bg_stop(replay, SIGTERM), 0);
		bg_free(replay);
	}
	cr_expect_eq(bg_stop(table, SIGTERM), 0);
	bg_free(table);
	cr_expect_eq(bg_stop(watcher, SIGTERM), 0);
	net_expect_clean_stop(net);
}
