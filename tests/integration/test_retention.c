/* Retention: closed referrals past [retention] closed_referrals become tombstones, and the
 * erased bytes are in neither the database file nor its WAL (SQLite), nor in any row version
 * left in the tables' pages (PostgreSQL, which a vacuum after the purge removes). */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CANARY_OPEN   "Zq7OpenCanary"
#define CANARY_CLOSED "Zq7ClosedCanary"
#define WAIT_MS       15000

static struct net *net;
static const char *north, *east;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Okafor");
	cr_assert_eq(
	    net_write_config(net, NET_DEFAULT_AGENCIES "\n[retention]\nclosed_referrals = 1s\n"),
	    0);
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(retention, .init = setup, .fini = teardown, .timeout = 120);

/* Submit a housing referral for a client whose family name is name; id gets its id. */
static void submit_named(const char *name, char id[REFEX_ID_LEN + 1])
{
	char json[256], file[64];
	char *path;
	struct run_result r;

	snprintf(json, sizeof(json), "{\"givenName\": \"Amira\", \"familyName\": \"%s\"}", name);
	snprintf(file, sizeof(file), "client-%s.json", name);
	cr_assert_not_null(path = net_write_file(net, file, json));
	cr_assert_eq(run_refex(&r, net, north, "submit", "--to", "eastside-housing", "--form",
	                       "housing_support", "--client", path, "--data",
	                       FIXTURE("housing.json"), "--consent", FIXTURE("consent.json"), NULL),
	             0, "submit: %s", r.err);
	snprintf(id, REFEX_ID_LEN + 1, "%s", run_line(&r));
	run_result_free(&r);
	free(path);
}

/* Show id as the recipient (JSON); the caller frees it. */
static json_t *show(const char *id)
{
	struct run_result r;
	json_t *j;

	cr_assert_eq(run_refex(&r, net, east, "show", id, "--json", NULL), 0, "show: %s", r.err);
	j = run_json(&r);
	run_result_free(&r);
	cr_assert_not_null(j);
	return j;
}

/* Show stored client id as north (JSON); the caller frees it. */
static json_t *client_show(const char *id)
{
	struct run_result r;
	json_t *j;

	cr_assert_eq(run_refex(&r, net, north, "client", "show", id, "--json", NULL), 0,
	             "client show: %s", r.err);
	j = run_json(&r);
	run_result_free(&r);
	cr_assert_not_null(j);
	return j;
}

/* Fetch id with fetch until its JSON has field (at most WAIT_MS); the caller frees it. */
static json_t *wait_for(json_t *(*fetch)(const char *), const char *id, const char *field)
{
	json_t *j = fetch(id);

	for (int waited = 0; json_object_get(j, field) == NULL && waited < WAIT_MS; waited += 100) {
		poll(NULL, 0, 100);
		json_decref(j);
		j = fetch(id);
	}
	cr_assert_not_null(json_object_get(j, field), "no %s after %d ms", field, WAIT_MS);
	return j;
}

/* Say whether the WAL still holds canary after WAIT_MS: readers see a purge or erasure as soon as
 * it commits, and the checkpoint that empties the WAL runs just after that commit. */
static bool wal_still_holds(const char *canary)
{
	for (int waited = 0; net_file_holds(net, "refex.db-wal", canary); waited += 100) {
		if (waited >= WAIT_MS) {
			return true;
		}
		poll(NULL, 0, 100);
	}
	return false;
}

/* Say whether the database still holds canary: on SQLite in its file or (after WAIT_MS) its
 * WAL; on PostgreSQL in any row version of its tables' pages after WAIT_MS (the vacuum runs
 * just after the commit). */
static bool still_stored(const char *canary)
{
	if (!net_on_postgresql()) {
		return net_file_holds(net, "refex.db", canary) || wal_still_holds(canary);
	}
	for (int waited = 0; net_pg_pages_hold(net, canary); waited += 100) {
		if (waited >= WAIT_MS) {
			return true;
		}
		poll(NULL, 0, 100);
	}
	return false;
}

Test(retention, a_closed_referral_becomes_a_tombstone_and_its_bytes_are_gone)
{
	char open_id[REFEX_ID_LEN + 1], closed_id[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *j;

	submit_named(CANARY_OPEN, open_id);
	submit_named(CANARY_CLOSED, closed_id);
	cr_assert_eq(run_refex(&r, net, east, "decline", closed_id, "--reason",
	                       "no room for " CANARY_CLOSED, NULL),
	             0, "decline: %s", r.err);
	run_result_free(&r);
	/* Closed a second ago at most: the hub purges it within a second or two. */
	j = wait_for(show, closed_id, "purgedAt");
	cr_expect_null(json_object_get(j, "client"), "the client record is gone");
	cr_expect_null(json_object_get(j, "consent"));
	cr_expect_null(json_object_get(j, "formData"));
	cr_expect_null(json_object_get(j, "clientName"));
	cr_expect_str_eq(json_string_value(json_object_get(j, "state")), "STATE_DECLINED",
	                 "the tombstone keeps the state");
	cr_expect_eq(json_array_size(json_object_get(j, "history")), 2, "sent and declined stay");
	cr_expect_null(json_object_get(json_array_get(json_object_get(j, "history"), 1), "reason"),
	               "without the reason");
	json_decref(j);

	j = show(open_id);
	cr_expect_null(json_object_get(j, "purgedAt"), "an open referral is never purged");
	cr_expect_not_null(json_object_get(j, "client"));
	json_decref(j);

	cr_expect_not(still_stored(CANARY_CLOSED), "the database still holds it");
	cr_expect(net_on_postgresql() ? net_pg_pages_hold(net, CANARY_OPEN)
	                              : net_file_holds(net, "refex.db", CANARY_OPEN) ||
	                                    net_file_holds(net, "refex.db-wal", CANARY_OPEN),
	          "the open referral's client is still stored (the search itself works)");
	net_expect_clean_stop(net);
	cr_expect_not(still_stored(CANARY_CLOSED), "after a stop, neither");
}

#define CANARY_LONE "Zq7LoneCanary"

Test(retention, a_stored_client_no_referral_holds_is_erased_without_a_closed_referral_due)
{
	char lone[REFEX_ID_LEN + 1], open_id[REFEX_ID_LEN + 1];
	char *path = net_write_file(
	    net, "lone.json", "{\"givenName\": \"Amira\", \"familyName\": \"" CANARY_LONE "\"}");
	struct run_result r;
	json_t *j, *held;

	cr_assert_not_null(path);
	cr_assert_eq(run_refex(&r, net, north, "client", "add", path, NULL), 0, "client add: %s",
	             r.err);
	snprintf(lone, sizeof(lone), "%s", run_line(&r));
	run_result_free(&r);
	free(path);
	submit_named(CANARY_OPEN, open_id); /* its client is held by an open referral */
	j = wait_for(client_show, lone, "erasedAt");
	cr_expect_str_eq(json_string_value(json_object_get(j, "erasedBy")), "retention");
	cr_expect_null(json_object_get(j, "record"), "the record is gone");
	json_decref(j);

	j = show(open_id);
	cr_assert_not_null(json_object_get(j, "clientId"));
	held = client_show(json_string_value(json_object_get(j, "clientId")));
	cr_expect_null(json_object_get(held, "erasedAt"), "a client an open referral holds stays");
	cr_expect_not_null(json_object_get(held, "record"));
	json_decref(held);
	json_decref(j);

	cr_expect_not(still_stored(CANARY_LONE), "the database still holds it");
	net_expect_clean_stop(net);
}

#define CANARY_HELD "Zq7HeldCanary"

Test(retention, a_client_that_grew_old_while_held_is_erased_when_its_referral_is_purged)
{
	char id[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *j, *client;

	submit_named(CANARY_HELD, id); /* a new client, held by this open referral */
	j = show(id);
	client = json_incref(json_object_get(j, "clientId"));
	json_decref(j);
	cr_assert_not_null(client);
	/* Retention (1 s) looks at the client each second while it grows old and finds it held;
	 * past its 1 s margin, after these seconds, it no longer looks at it: only purging its
	 * referral can free it. */
	poll(NULL, 0, 5000);
	cr_assert_eq(run_refex(&r, net, east, "decline", id, "--reason", "no room", NULL), 0,
	             "decline: %s", r.err);
	run_result_free(&r);
	j = wait_for(client_show, json_string_value(client), "erasedAt");
	cr_expect_str_eq(json_string_value(json_object_get(j, "erasedBy")), "retention");
	json_decref(j);
	json_decref(client);
	cr_expect_not(still_stored(CANARY_HELD), "the database still holds it");
	net_expect_clean_stop(net);
}
