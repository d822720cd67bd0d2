/* A hub on PostgreSQL whose database goes away under load: writes are refused with UNAVAILABLE
 * while it is down, nothing acknowledged is lost, and writes and reads resume by themselves once
 * it is back. Runs only on PostgreSQL (REFEX_STORE_BACKEND=postgresql, tests/pg/with-postgres). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

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
