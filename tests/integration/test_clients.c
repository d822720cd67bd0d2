/* Client records kept by the hub: add, update, show, list and search, duplicates flagged, the
 * version a recipient sees, nothing for a third agency, erasure without a trace on disk, and
 * the audit trail of a client. */
#include "clients_fixture.h"

TestSuite(clients, .init = clients_setup, .fini = clients_teardown, .timeout = 120);

static const char *str(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

Test(clients, add_update_show_list_and_search)
{
	char id[REFEX_ID_LEN + 1], other[REFEX_ID_LEN + 1];
	char *path = client_file("Amira", "Khan", "1990-04-01");
	struct run_result r;
	json_t *j, *rec, *list;

	client_add(north, "Amira", "Khan", "1990-04-01", id, NULL);
	client_add(north, "Tomasz", "Nowak", NULL, other, NULL);
	j = REFEX_JSON(north, "client", "show", id);
	rec = json_object_get(j, "record");
	cr_expect_str_eq(str(rec, "givenName"), "Amira");
	cr_expect_str_eq(str(j, "owner"), "north-advice");
	cr_expect_eq(json_integer_value(json_object_get(j, "version")), 1);
	json_decref(j);

	free(path);
	path = client_file("Amira", "Khan-Ali", "1990-04-01");
	cr_assert_eq(run_refex(&r, net, north, "client", "update", id, path, NULL), 0, "%s", r.err);
	cr_expect(strstr(r.out, "version 2") != NULL, "%s", r.out);
	run_result_free(&r);
	j = REFEX_JSON(north, "client", "show", id);
	cr_expect_eq(json_integer_value(json_object_get(j, "version")), 2);
	cr_expect_str_eq(str(json_object_get(j, "record"), "familyName"), "Khan-Ali");
	json_decref(j);

	cr_assert_eq(run_refex(&r, net, north, "client", "show", id, NULL), 0);
	cr_expect(strstr(r.out, "Amira Khan-Ali") != NULL, "people read the name: %s", r.out);
	run_result_free(&r);

	list = REFEX_JSON(north, "client", "list");
	cr_expect_eq(json_array_size(json_object_get(list, "clients")), 2);
	json_decref(list);
	list = REFEX_JSON(north, "client", "list", "--search", "kHAN");
	cr_expect_eq(json_array_size(json_object_get(list, "clients")), 1, "case-insensitive");
	cr_expect_str_eq(str(json_array_get(json_object_get(list, "clients"), 0), "id"), id);
	json_decref(list);
	list = REFEX_JSON(north, "client", "list", "--search", "nobody");
	cr_expect_eq(json_array_size(json_object_get(list, "clients")), 0);
	json_decref(list);
	free(path);
}

Test(clients, a_likely_duplicate_is_flagged_and_both_are_kept)
{
	char first[REFEX_ID_LEN + 1], second[REFEX_ID_LEN + 1], third_id[REFEX_ID_LEN + 1];
	char *warn = NULL;
	json_t *list;

	client_add(north, "Amira", "Khan", "1990-04-01", first, &warn);
	cr_expect(strstr(warn, "duplicate") == NULL, "%s", warn);
	free(warn);
	client_add(north, " amira", "KHAN ", "1990-04-01", second, &warn);
	cr_expect(strstr(warn, "possible duplicate of client") != NULL, "%s", warn);
	cr_expect(strstr(warn, first) != NULL, "names the other record: %s", warn);
	free(warn);
	client_add(north, "Amira", "Khan", "1991-04-01", third_id, &warn);
	cr_expect(strstr(warn, "duplicate") == NULL, "another date of birth: %s", warn);
	free(warn);
	list = REFEX_JSON(north, "client", "list");
	cr_expect_eq(json_array_size(json_object_get(list, "clients")), 3, "never merged");
	json_decref(list);
	/* Another agency's record of the same person is not this agency's duplicate. */
	client_add(third, "Amira", "Khan", "1990-04-01", third_id, &warn);
	cr_expect(strstr(warn, "duplicate") == NULL, "%s", warn);
	free(warn);
}

Test(clients, a_recipient_sees_the_version_shared_and_a_third_agency_nothing)
{
	char id[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1], ref[REFEX_ID_LEN + 1];
	char *path = client_file("Amira", "Renamed", "1990-04-01");
	static const char *const missing = "0000000000000000";
	struct run_result r;
	json_t *j, *list;

	client_add(north, "Amira", "Khan", "1990-04-01", id, NULL);
	cr_assert_eq(run_refex(&r, net, east, "client", "show", id, NULL), 1,
	             "not referred yet: %s", r.out);
	run_result_free(&r);
	consent_to(id, "eastside-housing", cid);
	cr_assert_eq(submit_stored(id, ref, &r), 0, "%s", r.err);
	run_result_free(&r);
	cr_assert_eq(run_refex(&r, net, north, "client", "update", id, path, NULL), 0, "%s", r.err);
	run_result_free(&r);

	j = REFEX_JSON(east, "client", "show", id);
	cr_expect_eq(json_integer_value(json_object_get(j, "version")), 1, "the version shared");
	cr_expect_str_eq(str(json_object_get(j, "record"), "familyName"), "Khan");
	json_decref(j);
	j = REFEX_JSON(east, "show", ref);
	cr_expect_str_eq(str(j, "clientId"), id);
	cr_expect_str_eq(str(json_object_get(j, "client"), "familyName"), "Khan");
	json_decref(j);
	list = REFEX_JSON(east, "client", "list");
	cr_expect_eq(json_array_size(json_object_get(list, "clients")), 1, "referred to it");
	json_decref(list);
	cr_expect_eq(run_refex(&r, net, east, "client", "update", id, path, NULL), 1);
	cr_expect(strstr(r.err, "only the agency that recorded") != NULL, "%s", r.err);
	run_result_free(&r);

	/* A third agency: the same answer as for an id that does not exist, everywhere. */
	const char *const ids[] = {id, missing};
	for (size_t i = 0; i < 2; i++) {
		cr_expect_eq(run_refex(&r, net, third, "client", "show", ids[i], NULL), 1);
		cr_expect(strstr(r.err, "not found") != NULL, "%s", r.err);
		run_result_free(&r);
		cr_expect_eq(run_refex(&r, net, third, "client", "update", ids[i], path, NULL), 1);
		cr_expect(strstr(r.err, "not found") != NULL, "%s", r.err);
		run_result_free(&r);
		cr_expect_eq(
		    run_refex(&r, net, third, "client", "erase", ids[i], "--reason", "x", NULL), 1);
		cr_expect(strstr(r.err, "not found") != NULL, "%s", r.err);
		run_result_free(&r);
		cr_expect_eq(run_refex(&r, net, third, "consent", "list", ids[i], NULL), 1);
		cr_expect(strstr(r.err, "not found") != NULL, "%s", r.err);
		run_result_free(&r);
		cr_expect_eq(run_refex(&r, net, third, "audit", "--client", ids[i], NULL), 1);
		cr_expect(strstr(r.err, "not found") != NULL, "%s", r.err);
		run_result_free(&r);
	}
	cr_expect_eq(run_refex(&r, net, third, "consent", "withdraw", cid, NULL), 1);
	cr_expect(strstr(r.err, "not found") != NULL, "%s", r.err);
	run_result_free(&r);
	list = REFEX_JSON(third, "client", "list");
	cr_expect_eq(json_array_size(json_object_get(list, "clients")), 0);
	json_decref(list);
	free(path);
}

#define CANARY "Zq9ClientCanary"

/* Say whether the hub's database holds text: SQLite's file or its WAL, anywhere in their bytes;
 * PostgreSQL's live rows (its dead tuples and WAL go with VACUUM and WAL recycling, as
 * docs/STORAGE.md says). */
static bool stored(const char *text)
{
	if (net_on_postgresql()) {
		return net_pg_holds(net, text);
	}
	return net_file_holds(net, "refex.db", text) || net_file_holds(net, "refex.db-wal", text);
}

Test(clients, erasure_reaches_every_copy_and_leaves_no_bytes)
{
	char id[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1], ref[REFEX_ID_LEN + 1];
	char keep[REFEX_ID_LEN + 1], said[64];
	struct run_result r;
	char *path;
	json_t *j;

	client_add(north, "Amira", CANARY, "1990-04-01", id, NULL);
	client_add(north, "Tomasz", "Zq9KeptCanary", NULL, keep, NULL);
	consent_to(id, "eastside-housing", cid);
	cr_assert_eq(submit_stored(id, ref, &r), 0, "%s", r.err);
	run_result_free(&r);
	cr_assert(stored(CANARY), "the search works");

	cr_expect_eq(run_refex(&r, net, east, "client", "erase", id, "--reason", "asked", NULL), 1,
	             "only the owner erases");
	run_result_free(&r);
	cr_expect_eq(run_refex(&r, net, north, "client", "erase", id, NULL), 2,
	             "a reason is needed");
	run_result_free(&r);
	cr_assert_eq(run_refex(&r, net, north, "client", "erase", id, "--reason",
	                       "the client asked us to", NULL),
	             0, "%s", r.err);
	run_result_free(&r);

	j = REFEX_JSON(east, "show", ref);
	cr_expect_null(json_object_get(j, "client"), "the referral's copy is gone");
	cr_expect_null(json_object_get(j, "clientName"));
	cr_expect_not_null(json_object_get(j, "clientErasedAt"));
	cr_expect_str_eq(str(j, "clientErasedBy"), "north-advice");
	cr_expect_str_eq(str(j, "id"), ref, "the referral stays");
	json_decref(j);
	cr_assert_eq(run_refex(&r, net, east, "show", ref, NULL), 0);
	cr_expect(strstr(r.out, "client record erased on ") != NULL, "%s", r.out);
	cr_expect(strstr(r.out, " by north-advice") != NULL, "%s", r.out);
	run_result_free(&r);
	j = REFEX_JSON(east, "client", "show", id);
	cr_expect_null(json_object_get(j, "record"));
	cr_expect_not_null(json_object_get(j, "erasedAt"));
	json_decref(j);
	cr_expect_eq(submit_stored(id, ref, &r), 1, "an erased client is not shared");
	run_result_free(&r);
	path = client_file("Amira", "Khan", "1990-04-01");
	cr_expect_eq(run_refex(&r, net, north, "client", "update", id, path, NULL), 1,
	             "an erased client was changed");
	snprintf(said, sizeof(said), "client %s was erased", id);
	cr_expect(strstr(r.err, said) != NULL, "the refusal does not name the client: %s", r.err);
	run_result_free(&r);
	free(path);

	cr_expect_not(stored(CANARY), "the database (file or WAL) still holds it");
	/* The consent's purpose (consent_to's words), in its row and in the referral's copy. */
	cr_expect_not(stored("housing support referral"), "the consent's purpose is still stored");
	cr_expect(stored("Zq9KeptCanary"), "another client is still stored");
	net_expect_clean_stop(net);
	cr_expect_not(stored(CANARY), "after a stop, neither");
}

/* Whether entries (an AuditLog's JSON) hold action. */
static bool has_action(json_t *log, const char *action)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(log, "entries"), i, e)
	{
		if (strcmp(str(e, "action"), action) == 0) {
			return true;
		}
	}
	return false;
}

Test(clients, reads_and_changes_are_audited_and_each_party_sees_its_part)
{
	char id[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1], ref[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *log, *e;
	size_t i;

	client_add(north, "Amira", "Khan", "1990-04-01", id, NULL);
	json_decref(REFEX_JSON(north, "client", "show", id));
	consent_to(id, "eastside-housing", cid);
	cr_assert_eq(submit_stored(id, ref, &r), 0, "%s", r.err);
	run_result_free(&r);
	json_decref(REFEX_JSON(east, "client", "show", id));
	json_decref(REFEX_JSON(east, "show", ref));

	log = REFEX_JSON(north, "audit", "--client-id", id);
	cr_expect(has_action(log, "client-add"));
	cr_expect(has_action(log, "client-read"));
	cr_expect(has_action(log, "consent-add"));
	cr_expect(has_action(log, "client-share"));
	json_array_foreach(json_object_get(log, "entries"), i, e)
	{
		cr_expect_str_eq(str(e, "record"), id);
	}
	json_decref(log);

	log = REFEX_JSON(east, "audit", "--client", id); /* the first spelling still works */
	cr_expect_geq(json_array_size(json_object_get(log, "entries")), 2,
	              "client show and referral show: %s", json_dumps(log, 0));
	json_array_foreach(json_object_get(log, "entries"), i, e)
	{
		cr_expect_str_eq(str(e, "agency"), "eastside-housing", "only its own part");
		cr_expect_str_eq(str(e, "action"), "client-read");
	}
	json_decref(log);
}

Test(clients, a_stored_record_is_held_to_the_same_bounds_as_an_inline_one)
{
	char json[2048] = "{\"givenName\": \"Amira\", \"familyName\": \"Khan\", \"accessNeeds\": [";
	struct run_result r;
	char *path;

	for (int i = 0; i < 65; i++) {
		strcat(json, i ? ", \"ramp\"" : "\"ramp\"");
	}
	strcat(json, "]}");
	cr_assert_not_null(path = net_write_file(net, "many-needs.json", json));
	cr_expect_neq(run_refex(&r, net, north, "client", "add", path, NULL), 0,
	              "65 access needs were stored");
	cr_expect(strstr(r.err, "at most 64 access needs") != NULL, "%s", r.err);
	run_result_free(&r);
	free(path);
	path = net_write_file(net, "bad-dob.json",
	                      "{\"givenName\": \"Amira\", \"familyName\": \"Khan\","
	                      " \"dateOfBirth\": \"1990-02-30\"}");
	cr_assert_not_null(path);
	cr_expect_neq(run_refex(&r, net, north, "submit", "--to", "eastside-housing", "--form",
	                        "housing_support", "--client", path, "--consent",
	                        FIXTURE("consent.json"), "--data", FIXTURE("housing.json"), NULL),
	              0, "an inline client with an impossible date of birth was stored");
	cr_expect(strstr(r.err, "not a date written YYYY-MM-DD") != NULL, "%s", r.err);
	cr_expect(strstr(r.err, "(field: client.dateOfBirth)") != NULL,
	          "the field is not named as the file names it: %s", r.err);
	run_result_free(&r);
	cr_expect_neq(run_refex(&r, net, north, "client", "add", path, NULL), 0,
	              "a client with an impossible date of birth was stored");
	cr_expect(strstr(r.err, "(field: record.dateOfBirth)") != NULL, "%s", r.err);
	run_result_free(&r);
	free(path);
}

Test(clients, a_consent_given_in_the_future_or_on_no_real_day_is_refused)
{
	static const char *const days[] = {"2099-01-01", "2026-02-30", "not-a-date"};
	struct run_result r;
	char json[256], *path;

	for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
		snprintf(json, sizeof(json),
		         "{\"toAgency\": \"eastside-housing\", \"purpose\": \"housing\","
		         " \"method\": \"CONSENT_WRITTEN\", \"givenOn\": \"%s\"}",
		         days[i]);
		cr_assert_not_null(path = net_write_file(net, "consent-day.json", json));
		cr_expect_eq(run_refex(&r, net, north, "submit", "--to", "eastside-housing",
		                       "--form", "housing_support", "--client",
		                       FIXTURE("client.json"), "--consent", path, "--data",
		                       FIXTURE("housing.json"), NULL),
		             1, "a consent given on %s was taken", days[i]);
		cr_expect(strstr(r.err, "(field: consent.givenOn)") != NULL, "%s: %s", days[i],
		          r.err);
		run_result_free(&r);
		free(path);
	}
	expect_box_empty(net, east, "inbox");
}

/* Submit the fixture client inline (--client FILE) as north; returns the run (caller frees). */
static void submit_inline(struct run_result *r)
{
	cr_assert_eq(run_refex(r, net, north, "submit", "--to", "eastside-housing", "--form",
	                       "housing_support", "--client", FIXTURE("client.json"), "--consent",
	                       FIXTURE("consent.json"), "--data", FIXTURE("housing.json"), NULL),
	             0, "submit: %s", r->err);
}

Test(clients, a_submitted_client_like_one_already_held_is_flagged)
{
	char held[REFEX_ID_LEN + 1], other[REFEX_ID_LEN + 1], expected[200];
	struct run_result r;
	json_t *list;

	/* The fixture's client (Amira Khan, 1990-04-01) as the agency already holds it. */
	client_add(north, "Amira", "Khan", "1990-04-01", held, NULL);
	client_add(north, "Amira", "Khan", "1991-04-01", other, NULL);
	submit_inline(&r);
	snprintf(expected, sizeof(expected), "refex: warning: possible duplicate of client %s",
	         held);
	cr_expect(strstr(r.err, expected) != NULL, "submit --client does not warn:\n%s", r.err);
	snprintf(expected, sizeof(expected), "--client-id %s", held);
	cr_expect(strstr(r.err, expected) != NULL, "nor suggest --client-id:\n%s", r.err);
	cr_expect(strstr(r.err, other) == NULL, "another date of birth is no duplicate: %s", r.err);
	cr_expect_eq(strlen(run_line(&r)), REFEX_ID_LEN, "the referral is made all the same: %s",
	             r.out);
	run_result_free(&r);
	list = REFEX_JSON(north, "client", "list");
	cr_expect_eq(json_array_size(json_object_get(list, "clients")), 3, "stored, never merged");
	json_decref(list);
}

Test(clients, add_update_erase_and_consent_answer_as_json)
{
	char *path = client_file("Amira", "Khan", "1990-04-01");
	char id[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1];
	json_t *j, *dups;

	j = REFEX_JSON(north, "client", "add", path);
	snprintf(id, sizeof(id), "%s", str(j, "id") ? str(j, "id") : "");
	cr_expect_eq(strlen(id), REFEX_ID_LEN, "client add --json gives the id");
	cr_expect_str_eq(str(j, "owner"), "north-advice");
	cr_expect_eq(json_integer_value(json_object_get(j, "version")), 1);
	json_decref(j);

	j = REFEX_JSON(north, "client", "add", path);
	dups = json_object_get(j, "possibleDuplicates");
	cr_expect(json_array_size(dups) == 1 &&
	              strcmp(json_string_value(json_array_get(dups, 0)), id) == 0,
	          "the duplicate is in the JSON too");
	json_decref(j);

	j = REFEX_JSON(north, "client", "update", id, path);
	cr_expect_str_eq(str(j, "id"), id);
	cr_expect_eq(json_integer_value(json_object_get(j, "version")), 2);
	json_decref(j);

	j = REFEX_JSON(north, "consent", "add", id, "--to", "eastside-housing", "--purpose",
	               "housing support referral", "--method", "verbal");
	cr_expect_eq(strlen(str(j, "id") ? str(j, "id") : ""), REFEX_ID_LEN, "consent add --json");
	cr_expect_str_eq(str(j, "clientId"), id);
	cr_expect_str_eq(str(j, "toAgency"), "eastside-housing");
	cr_expect_str_eq(str(j, "method"), "CONSENT_VERBAL");
	cr_expect_null(json_object_get(j, "withdrawnAt"), "a new consent is live");
	snprintf(cid, sizeof(cid), "%s", str(j, "id") ? str(j, "id") : "");
	json_decref(j);
	j = REFEX_JSON(north, "consent", "withdraw", cid, "--reason", "changed their mind");
	cr_expect_str_eq(str(j, "id"), cid);
	cr_expect_not_null(json_object_get(j, "withdrawnAt"), "withdraw --json says when");
	json_decref(j);

	j = REFEX_JSON(north, "client", "erase", id, "--reason", "asked to be forgotten");
	cr_expect_str_eq(str(j, "id"), id);
	cr_expect_not_null(json_object_get(j, "erasedAt"), "erase --json says it is erased");
	json_decref(j);
	free(path);
}
