/* The audit trail: every full read and change of a referral is recorded, shown to its parties
 * only, and kept in a hash chain that refexd --verify-audit checks. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct net *net;
static const char *north, *east, *third;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Okafor");
	third = net_issue(net, "third-party", "Lee Chan");
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(audit, .init = setup, .fini = teardown, .timeout = 120);

/* Submit, show (read + receipt) and accept one referral; id gets its id. */
static void referral_with_history(char id[REFEX_ID_LEN + 1])
{
	struct run_result r;

	submit_housing(net, north, FIXTURE("housing.json"), id);
	cr_assert_eq(run_refex(&r, net, east, "show", id, NULL), 0, "show: %s", r.err);
	run_result_free(&r);
	cr_assert_eq(run_refex(&r, net, east, "accept", id, NULL), 0, "accept: %s", r.err);
	run_result_free(&r);
}

/* Run refexd --verify-audit on the net's config. */
static int verify(struct run_result *r)
{
	char *argv[] = {REFEXD_PATH, "--verify-audit", "--config", net->config, NULL};

	return run(r, argv, NULL);
}

/* Change the stored trail with sql, as someone with the database file (or access to the
 * PostgreSQL database) might. */
static void tamper(const char *sql)
{
	char path[600];
	sqlite3 *db;

	if (net_on_postgresql()) {
		net_pg_exec(net, sql);
		return;
	}
	snprintf(path, sizeof(path), "%s/refex.db", net->dir);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

Test(audit, both_parties_see_every_read_and_change)
{
	static const char *const want[] = {"submit", "read", "receive", "accept"};
	const char *parties[] = {north, east};
	char id[REFEX_ID_LEN + 1];
	struct run_result r;

	referral_with_history(id);
	for (size_t p = 0; p < 2; p++) {
		json_t *log, *entries;

		cr_assert_eq(
		    run_refex(&r, net, parties[p], "audit", "--referral", id, "--json", NULL), 0,
		    "audit: %s", r.err);
		log = run_json(&r);
		entries = json_object_get(log, "entries");
		cr_assert_eq(json_array_size(entries), 4, "%zu entries: %s",
		             json_array_size(entries), r.out);
		for (size_t i = 0; i < 4; i++) {
			json_t *e = json_array_get(entries, i);

			cr_expect_str_eq(json_string_value(json_object_get(e, "action")), want[i]);
			cr_expect_str_eq(json_string_value(json_object_get(e, "record")), id);
		}
		cr_expect_str_eq(
		    json_string_value(json_object_get(json_array_get(entries, 1), "holder")),
		    "Sam Okafor", "the read names who read it");
		json_decref(log);
		run_result_free(&r);
	}
	cr_assert_eq(run_refex(&r, net, east, "audit", "--referral", id, NULL), 0);
	cr_expect(strstr(r.out, "ACTION") && strstr(r.out, "receive"), "table:\n%s", r.out);
	run_result_free(&r);
}

Test(audit, an_agency_that_is_not_a_party_sees_nothing)
{
	char id[REFEX_ID_LEN + 1];
	struct run_result r, nothing;

	referral_with_history(id);
	cr_expect_eq(run_refex(&r, net, third, "audit", "--referral", id, NULL), 1);
	cr_expect_eq(
	    run_refex(&nothing, net, third, "audit", "--referral", "0000000000000000", NULL), 1);
	cr_expect(strstr(r.err, "not found") != NULL, "%s", r.err);
	run_result_free(&r);
	run_result_free(&nothing);
}

Test(audit, verify_accepts_the_trail_and_finds_the_first_altered_entry)
{
	char id[REFEX_ID_LEN + 1];
	struct run_result r;

	referral_with_history(id);
	net_expect_clean_stop(net);
	cr_assert_eq(verify(&r), 0, "an untouched trail verifies: %s", r.err);
	/* submit, read, receive, accept of the referral; client-add, consent-add, client-share
	 * of the client record the submission stored, and a client-read for each reply that
	 * carried it (after the receipt and the acceptance). */
	cr_expect(strstr(r.out, "audit trail ok (9 entries)") != NULL, "%s", r.out);
	run_result_free(&r);

	tamper("UPDATE audit SET holder = 'Someone Else' WHERE seq = 2");
	cr_expect_eq(verify(&r), 1);
	cr_expect(strstr(r.err, "broken at entry 2") != NULL, "%s", r.err);
	run_result_free(&r);
}

Test(audit, verify_finds_a_removed_entry)
{
	char id[REFEX_ID_LEN + 1];
	struct run_result r;

	referral_with_history(id);
	net_expect_clean_stop(net);
	tamper("DELETE FROM audit WHERE seq = 3");
	cr_expect_eq(verify(&r), 1);
	cr_expect(strstr(r.err, "broken at entry 3") != NULL, "%s", r.err);
	run_result_free(&r);
}
