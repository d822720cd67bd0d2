/* The rules partners put on a form's fields (proto/refex/rules.proto), as a caseworker meets
 * them: the hub refuses a submit whose answers break one, naming the field as the JSON file
 * spells it and the rule in words, and stores nothing (a forward: test_forward.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct net *net;
static const char *north, *east;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Okafor");
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(rules, .init = setup, .fini = teardown, .timeout = 120);

/* Submit data (JSON text) on housing_support as north with client (a file); expect a refusal
 * saying want. */
static void submit_refused(const char *client, const char *data, const char *want)
{
	char *path = net_write_file(net, "answers.json", data);
	struct run_result r;

	cr_assert_not_null(path);
	cr_expect_eq(run_refex(&r, net, north, "submit", "--to", "eastside-housing", "--form",
	                       "housing_support", "--client", client, "--data", path, "--consent",
	                       FIXTURE("consent.json"), NULL),
	             1, "answers breaking a rule were taken: %s", data);
	cr_expect(strstr(r.err, want) != NULL, "\"%s\" does not say \"%s\"", r.err, want);
	run_result_free(&r);
	free(path);
}

Test(rules, a_submit_breaking_a_rule_is_refused_naming_the_field_and_nothing_is_stored)
{
	char *born_later = net_write_file(net, "born-later.json",
	                                  "{\"givenName\": \"Amira\", \"familyName\": \"Khan\","
	                                  " \"dateOfBirth\": \"2099-04-01\"}");

	submit_refused(FIXTURE("client.json"),
	               "{\"currentSituation\": \"AT_RISK_OF_EVICTION\", \"tenure\": "
	               "\"PRIVATE_RENTED\", \"dateAtRisk\": \"2020-01-01\"}",
	               "formData.dateAtRisk: 2020-01-01 is in the past; this form asks for a date "
	               "from today on (field: formData.dateAtRisk)");
	submit_refused(FIXTURE("client.json"),
	               "{\"currentSituation\": \"AT_RISK_OF_EVICTION\", \"tenure\": "
	               "\"TENURE_UNSPECIFIED\"}",
	               "formData.tenure: TENURE_UNSPECIFIED is no answer; this form asks you to "
	               "choose one of the others");
	submit_refused(FIXTURE("client.json"),
	               "{\"currentSituation\": \"SOFA_SURFING\", \"tenure\": \"LODGER\","
	               " \"householdMembers\": [{\"relationship\": \"child\"},"
	               " {\"relationship\": \"   \"}]}",
	               "(field: formData.householdMembers[1].relationship)");
	submit_refused(FIXTURE("client.json"),
	               "{\"currentSituation\": \"SOFA_SURFING\", \"tenure\": \"LODGER\","
	               " \"bedroomsNeeded\": 0}",
	               "formData.bedroomsNeeded: 0 is less than this form allows (at least 1)");
	cr_assert_not_null(born_later);
	submit_refused(born_later,
	               "{\"currentSituation\": \"SOFA_SURFING\", \"tenure\": \"LODGER\"}",
	               "client.dateOfBirth: 2099-04-01 is in the future");
	free(born_later);
	expect_box_empty(net, north, "sent");
	expect_box_empty(net, east, "inbox");
}
