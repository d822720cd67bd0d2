/* refex doctor against a real refexd: all well with a good setup, and each broken setup a
 * partner could end up with named in plain words, with exit status 1. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct net *net;
static const char *north, *east;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Jones");
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(doctor, .init = setup, .fini = teardown, .timeout = 120);

/* Run refex doctor as the holder of prefix and expect status; returns what it printed. */
static void doctor_as(struct run_result *r, const char *prefix, int status)
{
	run_refex(r, net, prefix, "doctor", NULL);
	cr_assert_eq(r->status, status, "refex doctor exited %d, expected %d:\n%s%s", r->status,
	             status, r->out, r->err);
}

/* Expect refex doctor's output to hold text. */
static void expect_says(const struct run_result *r, const char *text)
{
	cr_expect(strstr(r->out, text) != NULL, "refex doctor did not say \"%s\":\n%s", text,
	          r->out);
}

/* Make prefix.crt and prefix.key in the net directory link to the given files. */
static const char *combine(const char *name, const char *crt, const char *key)
{
	static char prefix[NET_PATH_MAX + 16];
	char path[NET_PATH_MAX + 32];

	snprintf(prefix, sizeof(prefix), "%s/%s", net->dir, name);
	snprintf(path, sizeof(path), "%s.crt", prefix);
	cr_assert_eq(symlink(crt, path), 0, "cannot link %s", path);
	snprintf(path, sizeof(path), "%s.key", prefix);
	cr_assert_eq(symlink(key, path), 0, "cannot link %s", path);
	return prefix;
}

Test(doctor, a_good_setup_is_all_well_and_names_the_agency)
{
	struct run_result r;

	doctor_as(&r, north, 0);
	expect_says(&r, "refexd/" REFEX_VERSION " knows you"); /* the Hello reply's server name */
	expect_says(&r, "north-advice");
	expect_says(&r, "Priya Shah");
	expect_says(&r, "North Advice Centre");
	expect_says(&r, "TLSv1.3");
	expect_says(&r, "All is well");
	cr_expect(strstr(r.out, "FAIL") == NULL, "a good setup has a FAIL:\n%s", r.out);
	run_result_free(&r);
}

Test(doctor, help_describes_the_command)
{
	struct run_result r;

	run_refex(&r, net, NULL, "doctor", "--help", NULL);
	cr_expect_eq(r.status, 0, "refex doctor --help exited %d: %s", r.status, r.err);
	expect_says(&r, "usage: refex doctor");
	run_result_free(&r);
}

Test(doctor, a_key_others_can_read_is_a_warning_with_the_fix)
{
	struct run_result r;
	char key[NET_PATH_MAX + 8];

	snprintf(key, sizeof(key), "%s.key", north);
	cr_assert_eq(chmod(key, 0644), 0);
	doctor_as(&r, north, 0);
	expect_says(&r, "warn");
	expect_says(&r, "chmod 600");
	run_result_free(&r);
}

Test(doctor, an_expired_certificate_fails_with_its_date)
{
	struct run_result r;

	doctor_as(&r, net_issue_dated(net, "expired", -30, -1), 1);
	expect_says(&r, "the certificate expired on");
	/* The hub agrees, and doctor says so in words too. */
	expect_says(&r, "the server refused our certificate");
	run_result_free(&r);
}

Test(doctor, a_key_that_is_not_the_certificates_fails)
{
	struct run_result r;
	char crt[NET_PATH_MAX + 8], key[NET_PATH_MAX + 8];

	snprintf(crt, sizeof(crt), "%s.crt", north);
	snprintf(key, sizeof(key), "%s.key", east);
	doctor_as(&r, combine("mixed", crt, key), 1);
	expect_says(&r, "the key does not belong to the certificate");
	expect_says(&r, "not tried until");
	run_result_free(&r);
}

Test(doctor, a_certificate_from_another_ca_fails)
{
	struct run_result r;

	doctor_as(&r, net_foreign_certificate(net), 1);
	expect_says(&r, "was not issued by this network's CA");
	expect_says(&r, "Some Other Network");
	run_result_free(&r);
}

Test(doctor, a_server_that_is_not_running_fails_and_says_so)
{
	struct run_result r;
	char where[64];

	net_expect_clean_stop(net);
	snprintf(where, sizeof(where), "is refexd running on 127.0.0.1:%d?", net->port);
	doctor_as(&r, north, 1);
	expect_says(&r, "connection refused");
	expect_says(&r, where);
	/* Everything local is still checked. */
	expect_says(&r, "agency north-advice");
	run_result_free(&r);
}

Test(doctor, a_server_certificate_is_not_a_partner_certificate)
{
	struct run_result r;
	char prefix[NET_PATH_MAX + 8];

	snprintf(prefix, sizeof(prefix), "%s/server", net->dir);
	doctor_as(&r, prefix, 1);
	expect_says(&r, "is a server certificate (for refexd), not a partner certificate");
	run_result_free(&r);
}

Test(doctor, an_agency_outside_the_partnership_fails_with_the_servers_words)
{
	struct run_result r;
	const char *stranger = net_issue(net, "stranger-agency", "Sally Stranger");

	doctor_as(&r, stranger, 1);
	expect_says(&r, "agency stranger-agency");
	expect_says(&r, "is not a partner in this network");
	run_result_free(&r);
}

/* Run refex doctor --json as prefix, expect status, and return the JSON object it printed. */
static json_t *doctor_json(const char *prefix, int status)
{
	struct run_result r;
	json_t *j;

	run_refex(&r, net, prefix, "doctor", "--json", NULL);
	cr_assert_eq(r.status, status, "refex doctor --json exited %d:\n%s%s", r.status, r.out,
	             r.err);
	j = run_json(&r);
	cr_assert(json_is_object(j), "refex doctor --json printed:\n%s", r.out);
	run_result_free(&r);
	return j;
}

/* Return the check called name in doctor's JSON (fails the test when there is none). */
static json_t *check_named(const json_t *doc, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(doc, "checks"), i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "check")), name) == 0) {
			return c;
		}
	}
	cr_assert_fail("no check \"%s\"", name);
	return NULL;
}

/* Expect check name to have verdict and its message to hold text. */
static void expect_check(const json_t *doc, const char *name, const char *verdict, const char *text)
{
	const json_t *c = check_named(doc, name);
	const char *msg = json_string_value(json_object_get(c, "message"));

	cr_expect_str_eq(json_string_value(json_object_get(c, "verdict")), verdict, "check %s",
	                 name);
	cr_expect(msg && strstr(msg, text), "check %s says \"%s\", not \"%s\"", name, msg, text);
}

Test(doctor, json_gives_each_check_and_the_verdict)
{
	json_t *j = doctor_json(north, 0);

	cr_expect(json_is_true(json_object_get(j, "ok")));
	cr_expect_eq(json_integer_value(json_object_get(j, "problems")), 0);
	expect_check(j, "hello", "ok", "agency north-advice");
	expect_check(j, "TLS handshake", "ok", "TLSv1.3");
	json_decref(j);

	j = doctor_json(net_issue(net, "stranger-agency", "Sally Stranger"), 1);
	cr_expect(json_is_false(json_object_get(j, "ok")));
	cr_expect_eq(json_integer_value(json_object_get(j, "problems")), 1);
	expect_check(j, "hello", "FAIL", "is not a partner in this network");
	json_decref(j);
}
