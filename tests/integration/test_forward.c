/* Onward referral: the receiving agency refers the client on; the form is filled in from the
 * answers already given and only what is missing is asked for; both ends see the chain. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct net *net;
static const char *north, *east, *third;
static char *housing, *consent_north, *debt_rest;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Okafor");
	third = net_issue(net, "third-party", "Lee Chan");
	housing = net_write_file(net, "housing-la.json",
	                         "{\"currentSituation\": \"AT_RISK_OF_EVICTION\","
	                         " \"tenure\": \"PRIVATE_RENTED\", \"localAuthority\": \"Leeds\"}");
	consent_north =
	    net_write_file(net, "consent-north.json",
	                   "{\"toAgency\": \"north-advice\", \"purpose\": \"debt advice\","
	                   " \"method\": \"CONSENT_VERBAL\"}");
	debt_rest =
	    net_write_file(net, "debt-rest.json",
	                   "{\"approximateTotalPounds\": 1200, \"enforcementAction\": false}");
	cr_assert(housing && consent_north && debt_rest);
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	free(housing);
	free(consent_north);
	free(debt_rest);
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

Test(forward, names_only_the_missing_fields_then_fills_the_rest_in)
{
	char first[REFEX_ID_LEN + 1], onward[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *j, *answers;

	submit_housing(net, north, housing, first);
	cr_assert_eq(run_refex(&r, net, east, "forward", first, "--to", "north-advice", "--form",
	                       "debt_advice", "--consent", consent_north, NULL),
	             1, "forward without the new answers must be refused: %s", r.err);
	cr_expect(strstr(r.err, "still missing: approximate_total_pounds, enforcement_action") !=
	              NULL,
	          "the refusal names exactly the missing fields: %s", r.err);
	cr_expect(strstr(r.err, "local_authority") == NULL, "known answers are not asked for");
	run_result_free(&r);

	cr_assert_eq(run_refex(&r, net, east, "forward", first, "--to", "north-advice", "--form",
	                       "debt_advice", "--consent", consent_north, "--data", debt_rest,
	                       NULL),
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
	                       "debt_advice", "--consent", consent_north, "--data", debt_rest,
	                       NULL),
	             1);
	cr_expect(strstr(r.err, "only the agency") != NULL, "the sender is refused: %s", r.err);
	run_result_free(&r);
	cr_expect_eq(run_refex(&r, net, third, "forward", first, "--to", "north-advice", "--form",
	                       "debt_advice", "--consent", consent_north, "--data", debt_rest,
	                       NULL),
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
