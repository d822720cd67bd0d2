/* What test_clients.c and test_consent.c share: a net with three partners, and steps that
 * add a client, record consent and refer a stored client through the real refex. */
#ifndef REFEX_CLIENTS_FIXTURE_H
#define REFEX_CLIENTS_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct net *net;
static const char *north, *east, *third;

static void clients_setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Okafor");
	third = net_issue(net, "third-party", "Lee Chan");
	net_must_start(net);
}

static void clients_teardown(void)
{
	net_teardown(net);
	net = NULL;
}

/* Write a client record file named after given and family; the caller frees the path. */
static char *client_file(const char *given, const char *family, const char *dob)
{
	char json[512], name[128];
	char *path;

	snprintf(
	    json, sizeof(json),
	    "{\"givenName\": \"%s\", \"familyName\": \"%s\"%s%s%s, \"phone\": \"07700 900123\"}",
	    given, family, dob ? ", \"dateOfBirth\": \"" : "", dob ? dob : "", dob ? "\"" : "");
	snprintf(name, sizeof(name), "client-%s-%s-%d.json", given, family, rand());
	cr_assert_not_null(path = net_write_file(net, name, json));
	return path;
}

/* Add a client as prefix; id gets its id; stderr (warnings) is kept in *warn if asked. */
static void client_add(const char *prefix, const char *given, const char *family, const char *dob,
                       char id[REFEX_ID_LEN + 1], char **warn)
{
	char *path = client_file(given, family, dob);
	struct run_result r;

	cr_assert_eq(run_refex(&r, net, prefix, "client", "add", path, NULL), 0, "client add: %s",
	             r.err);
	cr_assert_eq(strlen(run_line(&r)), REFEX_ID_LEN, "an id: %s", r.out);
	snprintf(id, REFEX_ID_LEN + 1, "%s", r.out);
	if (warn != NULL) {
		*warn = strdup(r.err);
	}
	run_result_free(&r);
	free(path);
}

/* Record consent for client id to share with agency; cid gets the consent's id. */
static void consent_to(const char *id, const char *agency, char cid[REFEX_ID_LEN + 1])
{
	struct run_result r;

	cr_assert_eq(run_refex(&r, net, north, "consent", "add", id, "--to", agency, "--purpose",
	                       "housing support referral", "--method", "verbal", NULL),
	             0, "consent add: %s", r.err);
	snprintf(cid, REFEX_ID_LEN + 1, "%s", run_line(&r));
	run_result_free(&r);
}

/* Refer stored client id from north to eastside-housing; returns refex's exit status, with
 * the referral's id in ref (on success) and what refex said in r (caller frees). */
static int submit_stored(const char *id, char ref[REFEX_ID_LEN + 1], struct run_result *r)
{
	int rc = run_refex(r, net, north, "submit", "--to", "eastside-housing", "--form",
	                   "housing_support", "--client-id", id, "--data", FIXTURE("housing.json"),
	                   NULL);

	if (rc == 0) {
		snprintf(ref, REFEX_ID_LEN + 1, "%s", run_line(r));
	}
	return rc;
}

/* Run refex as prefix with args and return its stdout as JSON (exit 0 expected). */
#define REFEX_JSON(prefix, ...)                                                                    \
	({                                                                                         \
		struct run_result r_;                                                              \
		json_t *j_;                                                                        \
		cr_assert_eq(run_refex(&r_, net, prefix, __VA_ARGS__, "--json", NULL), 0, "%s",    \
		             r_.err);                                                              \
		j_ = run_json(&r_);                                                                \
		cr_assert_not_null(j_, "JSON: %s", r_.out);                                        \
		run_result_free(&r_);                                                              \
		j_;                                                                                \
	})

#endif
