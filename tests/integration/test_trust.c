/* Who may talk to the hub and what they may see: only partners with a certificate from the
 * network's CA get in, and a partner sees only the referrals it is a party to. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct net *net;
static const char *north, *east, *third;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
	east = net_issue(net, "eastside-housing", "Sam Jones");
	third = net_issue(net, "third-party", "Tom Reed");
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(trust, .init = setup, .fini = teardown, .timeout = 120);

/* Say whether the hub turned this raw connection away: no OK answer to Hello, then closed. */
static bool refused(struct raw *c)
{
	if (c == NULL) {
		return true; /* the handshake itself failed */
	}
	return raw_hello(c) != 0 && raw_wait_closed(c, HARNESS_READ_TIMEOUT_MS);
}

Test(trust, a_connection_without_a_client_certificate_is_refused)
{
	struct raw *c = raw_connect(net, NULL, NULL);

	cr_expect(refused(c), "the hub answered a client that showed no certificate");
	raw_free(c);
	cr_expect(net_log_wait(net, "reason=\"the client sent no certificate\""),
	          "refexd logs why it refused the handshake");
}

Test(trust, a_certificate_from_another_ca_is_refused)
{
	const char *impostor = net_foreign_certificate(net);
	struct raw *c = raw_connect(net, impostor, NULL);
	struct run_result r;

	cr_expect(refused(c), "the hub answered a certificate from another CA");
	raw_free(c);
	cr_expect(net_log_wait(
	              net, "reason=\"the certificate was not issued by the network's CA (unknown "
	                   "issuer)\" serial="),
	          "refexd logs the reason and the refused certificate's serial");

	run_refex(&r, net, impostor, "inbox", NULL);
	cr_expect_eq(r.status, 3, "refex inbox with a foreign certificate exited %d", r.status);
	cr_expect(strstr(r.err, "refex:") != NULL, "no explanation on stderr:\n%s", r.err);
	cr_expect_eq(r.out[0], '\0', "refex printed an inbox:\n%s", r.out);
	run_result_free(&r);
	net_expect_clean_stop(net);
}

static bool says_not_found(const char *err)
{
	return strcasestr(err, "not found") != NULL || strcasestr(err, "no referral") != NULL;
}

Test(trust, an_agency_that_is_not_a_party_cannot_see_or_touch_a_referral)
{
	struct run_result r;
	char id[REFEX_ID_LEN + 1];
	json_t *ref;

	submit_housing(net, north, FIXTURE("housing.json"), id);

	run_refex(&r, net, third, "show", id, NULL);
	cr_expect_eq(r.status, 1, "refex show by an outsider exited %d", r.status);
	cr_expect(says_not_found(r.err), "refex show by an outsider said:\n%s", r.err);
	cr_expect(strstr(r.out, "Amira") == NULL, "the outsider saw the client:\n%s", r.out);
	run_result_free(&r);

	run_refex(&r, net, third, "accept", id, NULL);
	cr_expect_eq(r.status, 1, "refex accept by an outsider exited %d", r.status);
	cr_expect(says_not_found(r.err), "refex accept by an outsider said:\n%s", r.err);
	run_result_free(&r);

	expect_box_empty(net, third, "inbox");
	expect_box_empty(net, third, "sent");

	/* Nothing the outsider did counts as the recipient reading or accepting it. */
	run_refex(&r, net, north, "show", id, "--json", NULL);
	cr_assert_eq(r.status, 0, "refex show by the sender exited %d: %s", r.status, r.err);
	ref = run_json(&r);
	cr_expect_str_eq(json_string_value(json_object_get(ref, "state")), "STATE_SENT");
	json_decref(ref);
	run_result_free(&r);
}

Test(trust, a_certificate_for_an_agency_outside_the_partnership_is_refused)
{
	const char *stranger = net_issue(net, "stranger-agency", "Sally Stranger");
	struct raw *c = raw_connect(net, stranger, NULL);
	struct run_result r;

	cr_expect(refused(c), "the hub answered an agency that is not a partner");
	raw_free(c);

	/* A trust failure like any other: exit 3, as the README's table says, and not retried. */
	run_refex(&r, net, stranger, "inbox", NULL);
	cr_expect_eq(r.status, 3, "refex inbox as a non-partner exited %d", r.status);
	cr_expect(strstr(r.err, "partner") != NULL || strstr(r.err, "stranger-agency") != NULL,
	          "refex does not explain the refusal:\n%s", r.err);
	cr_expect_eq(r.out[0], '\0', "refex printed an inbox:\n%s", r.out);
	run_result_free(&r);
	run_refex(&r, net, stranger, "accept", "0000000000000000", NULL);
	cr_expect_eq(r.status, 3, "refex accept as a non-partner exited %d", r.status);
	cr_expect(strstr(r.err, "is not a partner in this network") != NULL, "%s", r.err);
	cr_expect(strstr(r.err, "trying again") == NULL, "a trust failure is not retried: %s",
	          r.err);
	run_result_free(&r);
	net_expect_clean_stop(net);
}

/* Connect with prefix (PREFIX.crt/.key) and expect the hub to refuse the handshake and log why. */
static void expect_refused_with(const char *prefix, const char *reason)
{
	struct raw *c = raw_connect(net, prefix, NULL);
	char line[256];

	cr_expect(refused(c), "the hub answered %s", prefix);
	raw_free(c);
	snprintf(line, sizeof(line), "msg=\"handshake refused\" reason=\"%s\"", reason);
	cr_expect(net_log_wait(net, line), "refexd logs: %s", line);
}

Test(trust, an_expired_certificate_is_refused)
{
	expect_refused_with(net_issue_dated(net, "expired", -30, -1),
	                    "the certificate has expired");
}

Test(trust, a_certificate_not_yet_valid_is_refused)
{
	expect_refused_with(net_issue_dated(net, "future", 2, 30),
	                    "the certificate is not valid yet (check the clocks)");
}

Test(trust, a_server_certificate_cannot_be_used_as_a_client_certificate)
{
	char prefix[NET_PATH_MAX + 16];

	snprintf(prefix, sizeof(prefix), "%s/server", net->dir);
	expect_refused_with(prefix,
	                    "the certificate is not for this use (wrong extended key usage)");
	cr_expect(net_log_wait(net, "serial="), "the refusal names the certificate");
}

Test(trust, the_ca_certificate_itself_cannot_be_used_as_a_client_certificate)
{
	char prefix[NET_PATH_MAX + 16], crt[NET_PATH_MAX + 32], key[NET_PATH_MAX + 32];
	char ca_key[NET_PATH_MAX + 16];

	snprintf(prefix, sizeof(prefix), "%s/ca-as-client", net->dir);
	snprintf(crt, sizeof(crt), "%s.crt", prefix);
	snprintf(key, sizeof(key), "%s.key", prefix);
	snprintf(ca_key, sizeof(ca_key), "%s/ca.key", net->ca_dir);
	cr_assert_eq(symlink(net->ca, crt), 0);
	cr_assert_eq(symlink(ca_key, key), 0);
	expect_refused_with(prefix,
	                    "the certificate is not for this use (wrong extended key usage)");
}

Test(trust, refex_warns_when_its_own_certificate_is_about_to_expire)
{
	char prefix[NET_PATH_MAX + 16];
	struct run_result r;

	snprintf(prefix, sizeof(prefix), "%s/short-lived", net->dir);
	cr_assert_eq(run_refex_ca(&r, "issue", "--dir", net->ca_dir, "--agency", "north-advice",
	                          "--holder", "Temp Worker", "--days", "10", "--out", prefix, NULL),
	             0, "%s", r.err);
	run_result_free(&r);
	cr_expect_eq(run_refex(&r, net, prefix, "partners", NULL), 0, "%s", r.err);
	cr_expect(strstr(r.err, "your certificate expires on") != NULL, "stderr: %s", r.err);
	run_result_free(&r);
	cr_expect_eq(run_refex(&r, net, north, "partners", NULL), 0);
	cr_expect(strstr(r.err, "expires") == NULL, "no warning for a fresh certificate: %s",
	          r.err);
	run_result_free(&r);
}
