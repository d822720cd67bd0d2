/* Who may talk to the hub and what they may see: only partners with a certificate from the
 * network's CA get in, and a partner sees only the referrals it is a party to. */
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "identity.h"

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
	cr_expect(net_log_wait(net, "reason=\"the client sent no certificate\" serial=- "
	                            "fingerprint=- peer=127.0.0.1:"),
	          "refexd logs why it refused the handshake, and from where");
}

Test(trust, a_handshake_cut_by_a_reset_still_names_the_peer)
{
	/* Someone probing the port and resetting at once (SO_LINGER 0) must not vanish from the
	 * log: after a reset the socket no longer knows its peer. */
	struct linger reset = {.l_onoff = 1, .l_linger = 0};
	int fd = net_tcp_connect(net, "127.0.0.3");

	cr_assert(fd >= 0, "cannot connect to refexd");
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
	close(fd);
	cr_expect(net_log_wait(net, "msg=\"handshake refused\""), "the reset was not logged");
	cr_expect(net_log_count(net, "fingerprint=- peer=127.0.0.3:") == 1,
	          "refexd logs the refused handshake without the address it came from");
}

/* Read the serial and fingerprint of the certificate prefix.crt as refexd logs them. */
static void cert_ids(const char *prefix, struct identity *id)
{
	char path[NET_PATH_MAX + 8];
	FILE *fp;
	X509 *x;

	snprintf(path, sizeof(path), "%s.crt", prefix);
	cr_assert_not_null(fp = fopen(path, "r"), "%s", path);
	cr_assert_not_null(x = PEM_read_X509(fp, NULL, NULL, NULL), "%s", path);
	fclose(fp);
	identity_cert_ids(x, id);
	X509_free(x);
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

	struct identity id;
	char line[512];

	cr_expect(refused(c), "the hub answered an agency that is not a partner");
	raw_free(c);
	cert_ids(stranger, &id);
	snprintf(line, sizeof(line),
	         "reason=\"agency not in the partnership\" agency=stranger-agency serial=%s "
	         "fingerprint=%s peer=127.0.0.1:",
	         id.serial, id.fingerprint);
	cr_expect(net_log_wait(net, line), "the refusal names the certificate and the peer: %s",
	          line);

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

Test(trust, a_certificate_naming_two_agencies_is_refused_as_repeated)
{
	static const char *const two[] = {"O",  "north-advice", "O", "eastside-housing",
	                                  "CN", "Two Hats",     NULL};

	expect_refused_with(net_issue_subject(net, "two-hats", two),
	                    "certificate names more than one agency (O is repeated; it must "
	                    "appear once)");
}

/* Say whether text holds the words of an expired hub CRL, and none about the partner's own
 * certificate having expired. */
static bool blames_the_hubs_crl(const char *text)
{
	return strstr(text, "the hub cannot check revocations (its revocation list expired): "
	                    "tell the hub's operator") != NULL &&
	       strstr(text, "has expired or is not valid yet") == NULL;
}

Test(trust, an_expired_hub_crl_is_the_hubs_problem_not_the_partners_certificate)
{
	const long left = 8; /* seconds: enough for the reload to take it on a slow machine */
	struct run_result r;
	time_t expired;

	net_write_crl_expiring(net, left);
	expired = time(NULL) + left + 1;
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded"), "the hub takes the CRL while it is current");
	/* Waiting for the CRL's next update to pass on the clock, not for a server. */
	while (time(NULL) <= expired) {
		poll(NULL, 0, 100);
	}
	run_refex(&r, net, north, "inbox", NULL);
	cr_expect_eq(r.status, 3, "refex inbox exited %d", r.status);
	cr_expect(blames_the_hubs_crl(r.err), "refex said:\n%s", r.err);
	run_result_free(&r);
	run_refex(&r, net, north, "doctor", NULL);
	cr_expect_eq(r.status, 1, "refex doctor exited %d", r.status);
	cr_expect(blames_the_hubs_crl(r.out), "refex doctor said:\n%s", r.out);
	run_result_free(&r);
	cr_expect(net_log_wait(net, "reason=\"the revocation list (CRL) has expired"),
	          "the hub's log says what its operator must do");
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
