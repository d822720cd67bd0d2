/* Changes that survive a bad network (idempotency keys and retries) and referrals that wait too
 * long (due times, overdue flags and events), through the real refex against a real refexd. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_bg.h"
#include "harness_proxy.h"

#define OVERDUE_TIMEOUT_MS 30000

static struct net *net;
static const char *north; /* north-advice: refers clients on */
static const char *east;  /* eastside-housing: receives housing referrals */
static struct proxy *proxy;
static struct bg *watcher;

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

TestSuite(client_retry, .init = setup, .fini = teardown, .timeout = 180);

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

/* Run refex BOX --json [--overdue] as who; return the page (fails the test unless it ran). */
static json_t *box_json(const char *who, const char *box, bool overdue)
{
	struct run_result r;
	json_t *page;

	if (overdue) {
		run_refex(&r, net, who, box, "--json", "--overdue", NULL);
	} else {
		run_refex(&r, net, who, box, "--json", NULL);
	}
	cr_assert_eq(r.status, 0, "refex %s exited %d: %s", box, r.status, r.err);
	page = run_json(&r);
	cr_assert(json_is_object(page), "refex %s --json printed:\n%s", box, r.out);
	run_result_free(&r);
	return page;
}

/* How many referrals a listing holds, and whether id is one of them. */
static size_t listed(const json_t *page, const char *id, bool *found)
{
	const json_t *list = json_object_get(page, "referrals");
	json_t *ref;
	size_t i;

	*found = false;
	json_array_foreach(list, i, ref)
	{
		if (strcmp(str(ref, "id"), id) == 0) {
			*found = true;
		}
	}
	return json_array_size(list);
}

/* Count refexd's log lines holding text. */
static int log_count(const char *text)
{
	char *log = net_read_log(net), *s = log;
	int n = 0;

	while ((s = strstr(s, text)) != NULL) {
		n++;
		s += strlen(text);
	}
	free(log);
	return n;
}

/* Submit as north with extra arguments (up to two), returning the run. */
static int submit(struct run_result *r, const char *data, const char *x1, const char *x2,
                  const char *x3, const char *x4)
{
	return run_refex(r, net, north, "submit", "--to", "eastside-housing", "--form",
	                 "housing_support", "--client", FIXTURE("client.json"), "--consent",
	                 FIXTURE("consent.json"), "--data", data, x1, x2, x3, x4, NULL);
}

Test(client_retry, a_submission_cut_off_before_its_reply_is_retried_and_made_once)
{
	struct run_result r;
	json_t *page;
	bool found;

	net_must_start(net);
	proxy = proxy_start(net);
	/* The hub commits the submission; the client never sees the reply. */
	proxy_cut_after_log(proxy, "type=submit status=OK");
	submit(&r, FIXTURE("housing.json"), "--server", proxy_address(proxy), "--verbose", NULL);
	cr_assert_eq(r.status, 0, "refex submit exited %d:\n%s", r.status, r.err);
	cr_assert_eq(strlen(run_line(&r)), REFEX_ID_LEN, "refex submit printed: %s", r.out);
	cr_expect_eq(proxy_cuts(proxy), 1, "the proxy did not cut the reply off");
	cr_expect_geq(proxy_accepted(proxy), 2, "refex did not reconnect");
	cr_expect(strstr(r.err, "refex: idempotency key ") != NULL, "no key with --verbose:\n%s",
	          r.err);
	cr_expect(strstr(r.err, "trying again in") != NULL, "no word of the retry:\n%s", r.err);
	cr_expect_eq(log_count("type=submit status=OK"), 2, "the hub did not see the retry");

	page = box_json(east, "inbox", false);
	cr_expect_eq(listed(page, run_line(&r), &found), 1, "the inbox does not hold one referral");
	cr_expect(found, "the inbox does not hold the referral refex printed");
	json_decref(page);
	page = box_json(north, "sent", false);
	cr_expect_eq(listed(page, run_line(&r), &found), 1, "sent does not hold one referral");
	json_decref(page);
	run_result_free(&r);
	net_expect_clean_stop(net);
}

Test(client_retry, an_accept_cut_off_before_its_reply_is_retried_and_answered_as_the_first)
{
	char id[REFEX_ID_LEN + 1];
	struct run_result r;

	net_must_start(net);
	submit_housing(net, north, FIXTURE("housing.json"), id);
	proxy = proxy_start(net);
	proxy_cut_after_log(proxy, "type=update status=OK");
	run_refex(&r, net, east, "accept", id, "--server", proxy_address(proxy), NULL);
	cr_expect_eq(r.status, 0, "refex accept exited %d:\n%s", r.status, r.err);
	cr_expect(strstr(r.out, " accepted") != NULL, "refex accept printed: %s", r.out);
	cr_expect_eq(proxy_cuts(proxy), 1, "the proxy did not cut the reply off");
	cr_expect(strstr(r.err, "trying again in") != NULL, "no word of the retry:\n%s", r.err);
	run_result_free(&r);
	net_expect_clean_stop(net);
}

Test(client_retry, the_same_key_is_the_same_referral_and_other_content_under_it_is_refused)
{
	struct run_result r1, r2, r3;
	char *other;

	net_must_start(net);
	other = net_write_file(net, "housing-other.json",
	                       "{\"currentSituation\": \"AT_RISK_OF_EVICTION\", \"tenure\": "
	                       "\"PRIVATE_RENTED\", \"dateAtRisk\": \"2099-01-31\"}\n");
	cr_assert_not_null(other);
	submit(&r1, FIXTURE("housing.json"), "--idempotency-key", "amira-housing-1", NULL, NULL);
	cr_assert_eq(r1.status, 0, "refex submit exited %d: %s", r1.status, r1.err);
	submit(&r2, FIXTURE("housing.json"), "--idempotency-key", "amira-housing-1", NULL, NULL);
	cr_assert_eq(r2.status, 0, "the repeat exited %d: %s", r2.status, r2.err);
	cr_expect_str_eq(run_line(&r2), run_line(&r1), "the repeat made another referral");

	submit(&r3, other, "--idempotency-key", "amira-housing-1", NULL, NULL);
	cr_expect_eq(r3.status, 1, "other content under a used key exited %d: %s", r3.status,
	             r3.err);
	cr_expect(strstr(r3.err, "this idempotency key was already used for a different request"),
	          "refex said: %s", r3.err);
	cr_expect(strstr(r3.err, "leave out --idempotency-key"), "refex gave no advice: %s",
	          r3.err);
	cr_expect_str_eq(r3.out, "");
	run_result_free(&r1);
	run_result_free(&r2);
	run_result_free(&r3);
	free(other);
	net_expect_clean_stop(net);
}

Test(client_retry, a_bad_key_is_a_usage_error)
{
	/* Empty, a control character, not ASCII, and 65 characters. */
	static const char *const bad[] = {
	    "", "tab\there", "caf\xc3\xa9",
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefX"};
	struct run_result r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_refex(&r, net, north, "accept", "0000000000000000", "--idempotency-key", bad[i],
		          NULL);
		cr_expect_eq(r.status, 2, "key %zu: exit %d: %s", i, r.status, r.err);
		cr_expect(strstr(r.err, "--idempotency-key wants 1-64 printable ASCII"), "%s",
		          r.err);
		run_result_free(&r);
	}
}

Test(client_retry, when_no_attempt_reaches_the_hub_refex_says_nothing_was_done)
{
	char id[REFEX_ID_LEN + 1];
	struct run_result r;

	net_must_start(net);
	submit_housing(net, north, FIXTURE("housing.json"), id);
	net_expect_clean_stop(net);
	run_refex(&r, net, east, "accept", id, "--idempotency-key", "accept-once-42", NULL);
	cr_expect_eq(r.status, 3, "refex accept with no hub exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "connection refused"), "%s", r.err);
	cr_expect(strstr(r.err, "gave up after 4 attempts; the request never reached the hub, so "
	                        "nothing was done"),
	          "%s", r.err);
	cr_expect(strstr(r.err, "may or may not") == NULL, "%s", r.err);
	cr_expect(strstr(r.err, "--idempotency-key") == NULL, "no key is needed: %s", r.err);
	run_result_free(&r);
}

/* Wait (bounded) until refex inbox --overdue lists id; return that listing's entry. */
static json_t *wait_overdue(const char *id)
{
	for (int waited = 0; waited < OVERDUE_TIMEOUT_MS; waited += 100) {
		json_t *page = box_json(east, "inbox", true), *ref;
		size_t i;

		json_array_foreach(json_object_get(page, "referrals"), i, ref)
		{
			if (strcmp(str(ref, "id"), id) == 0) {
				json_incref(ref);
				json_decref(page);
				return ref;
			}
		}
		json_decref(page);
		poll(NULL, 0, 100);
	}
	cr_assert_fail("referral %s never showed as overdue", id);
	return NULL;
}

Test(client_retry, a_referral_not_answered_in_time_is_flagged_and_its_watchers_told)
{
	char id[REFEX_ID_LEN + 1], *line;
	struct run_result r;
	json_t *ref, *ev, *page;
	bool found;

	cr_assert_eq(net_write_config(net, NET_DEFAULT_AGENCIES
	                              "\n[form housing_support]\nacknowledge_within = 1s\n"),
	             0);
	net_must_start(net);
	watcher = bg_refex(net, NULL, north, "watch", "--json", NULL);
	cr_assert(bg_err_wait(watcher, "watching north-advice from seq", 1, OVERDUE_TIMEOUT_MS),
	          "%s", bg_err(watcher));
	submit_housing(net, north, FIXTURE("housing.json"), id);

	ref = wait_overdue(id);
	cr_expect(json_is_true(json_object_get(ref, "overdue")));
	cr_expect_neq(str(ref, "dueAt")[0], '\0', "an overdue referral without a due time");
	json_decref(ref);
	page = box_json(north, "sent", true);
	listed(page, id, &found);
	cr_expect(found, "refex sent --overdue does not list it");
	json_decref(page);

	run_refex(&r, net, east, "inbox", NULL);
	cr_expect(strstr(r.out, "DUE") && strstr(r.out, "sent OVERDUE"), "refex inbox:\n%s", r.out);
	run_result_free(&r);
	run_refex(&r, net, north, "show", id, NULL);
	cr_expect(strstr(r.out, "due by") && strstr(r.out, "(overdue)"), "refex show:\n%s", r.out);
	run_result_free(&r);

	/* The sender's watcher: submitted, then overdue. */
	for (int i = 0; i < 2; i++) {
		line = bg_line(watcher, OVERDUE_TIMEOUT_MS);
		cr_assert_not_null(line, "no event %d: %s", i, bg_err(watcher));
		ev = json_loads(line, 0, NULL);
		cr_assert_not_null(ev, "%s", line);
		cr_expect_str_eq(str(json_object_get(ev, "referral"), "id"), id);
		cr_expect_str_eq(str(ev, "kind"), i == 0 ? "EVENT_SUBMITTED" : "EVENT_OVERDUE");
		if (i == 1) {
			cr_expect(json_is_true(
			              json_object_get(json_object_get(ev, "referral"), "overdue")),
			          "%s", line);
		}
		json_decref(ev);
		free(line);
	}
	cr_expect_eq(bg_stop(watcher, SIGTERM), 0);
	net_expect_clean_stop(net);
}
