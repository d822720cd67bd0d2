/* Onward referral: the receiving agency refers the client on; the form is filled in from the
 * answers already given and only what is missing is asked for; both ends see the chain. The
 * stored client goes on as itself, and only under a consent its owner recorded. */
#include <criterion/criterion.h>
#include <ctype.h>
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
	cr_expect(strstr(r.err, "still missing: approximateTotalPounds, enforcementAction") != NULL,
	          "the refusal names exactly the missing fields: %s", r.err);
	cr_expect(strstr(r.err, "localAuthority") == NULL, "known answers are not asked for");
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

/* The new form's rules (proto/refex/rules.proto) hold for the forwarded answers too. */
Test(forward, answers_breaking_a_rule_are_refused_naming_the_field_and_nothing_is_stored)
{
	char *debt =
	    net_write_file(net, "debt-past.json",
	                   "{\"approximateTotalPounds\": 1200, \"enforcementAction\": true,"
	                   " \"nextCourtDate\": \"2020-01-01\"}");
	char first[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1];
	struct run_result r;
	json_t *j;

	cr_assert_not_null(debt);
	submit_housing(net, north, housing, first);
	client_of(north, first, cid);
	owner_consents(cid, NULL);
	cr_expect_eq(run_refex(&r, net, east, "forward", first, "--to", "north-advice", "--form",
	                       "debt_advice", "--data", debt, NULL),
	             1, "a forward with a court date in the past was taken");
	cr_expect(strstr(r.err, "formData.nextCourtDate: 2020-01-01 is in the past; this form asks "
	                        "for a date from today on (field: formData.nextCourtDate)") != NULL,
	          "%s", r.err);
	run_result_free(&r);
	expect_box_empty(net, north, "inbox");
	j = show(north, first);
	cr_expect_eq(json_array_size(json_object_get(j, "childIds")), 0,
	             "an onward referral was stored");
	json_decref(j);
	free(debt);
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

/* Run refex args... as prefix, expecting exit 0; return its output (malloc'd). */
static char *output_of(const char *prefix, const char *a1, const char *a2, const char *a3,
                       const char *a4)
{
	struct run_result r;
	char *out;

	cr_assert_eq(run_refex(&r, net, prefix, a1, a2, a3, a4, NULL), 0, "%s %s: %s", a1,
	             a2 ? a2 : "", r.err);
	out = strdup(r.out);
	run_result_free(&r);
	cr_assert_not_null(out);
	return out;
}

/* What the original sender may learn of an onward referral: these keys and no other. */
static void expect_only_a_summary(const json_t *onward, const char *id, const char *state)
{
	static const char *const allowed[] = {"id",    "recipient", "form",     "formVersion",
	                                      "state", "createdAt", "updatedAt"};

	cr_assert(json_is_object(onward), "an onward summary");
	cr_expect_str_eq(json_string_value(json_object_get(onward, "id")), id);
	cr_expect_str_eq(json_string_value(json_object_get(onward, "recipient")), "third-party");
	cr_expect_str_eq(json_string_value(json_object_get(onward, "form")), "food_support");
	cr_expect_str_eq(json_string_value(json_object_get(onward, "state")), state);
	cr_expect_not_null(json_object_get(onward, "createdAt"));
	cr_expect_not_null(json_object_get(onward, "updatedAt"));
	for (void *it = json_object_iter((json_t *)onward); it != NULL;
	     it = json_object_iter_next((json_t *)onward, it)) {
		const char *key = json_object_iter_key(it);
		bool known = false;

		for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
			known = known || strcmp(key, allowed[i]) == 0;
		}
		cr_expect(known, "the summary holds only agency, form, state and dates, not %s",
		          key);
	}
}

/* Check what north, the original sender, sees of onward in show and sent, as text and JSON;
 * state is its JSON name (STATE_ACCEPTED). */
static void expect_north_sees(const char *first, const char *onward, const char *state)
{
	char *out, *row, word[32], line[128];
	json_t *j, *sent;

	snprintf(word, sizeof(word), "%s", strrchr(state, '_') + 1);
	for (char *c = word; *c; c++) {
		*c = (char)tolower((unsigned char)*c);
	}
	j = show(north, first);
	cr_assert_eq(json_array_size(json_object_get(j, "onward")), 1, "one onward referral");
	expect_only_a_summary(json_array_get(json_object_get(j, "onward"), 0), onward, state);
	json_decref(j);

	out = output_of(north, "sent", "--json", NULL, NULL);
	cr_assert_not_null(j = json_loads(out, 0, NULL), "%s", out);
	sent = json_array_get(json_object_get(j, "referrals"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(sent, "id")), first);
	cr_assert_eq(json_array_size(json_object_get(sent, "onward")), 1, "%s", out);
	expect_only_a_summary(json_array_get(json_object_get(sent, "onward"), 0), onward, state);
	json_decref(j);
	cr_expect(strstr(out, "BENEFIT_DELAY") == NULL && strstr(out, "Lee Chan") == NULL,
	          "no onward answers or holders: %s", out);
	free(out);

	out = output_of(north, "show", first, NULL, NULL);
	snprintf(line, sizeof(line), "%s to third-party: ", onward);
	cr_expect(strstr(out, "forwarded as") != NULL && strstr(out, line) != NULL, "%s", out);
	snprintf(line, sizeof(line), "(food_support, version 1), %s (sent ", word);
	cr_expect(strstr(out, line) != NULL, "show says %s: %s", line, out);
	cr_expect(strstr(out, "BENEFIT_DELAY") == NULL && strstr(out, "Lee Chan") == NULL &&
	              strstr(out, "CANARY-OUTCOME") == NULL,
	          "no onward answers, holders or outcome: %s", out);
	free(out);

	out = output_of(north, "sent", NULL, NULL, NULL);
	snprintf(line, sizeof(line), "-> %s  third-party", onward);
	cr_assert_not_null(row = strstr(out, line), "sent shows the onward row: %s", out);
	*strchrnul(row, '\n') = '\0';
	cr_expect(strstr(row, "food_support") != NULL && strstr(row, word) != NULL, "%s", row);
	free(out);
}

Test(forward, the_original_sender_follows_the_onward_referral_without_its_details)
{
	char first[REFEX_ID_LEN + 1], onward[REFEX_ID_LEN + 1], cid[REFEX_ID_LEN + 1];
	struct run_result r;
	char *out;

	submit_housing(net, north, housing, first);
	client_of(north, first, cid);
	owner_consents(cid, "third-party");
	out = output_of(north, "sent", NULL, NULL, NULL); /* the page cache now holds it */
	free(out);
	cr_assert_eq(run_refex(&r, net, east, "forward", first, "--to", "third-party", "--form",
	                       "food_support", "--data", food, NULL),
	             0, "forward: %s", r.err);
	snprintf(onward, sizeof(onward), "%s", run_line(&r));
	run_result_free(&r);
	expect_north_sees(first, onward, "STATE_SENT");

	/* Its state follows the onward referral's: received, accepted, then completed. */
	out = output_of(third, "show", onward, NULL, NULL);
	free(out);
	expect_north_sees(first, onward, "STATE_RECEIVED");
	out = output_of(third, "accept", onward, NULL, NULL);
	free(out);
	expect_north_sees(first, onward, "STATE_ACCEPTED");
	out = output_of(third, "complete", onward, "--outcome", "vouchers given CANARY-OUTCOME");
	free(out);
	expect_north_sees(first, onward, "STATE_COMPLETED");

	/* The onward referral itself stays the forwarder's and its partner's. */
	cr_expect_neq(run_refex(&r, net, north, "show", onward, NULL), 0);
	cr_expect(strstr(r.err, "not found") != NULL, "%s", r.err);
	cr_expect(strstr(r.out, "BENEFIT_DELAY") == NULL, "%s", r.out);
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
