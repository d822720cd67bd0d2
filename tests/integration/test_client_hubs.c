/* refex with several hubs (server = hub1:7443, hub2:7443): a hub that cannot be reached or is
 * lost mid-request is passed over for the next, a write keeps its idempotency key across hubs,
 * a watch resumes on the next hub, and a hub whose certificate fails is never passed over.
 * One refexd plays every live hub: reached directly, or through a proxy that cuts; a dead hub
 * is a loopback port where nothing listens. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "harness_bg.h"
#include "harness_proxy.h"

#define EVENT_TIMEOUT_MS 30000 /* covers a reconnect's backoff as well as a loaded machine */
#define DEAD_MAX         2

static struct net *net;
static const char *north; /* north-advice: refers clients on */
static const char *east;  /* eastside-housing: receives housing referrals and watches */
static struct proxy *proxy;
static struct bg *watcher;
static struct net *other; /* a hub of another network, in a test that needs one */
static int dead_fd[DEAD_MAX] = {-1, -1};
static char dead[DEAD_MAX][32]; /* "127.0.0.1:PORT" where nothing listens */
static char direct[32];         /* the net's refexd, dialled directly */
static char list[256];          /* a server list made by a test */

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
	net_teardown(other);
	other = NULL;
	for (int i = 0; i < DEAD_MAX; i++) {
		if (dead_fd[i] >= 0) {
			close(dead_fd[i]);
			dead_fd[i] = -1;
		}
	}
	net_teardown(net);
	net = NULL;
}

TestSuite(client_hubs, .init = setup, .fini = teardown, .timeout = 180);

/* Make dead[i]: a loopback port held until teardown (so that nothing else takes it). Not
 * listening, a connection to it is refused; listening, the connection opens and then nothing
 * answers, as a hub that hangs. */
static const char *dead_port(int i, bool listening)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	dead_fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(dead_fd[i], 0);
	cr_assert_eq(bind(dead_fd[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert(!listening || listen(dead_fd[i], 4) == 0);
	cr_assert_eq(getsockname(dead_fd[i], (struct sockaddr *)&sa, &len), 0);
	snprintf(dead[i], sizeof(dead[i]), "127.0.0.1:%d", ntohs(sa.sin_port));
	return dead[i];
}

/* A hub that refuses connections. */
static const char *dead_hub(int i)
{
	return dead_port(i, false);
}

/* Start the net's refexd and note its direct address. */
static void start_hub(void)
{
	net_must_start(net);
	snprintf(direct, sizeof(direct), "127.0.0.1:%d", net->port);
}

/* Write the server list "a, b" (spaces after the comma, as people write it) into list. */
static const char *two(const char *a, const char *b)
{
	snprintf(list, sizeof(list), "%s, %s", a, b);
	return list;
}

/* Submit a housing referral as north through server (a list), with extra (NULL or a flag). */
static int submit_via(struct run_result *r, const char *server, const char *extra)
{
	return run_refex(r, net, north, "submit", "--to", "eastside-housing", "--form",
	                 "housing_support", "--client", FIXTURE("client.json"), "--consent",
	                 FIXTURE("consent.json"), "--data", FIXTURE("housing.json"), "--server",
	                 server, extra, NULL);
}

/* How many referrals east's inbox lists, and whether id is one of them. */
static size_t inbox_count(const char *id, bool *found)
{
	struct run_result r;
	json_t *page, *ref;
	size_t i, n;

	run_refex(&r, net, east, "inbox", "--json", NULL);
	cr_assert_eq(r.status, 0, "refex inbox exited %d: %s", r.status, r.err);
	page = run_json(&r);
	cr_assert(json_is_object(page), "refex inbox --json printed:\n%s", r.out);
	*found = false;
	json_array_foreach(json_object_get(page, "referrals"), i, ref)
	{
		const char *got = json_string_value(json_object_get(ref, "id"));

		*found |= got && id && strcmp(got, id) == 0;
	}
	n = json_array_size(json_object_get(page, "referrals"));
	json_decref(page);
	run_result_free(&r);
	return n;
}

Test(client_hubs, a_first_hub_that_refuses_connections_is_passed_over_for_the_second)
{
	struct run_result r;
	bool found;

	start_hub();
	dead_hub(0);
	submit_via(&r, two(dead[0], direct), NULL);
	cr_assert_eq(r.status, 0, "refex submit exited %d:\n%s", r.status, r.err);
	cr_expect_eq(strlen(run_line(&r)), REFEX_ID_LEN, "refex submit printed: %s", r.out);
	cr_expect(strstr(r.err, dead[0]) && strstr(r.err, "connection refused") &&
	              strstr(r.err, "using ") && strstr(r.err, direct),
	          "refex did not say it passed over the dead hub:\n%s", r.err);
	cr_expect_eq(inbox_count(run_line(&r), &found), 1);
	cr_expect(found, "the referral refex printed is not in the inbox");
	run_result_free(&r);

	/* A read likewise. */
	run_refex(&r, net, east, "inbox", "--server", two(dead[0], direct), NULL);
	cr_expect_eq(r.status, 0, "refex inbox exited %d:\n%s", r.status, r.err);
	cr_expect(strstr(r.out, "housing_support") != NULL, "refex inbox printed:\n%s", r.out);
	run_result_free(&r);
	net_expect_clean_stop(net);
}

Test(client_hubs, a_first_hub_that_never_answers_the_handshake_is_passed_over)
{
	struct run_result r;

	start_hub();
	dead_port(0, true);
	run_refex(&r, net, east, "inbox", "--server", two(dead[0], direct), NULL);
	cr_expect_eq(r.status, 0, "refex inbox exited %d:\n%s", r.status, r.err);
	cr_expect(strstr(r.err, dead[0]) && strstr(r.err, "did not answer within 10 seconds") &&
	              strstr(r.err, "using ") && strstr(r.err, direct),
	          "refex did not say it passed over the silent hub:\n%s", r.err);
	run_result_free(&r);
	net_expect_clean_stop(net);
}

/* Accept every connection on dead_fd[0] and close it at once, until the socket is shut down:
 * a hub (or a load balancer in front of a dead one) that hangs up in the handshake. */
static void *hang_up_each(void *arg)
{
	int c;

	(void)arg;
	while ((c = accept(dead_fd[0], NULL, NULL)) >= 0) {
		close(c);
	}
	return NULL;
}

Test(client_hubs, a_first_hub_that_hangs_up_in_the_handshake_is_passed_over)
{
	struct run_result r;
	pthread_t t;
	bool found;

	start_hub();
	dead_port(0, true);
	cr_assert_eq(pthread_create(&t, NULL, hang_up_each, NULL), 0);
	submit_via(&r, two(dead[0], direct), NULL);
	shutdown(dead_fd[0], SHUT_RDWR);
	pthread_join(t, NULL);
	cr_assert_eq(r.status, 0, "refex submit exited %d:\n%s", r.status, r.err);
	cr_expect(strstr(r.err, dead[0]) && strstr(r.err, "using ") && strstr(r.err, direct),
	          "refex did not say it passed over the hub that hung up:\n%s", r.err);
	cr_expect_eq(inbox_count(run_line(&r), &found), 1);
	cr_expect(found, "the referral refex printed is not in the inbox");
	run_result_free(&r);
	net_expect_clean_stop(net);
}

Test(client_hubs, a_single_hub_that_hangs_up_in_the_handshake_is_tried_again)
{
	struct run_result r;
	pthread_t t;

	dead_port(0, true);
	cr_assert_eq(pthread_create(&t, NULL, hang_up_each, NULL), 0);
	submit_via(&r, dead[0], NULL);
	shutdown(dead_fd[0], SHUT_RDWR);
	pthread_join(t, NULL);
	cr_expect_eq(r.status, 3, "refex submit exited %d:\n%s", r.status, r.err);
	cr_expect(strstr(r.err, "trying again in") && strstr(r.err, "attempt 4 of 4") &&
	              strstr(r.err, "gave up after 4 attempts; nothing was sent"),
	          "refex did not try the hub again before giving up:\n%s", r.err);
	run_result_free(&r);
}

Test(client_hubs, a_submission_cut_off_on_the_first_hub_is_made_once_through_the_next)
{
	struct run_result r;
	bool found;

	start_hub();
	proxy = proxy_start(net);
	/* The first hub commits the submission and dies before its reply gets out. */
	proxy_cut_after_log(proxy, "type=submit status=OK");
	submit_via(&r, two(proxy_address(proxy), direct), "--verbose");
	cr_assert_eq(r.status, 0, "refex submit exited %d:\n%s", r.status, r.err);
	cr_assert_eq(strlen(run_line(&r)), REFEX_ID_LEN, "refex submit printed: %s", r.out);
	cr_expect_eq(proxy_cuts(proxy), 1, "the proxy did not cut the reply off");
	cr_expect_eq(proxy_accepted(proxy), 1, "refex went back to the hub it lost");
	cr_expect(strstr(r.err, proxy_address(proxy)) && strstr(r.err, "trying the next hub now"),
	          "refex did not say it moved on:\n%s", r.err);
	cr_expect(strstr(r.err, "trying again in") == NULL, "refex waited before moving on:\n%s",
	          r.err);
	/* One key for both hubs: said once, and the second hub answered with the first's work. */
	cr_expect(strstr(r.err, "idempotency key ") &&
	              strstr(strstr(r.err, "idempotency key ") + 1, "idempotency key ") == NULL,
	          "%s", r.err);
	cr_expect_eq(net_log_count(net, "type=submit status=OK"), 2,
	             "the hub did not see the retry");
	cr_expect_eq(inbox_count(run_line(&r), &found), 1, "not exactly one referral was made");
	cr_expect(found, "the inbox does not hold the referral refex printed");
	run_result_free(&r);
	net_expect_clean_stop(net);
}

Test(client_hubs, a_read_cut_off_on_the_first_hub_is_asked_of_the_next)
{
	char id[REFEX_ID_LEN + 1];
	struct run_result r;

	start_hub();
	submit_housing(net, north, FIXTURE("housing.json"), id);
	proxy = proxy_start(net);
	proxy_cut_after_log(proxy, "type=get ");
	run_refex(&r, net, east, "show", id, "--server", two(proxy_address(proxy), direct), NULL);
	cr_expect_eq(r.status, 0, "refex show exited %d:\n%s", r.status, r.err);
	cr_expect(strstr(r.out, id) != NULL, "refex show printed:\n%s", r.out);
	cr_expect_eq(proxy_cuts(proxy), 1, "the proxy did not cut the reply off");
	cr_expect(strstr(r.err, "asking the next hub") != NULL, "%s", r.err);
	run_result_free(&r);
	net_expect_clean_stop(net);
}

Test(client_hubs, when_every_hub_is_down_refex_names_each_and_what_happened)
{
	struct run_result r;

	dead_hub(0);
	dead_hub(1);
	run_refex(&r, net, east, "inbox", "--server", two(dead[0], dead[1]), NULL);
	cr_expect_eq(r.status, 3, "refex inbox exited %d:\n%s", r.status, r.err);
	cr_expect(strstr(r.err, "no hub answered (2 tried)") != NULL, "%s", r.err);
	for (int i = 0; i < DEAD_MAX; i++) {
		char said[128];

		snprintf(said, sizeof(said), "could not connect to %s: connection refused",
		         dead[i]);
		cr_expect(strstr(r.err, said) != NULL, "refex did not name %s:\n%s", dead[i],
		          r.err);
	}
	run_result_free(&r);

	/* A write tries them all on each attempt, then says nothing was done. */
	run_refex(&r, net, east, "accept", "0000000000000000", "--server", two(dead[0], dead[1]),
	          NULL);
	cr_expect_eq(r.status, 3, "refex accept exited %d:\n%s", r.status, r.err);
	cr_expect(strstr(r.err, "no hub answered (2 tried)") && strstr(r.err, dead[1]), "%s",
	          r.err);
	cr_expect(strstr(r.err, "the request never reached the hub, so nothing was done"), "%s",
	          r.err);
	run_result_free(&r);
}

Test(client_hubs, bad_server_lists_are_refused_naming_the_bad_entry)
{
	static const char *const bad[][2] = {
	    {"127.0.0.1:7443, hub-two",
	     "bad server address 'hub-two' (hub 2 of 2 in the server list)"},
	    {"127.0.0.1:7443,,127.0.0.1:7444", "empty entry (number 2 of 3)"},
	    {"127.0.0.1:7443,", "empty entry (number 2 of 2)"},
	    {"127.0.0.1:7443, 127.0.0.1:7443", "hub '127.0.0.1:7443' is listed twice"},
	    {"127.0.0.1:7443, ::1:7443", "bad server address '::1:7443' (hub 2 of 2"},
	    {"127.0.0.1:7443, hub two:7443", "bad server address 'hub two:7443'"},
	    {"a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1,j:1,k:1,l:1,m:1,n:1,o:1,p:1,q:1",
	     "names 17 hubs; refex takes at most 16"},
	};
	struct run_result r;
	char *conf;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_refex(&r, net, east, "inbox", "--server", bad[i][0], NULL);
		cr_expect_eq(r.status, 2, "--server '%s' exited %d: %s", bad[i][0], r.status,
		             r.err);
		cr_expect(strstr(r.err, bad[i][1]) != NULL, "--server '%s': refex said:\n%s",
		          bad[i][0], r.err);
		run_result_free(&r);
	}
	/* The same in the config file. */
	conf = net_write_file(net, "hubs.conf", "server = 127.0.0.1:7443, [::1]7443\n");
	cr_assert_not_null(conf);
	run_refex(&r, net, NULL, "--config", conf, "--cert", "x.crt", "--key", "x.key", "--ca",
	          net->ca, "inbox", NULL);
	cr_expect_eq(r.status, 2, "a bad list in the config exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "bad server address '[::1]7443' (hub 2 of 2") != NULL, "%s", r.err);
	run_result_free(&r);
	free(conf);
}

Test(client_hubs, spaces_and_bracketed_ipv6_entries_are_taken)
{
	struct run_result r;
	char spaced[128];

	start_hub();
	/* [::1]: nothing of the test listens there, so it is passed over like any dead hub. */
	snprintf(spaced, sizeof(spaced), "  [::1]:%d ,\t%s  ", net->port, direct);
	run_refex(&r, net, east, "inbox", "--server", spaced, NULL);
	cr_expect_eq(r.status, 0, "--server '%s' exited %d: %s", spaced, r.status, r.err);
	run_result_free(&r);
	net_expect_clean_stop(net);
}

/* Start refex watch as east through server (a list), and wait until it says it is watching. */
static struct bg *start_watch(const char *server)
{
	struct bg *b = bg_refex(net, server, east, "watch", "--json", NULL);

	cr_assert(bg_err_wait(b, "watching eastside-housing from seq", 1, EVENT_TIMEOUT_MS),
	          "refex watch did not start watching:\n%s", bg_err(b));
	return b;
}

/* Expect the watcher's next event to be a submission of id; return its seq. */
static uint64_t expect_submitted(struct bg *b, const char *id)
{
	char *line = bg_line(b, EVENT_TIMEOUT_MS);
	json_t *ev;
	uint64_t seq;

	cr_assert_not_null(line, "refex watch printed no event in time; stderr:\n%s", bg_err(b));
	ev = json_loads(line, 0, NULL);
	cr_assert(json_is_object(ev), "refex watch printed \"%s\"", line);
	cr_expect_str_eq(json_string_value(json_object_get(ev, "kind")), "EVENT_SUBMITTED");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(ev, "referral"), "id")),
	                 id);
	seq = strtoull(json_string_value(json_object_get(ev, "seq")), NULL, 10);
	json_decref(ev);
	free(line);
	return seq;
}

Test(client_hubs, a_watch_whose_hub_dies_resumes_on_the_next_without_loss_or_repeat)
{
	char a[REFEX_ID_LEN + 1], b[REFEX_ID_LEN + 1], c[REFEX_ID_LEN + 1], on[64];
	uint64_t seq;

	start_hub();
	proxy = proxy_start(net);
	watcher = start_watch(two(proxy_address(proxy), direct));
	snprintf(on, sizeof(on), "on hub %s", proxy_address(proxy));
	cr_expect(bg_err_wait(watcher, on, 1, EVENT_TIMEOUT_MS), "%s", bg_err(watcher));
	submit_housing(net, north, FIXTURE("housing.json"), a);
	seq = expect_submitted(watcher, a);

	/* The first hub goes: its connections cut, its port closed. */
	proxy_free(proxy);
	proxy = NULL;
	submit_housing(net, north, FIXTURE("housing.json"), b);
	cr_expect_eq(expect_submitted(watcher, b), seq + 1);
	submit_housing(net, north, FIXTURE("housing.json"), c);
	cr_expect_eq(expect_submitted(watcher, c), seq + 2);
	snprintf(on, sizeof(on), "from seq %" PRIu64 " on hub %s", seq, direct);
	cr_expect(bg_err_wait(watcher, on, 1, EVENT_TIMEOUT_MS) &&
	              strstr(bg_err(watcher), "reconnecting to the next hub"),
	          "refex watch did not say it moved on to %s:\n%s", direct, bg_err(watcher));
	cr_expect_eq(bg_stop(watcher, SIGTERM), 0);
	net_expect_clean_stop(net);
}

Test(client_hubs, a_hub_whose_certificate_fails_is_not_passed_over)
{
	char stranger[32];
	struct run_result r;

	start_hub();
	other = net_new(); /* a hub with a certificate of another network's CA */
	net_must_start(other);
	snprintf(stranger, sizeof(stranger), "127.0.0.1:%d", other->port);
	submit_via(&r, two(stranger, direct), NULL);
	cr_expect_eq(r.status, 3, "refex submit exited %d:\n%s", r.status, r.err);
	cr_expect(strstr(r.err, stranger) && strstr(r.err, "certificate") &&
	              strstr(r.err, "refex tries no other hub after a certificate fails"),
	          "refex did not say why it stopped at %s:\n%s", stranger, r.err);
	cr_expect_str_eq(r.out, "");
	cr_expect_eq(net_log_count(net, "type=submit"), 0, "the next hub was used");
	run_result_free(&r);
	net_expect_clean_stop(net);
}

Test(client_hubs, the_forms_cached_through_a_list_serve_offline_when_every_hub_is_down)
{
	struct run_result r;

	start_hub();
	dead_hub(0);
	run_refex(&r, net, north, "template", "housing_support", "--server", two(dead[0], direct),
	          NULL);
	cr_assert_eq(r.status, 0, "refex template exited %d:\n%s", r.status, r.err);
	run_result_free(&r);
	net_expect_clean_stop(net);

	run_refex(&r, net, north, "template", "housing_support", "--server", two(dead[0], direct),
	          NULL);
	cr_expect_eq(r.status, 0, "refex template with no hub exited %d:\n%s", r.status, r.err);
	cr_expect(strstr(r.err, "working offline") != NULL, "%s", r.err);
	cr_expect(strstr(r.out, "currentSituation") != NULL, "refex template printed:\n%s", r.out);
	run_result_free(&r);
}

Test(client_hubs, doctor_checks_every_hub_and_says_which_answered)
{
	struct run_result r;
	json_t *j, *hubs;

	start_hub();
	dead_hub(0);
	run_refex(&r, net, north, "doctor", "--server", two(dead[0], direct), NULL);
	cr_expect_eq(r.status, 0, "refex doctor exited %d:\n%s", r.status, r.out);
	cr_expect(strstr(r.out, "1 of 2 hubs answered") && strstr(r.out, "did not") &&
	              strstr(r.out, "knows you as agency north-advice"),
	          "%s", r.out);
	cr_expect(strstr(r.out, "FAIL") == NULL, "a dead hub beside a live one is a FAIL:\n%s",
	          r.out);
	run_result_free(&r);

	run_refex(&r, net, north, "doctor", "--json", "--server", two(dead[0], direct), NULL);
	j = run_json(&r);
	hubs = json_object_get(j, "hubs");
	cr_assert_eq(json_array_size(hubs), 2, "%s", r.out);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(hubs, 0), "address")),
	                 dead[0]);
	cr_expect(json_is_false(json_object_get(json_array_get(hubs, 0), "answered")));
	cr_expect(json_is_true(json_object_get(json_array_get(hubs, 1), "answered")));
	json_decref(j);
	run_result_free(&r);

	/* No hub answering is a problem. */
	net_expect_clean_stop(net);
	run_refex(&r, net, north, "doctor", "--server", two(dead[0], direct), NULL);
	cr_expect_eq(r.status, 1, "refex doctor exited %d:\n%s", r.status, r.out);
	cr_expect(strstr(r.out, "no hub answered") != NULL, "%s", r.out);
	run_result_free(&r);
}
