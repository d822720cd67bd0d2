/* Onward referral: the receiving agency refers the client on; the form is filled in from the
 * answers already given and only what is missing is asked for; both ends see the chain. The
 * stored client goes on as itself, and only under a consent its owner recorded. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct net *net;
static const char *north, *east, *third;
static char *housing, *consent_third, *debt_rest, *food;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Okafor");
	third = net_issue(net, "third-party", "Lee Chan");
	housing = net_write_file(net, "housing-la.json",
	                         "{\"currentSituation\": \"AT_RISK_OF_EVICTION\","
	                         " \"tenure\": \"PRIVATE_RENTED\", \"localAuthority\": \"Leeds\"}");
	consent_third =
	    net_write_file(net, "consent-third.json",
	                   "{\"toAgency\": \"third-party\", \"purpose\": \"food support\","
	                   " \"method\": \"CONSENT_VERBAL\"}");
	debt_rest =
	    net_write_file(net, "debt-rest.json",
	                   "{\"approximateTotalPounds\": 1200, \"enforcementAction\": false}");
	food = net_write_file(net, "food.json",
	                      "{\"householdAdults\": 1, \"householdChildren\": 2,"
	                      " \"vouchersRequested\": 1, \"reason\": \"BENEFIT_DELAY\"}");
	cr_assert(housing && consent_third && debt_rest && food);
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	free(housing);
	free(consent_third);
	free(debt_rest);
	free(food);
	net = NULL;
}

TestSuite(forward, .init = setup, .fini = teardown, .timeout = 120);

/* Show id as prefix (JSON); the caller frees it. */
static json_t *show(const char *prefix, const char *id)
{
	struct run_result r;
	json_t *j;

	cr_assert_eq(run_refex(&r, net, prefix, "show", id, "--json", NULL), 0, "show: %s", r.err);
	j = run_json(&r);
	run_result_free(&r);
	cr_assert_not_null(j);
	return j;
}

/* Say whether the JSON array holds the string s. */
static bool holds(const json_t *array, const char *s)
{
	for (size_t i = 0; i < json_array_size(array); i++) {
		if (strcmp(json_string_value(json_array_get(array, i)), s) == 0) {
			return true;
		}
	}
	return false;
}

/* Copy into cid the stored client referral id shares, as prefix sees it. */
static void client_of(const char *prefix, const char *id, char cid[REFEX_ID_LEN + 1])
{
	json_t *j = show(prefix, id);
	const char *s = json_string_value(json_object_get(j, "clientId"));

	cr_assert_not_null(s, "referral %s shares a stored client", id);
	snprintf(cid, REFEX_ID_LEN + 1, "%s", s);
	json_decref(j);
}

/* As north, the client's owner, record a consent for client cid: to agency, or any partner. */
static void owner_consents(const char *cid, const char *agency)
{
	struct run_result r;
	int rc = agency ? run_refex(&r, net, north, "consent", "add", cid, "--to", agency,
	                            "--purpose", "food support", "--method", "verbal", NULL)
	                : run_refex(&r, net, north, "consent", "add", cid, "--any-partner",
	                            "--purpose", "support referrals", "--method", "written", NULL);

	cr_assert_eq(rc, 0, "consent add: %s", r.err);
	run_result_free(&r);
}

/* Run refex client list (cid NULL) or client show cid as prefix; return its JSON. */
static json_t *clients_json(const char *prefix, const char *cid)
{
	struct run_result r;
	json_t *j;
	int rc = cid ? run_refex(&r, net, prefix, "client", "show", cid, "--json", NULL)
	             : run_refex(&r, net, prefix, "client", "list", "--json", NULL);

	cr_assert_eq(rc, 0, "refex client: %s", r.err);
	j = run_json(&r);
	cr_assert_not_null(j, "JSON: %s", r.out);
	run_result_free(&r);
	return j;
}

Test(forward, names_only_the_missing_fields_then_fills_the_rest_in)
{
	char first[REFEX_ID_LEN + 1], onward[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *j, *answers;

	submit_housing(net, north, housing, first);
	client_of(north, first, cid);
	owner_consents(cid, NULL);
	cr_assert_eq(run_refex(&r, net, east, "forward", first, "--to", "north-advice", "--form",
	                       "debt_advice", NULL),
	             1, "forward without the new answers must be refused: %s", r.err);
	cr_expect(strstr(r.err, "still missing: approximate_total_pounds, enforcement_action") !=
	              NULL,
	          "the refusal names exactly the missing fields: %s", r.err);
	cr_expect(strstr(r.err, "local_authority") == NULL, "known answers are not asked for");
	run_result_free(&r);

	cr_assert_eq(run_refex(&r, net, east, "forward", first, "--to", "north-advice", "--form",
	                       "debt_advice", "--data", debt_rest, NULL),
	             0, "forward: %s", r.err);
	snprintf(onward, sizeof(onward), "%s", run_line(&r));
	run_result_free(&r);

	j = show(north, onward);
	cr_expect_str_eq(json_string_value(json_object_get(j, "parentId")), first);
	cr_expect_str_eq(json_string_value(json_object_get(j, "sender")), "eastside-housing");
	cr_expect_str_eq(
	    json_string_value(json_object_get(json_object_get(j, "client"), "familyName")), "Khan",
	    "the client record travels with it");
	answers = json_object_get(j, "formData");
	cr_expect_str_eq(json_string_value(json_object_get(answers, "localAuthority")), "Leeds",
	                 "filled in from the housing referral");
	cr_expect_eq(json_integer_value(json_object_get(answers, "approximateTotalPounds")), 1200);
	json_decref(j);

	j = show(north, first);
	cr_expect(holds(json_object_get(j, "childIds"), onward),
	          "the original sender sees where the client went on");
	json_decref(j);
	j = show(east, first);
	cr_expect(holds(json_object_get(j, "childIds"), onward), "and so does the forwarder");
	json_decref(j);
}

Test(forward, only_the_receiving_agency_refers_on)
{
	char first[REFEX_ID_LEN + 1];
	struct run_result r;

	submit_housing(net, north, housing, first);
	cr_expect_eq(run_refex(&r, net, north, "forward", first, "--to", "north-advice", "--form",
	                       "debt_advice", "--data", debt_rest, NULL),
	             1);
	cr_expect(strstr(r.err, "only the agency") != NULL, "the sender is refused: %s", r.err);
	run_result_free(&r);
	cr_expect_eq(run_refex(&r, net, third, "forward", first, "--to", "north-advice", "--form",
	                       "debt_advice", "--data", debt_rest, NULL),
	             1);
	cr_expect(strstr(r.err, "not found") != NULL, "a stranger learns nothing: %s", r.err);
	run_result_free(&r);
}

Test(forward, template_from_a_referral_is_filled_in)
{
	char first[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *j;

	submit_housing(net, north, housing, first);
	cr_assert_eq(run_refex(&r, net, east, "template", "debt_advice", "--from", first, NULL), 0,
	             "template: %s", r.err);
	j = run_json(&r);
	cr_assert_not_null(j, "%s", r.out);
	cr_expect_str_eq(json_string_value(json_object_get(j, "localAuthority")), "Leeds");
	cr_expect(strncmp(json_string_value(json_object_get(j, "approximateTotalPounds")),
	                  "<required", 9) == 0,
	          "what is not known stays a placeholder");
	json_decref(j);
	run_result_free(&r);
}

Test(forward, a_stored_client_goes_on_only_under_a_consent_its_owner_recorded)
{
	char first[REFEX_ID_LEN + 1], onward[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *j, *list;

	submit_housing(net, north, housing, first);
	client_of(east, first, cid);

	/* The consent north recorded covers eastside-housing only. */
	cr_expect_eq(run_refex(&r, net, east, "forward", first, "--to", "third-party", "--form",
	                       "food_support", "--data", food, NULL),
	             1, "no consent covers third-party: %s", r.out);
	cr_expect(strstr(r.err, "consent") != NULL && strstr(r.err, "north-advice") != NULL,
	          "the refusal names consent and the owner who can record it: %s", r.err);
	run_result_free(&r);
	cr_expect_eq(run_refex(&r, net, east, "forward", first, "--to", "third-party", "--form",
	                       "food_support", "--data", food, "--consent", consent_third, NULL),
	             1, "the forwarder cannot consent for a client it does not own");
	cr_expect(strstr(r.err, "consent") != NULL, "%s", r.err);
	run_result_free(&r);
	list = clients_json(third, NULL);
	cr_expect_eq(json_array_size(json_object_get(list, "clients")), 0, "nothing went");
	json_decref(list);

	owner_consents(cid, "third-party");
	cr_assert_eq(run_refex(&r, net, east, "forward", first, "--to", "third-party", "--form",
	                       "food_support", "--data", food, NULL),
	             0, "forward under north's consent: %s", r.err);
	snprintf(onward, sizeof(onward), "%s", run_line(&r));
	run_result_free(&r);

	j = show(third, onward);
	cr_expect_str_eq(json_string_value(json_object_get(j, "clientId")), cid,
	                 "the same client record, not a copy of the forwarder's");
	cr_expect_eq(json_integer_value(json_object_get(j, "clientVersion")), 1);
	json_decref(j);
	list = clients_json(third, NULL);
	cr_assert_eq(json_array_size(json_object_get(list, "clients")), 1);
	cr_expect_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(list, "clients"), 0), "id")),
	                 cid);
	json_decref(list);
	j = clients_json(third, cid);
	cr_expect_str_eq(json_string_value(json_object_get(j, "owner")), "north-advice",
	                 "still north's client");
	cr_expect_str_eq(
	    json_string_value(json_object_get(json_object_get(j, "record"), "familyName")), "Khan");
	json_decref(j);
	list = clients_json(east, NULL);
	cr_expect_eq(json_array_size(json_object_get(list, "clients")), 1,
	             "the forwarder made no client of its own");
	json_decref(list);
}

Test(forward, template_for_a_stored_client_draws_on_its_record_and_earlier_referrals)
{
	char first[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *j;

	submit_housing(net, north, housing, first);
	client_of(north, first, cid);

	/* The owner's form is filled in from the housing referral it sent for this client. */
	cr_assert_eq(run_refex(&r, net, north, "template", "debt_advice", "--client-id", cid, NULL),
	             0, "template: %s", r.err);
	j = run_json(&r);
	cr_assert_not_null(j, "%s", r.out);
	cr_expect_str_eq(json_string_value(json_object_get(j, "localAuthority")), "Leeds");
	json_decref(j);
	run_result_free(&r);
	cr_assert_eq(run_refex(&r, net, north, "template", "client", "--client-id", cid, NULL), 0,
	             "template client: %s", r.err);
	j = run_json(&r);
	cr_assert_not_null(j, "%s", r.out);
	cr_expect_str_eq(json_string_value(json_object_get(j, "givenName")), "Amira");
	json_decref(j);
	run_result_free(&r);

	/* Listings by client: the recipient's inbox has it, its sent list and a stranger's none. */
	cr_assert_eq(run_refex(&r, net, east, "inbox", "--client-id", cid, "--json", NULL), 0);
	j = run_json(&r);
	cr_expect_eq(json_array_size(json_object_get(j, "referrals")), 1, "%s", r.out);
	json_decref(j);
	run_result_free(&r);
	cr_assert_eq(run_refex(&r, net, east, "sent", "--client-id", cid, NULL), 0);
	cr_expect(strstr(r.out, "No referrals of this client sent") != NULL, "%s", r.out);
	run_result_free(&r);
	cr_assert_eq(run_refex(&r, net, third, "inbox", "--client-id", cid, NULL), 0);
	cr_expect(strstr(r.out, "No referrals of this client") != NULL, "%s", r.out);
	run_result_free(&r);
	cr_expect_neq(
	    run_refex(&r, net, third, "template", "debt_advice", "--client-id", cid, NULL), 0,
	    "a stranger's template of another agency's client");
	cr_expect(strstr(r.err, "not found") != NULL, "%s", r.err);
	cr_expect(strstr(r.out, "Leeds") == NULL, "nothing known leaks: %s", r.out);
	run_result_free(&r);
}

Test(forward, json_gives_the_new_referral)
{
	char first[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *j;

	submit_housing(net, north, housing, first);
	client_of(north, first, cid);
	owner_consents(cid, NULL);
	cr_assert_eq(run_refex(&r, net, east, "forward", first, "--to", "north-advice", "--form",
	                       "debt_advice", "--data", debt_rest, "--json", NULL),
	             0, "forward: %s", r.err);
	j = run_json(&r);
	cr_assert(json_is_object(j), "forward --json printed:\n%s", r.out);
	cr_expect_eq(strlen(json_string_value(json_object_get(j, "id"))), REFEX_ID_LEN);
	cr_expect_str_eq(json_string_value(json_object_get(j, "state")), "STATE_SENT");
	cr_expect_str_eq(json_string_value(json_object_get(j, "parentId")), first);
	cr_expect_str_eq(json_string_value(json_object_get(j, "recipient")), "north-advice");
	json_decref(j);
	run_result_free(&r);
}
