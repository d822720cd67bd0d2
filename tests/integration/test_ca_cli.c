/* Partner trust administration through the real tools: a partner makes its own key (refex
 * keygen), the admin signs its request, revokes by agency and holder and renews (refex-ca),
 * and the hub lets in exactly who it should. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct net *net;

static void setup(void)
{
	net = net_new();
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(ca_cli, .init = setup, .fini = teardown, .timeout = 120);

/* The path net->dir/name in buf (NET_PATH_MAX + 32 bytes). */
static const char *in_net(const char *name, char *buf)
{
	snprintf(buf, NET_PATH_MAX + 32, "%s/%s", net->dir, name);
	return buf;
}

/* prefix.ext in buf (NET_PATH_MAX + 64 bytes). */
static const char *with_ext(const char *prefix, const char *ext, char *buf)
{
	snprintf(buf, NET_PATH_MAX + 64, "%s.%s", prefix, ext);
	return buf;
}

/* Run refex keygen for agency and holder into prefix, expecting success. */
static void keygen(const char *agency, const char *holder, const char *prefix)
{
	struct run_result r;

	run_refex(&r, net, NULL, "keygen", "--agency", agency, "--holder", holder, "--out", prefix,
	          NULL);
	cr_assert_eq(r.status, 0, "refex keygen exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, ".csr") != NULL && strstr(r.out, "admin") != NULL,
	          "keygen does not say what to send to the admin:\n%s", r.out);
	run_result_free(&r);
}

/* Expect refex partners as prefix to work and list the partnership. */
static void expect_partners_work(const char *prefix)
{
	struct run_result r;

	run_refex(&r, net, prefix, "partners", NULL);
	cr_expect_eq(r.status, 0, "refex partners exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, "eastside-housing") != NULL, "refex partners printed:\n%s", r.out);
	run_result_free(&r);
}

Test(ca_cli, a_partner_with_its_own_key_connects_once_its_request_is_signed)
{
	char ann[NET_PATH_MAX + 32], csr[NET_PATH_MAX + 64], key[NET_PATH_MAX + 64];
	char crt[NET_PATH_MAX + 64];
	struct run_result r;
	struct stat st;
	char *serial;
	json_t *list;

	keygen("north-advice", "Ann Lee", in_net("ann", ann));
	cr_assert_eq(stat(with_ext(ann, "key", key), &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600, "the key is readable by others: %o", st.st_mode);

	run_refex_ca(&r, "sign", "--dir", net->ca_dir, "--csr", with_ext(ann, "csr", csr),
	             "--agency", "north-advice", "--out", ann, NULL);
	cr_assert_eq(r.status, 0, "refex-ca sign exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, "Ann Lee") != NULL, "sign does not say whom:\n%s", r.out);
	run_result_free(&r);
	cr_assert_eq(access(with_ext(ann, "crt", crt), R_OK), 0);
	expect_partners_work(ann);

	/* The record says the key never left the partner, so renewing needs a new request. */
	serial = net_serial_of(net, "Ann Lee");
	run_refex_ca(&r, "list", "--dir", net->ca_dir, "--json", NULL);
	list = run_json(&r);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "key_origin")),
	                 "csr");
	json_decref(list);
	run_result_free(&r);
	run_refex_ca(&r, "renew", "--dir", net->ca_dir, "--serial", serial, "--out",
	             in_net("ann2", ann), NULL);
	cr_expect_eq(r.status, 1, "renew without --csr exited %d", r.status);
	cr_expect(strstr(r.err, "--csr") != NULL, "renew does not ask for --csr:\n%s", r.err);
	run_result_free(&r);
	free(serial);
}

Test(ca_cli, signing_a_request_for_another_agency_is_refused_naming_both)
{
	char bad[NET_PATH_MAX + 32], csr[NET_PATH_MAX + 64], crt[NET_PATH_MAX + 64];
	struct run_result r;

	keygen("north-advice", "Mallory", in_net("mallory", bad));
	run_refex_ca(&r, "sign", "--dir", net->ca_dir, "--csr", with_ext(bad, "csr", csr),
	             "--agency", "eastside-housing", "--out", bad, NULL);
	cr_expect_eq(r.status, 1, "refex-ca sign exited %d", r.status);
	cr_expect(strstr(r.err, "north-advice") != NULL &&
	              strstr(r.err, "eastside-housing") != NULL,
	          "the refusal does not name both agencies:\n%s", r.err);
	cr_expect_eq(access(with_ext(bad, "crt", crt), F_OK), -1, "a certificate was written");
	run_result_free(&r);
}

Test(ca_cli, revoking_an_agency_says_what_it_revoked_and_the_hub_then_refuses_it)
{
	const char *tom = net_issue(net, "third-party", "Tom Reed");
	const char *una = net_issue(net, "third-party", "Una Fox");
	const char *priya = net_issue(net, "north-advice", "Priya Shah");
	char *s_tom = net_serial_of(net, "Tom Reed"), *s_una = net_serial_of(net, "Una Fox");
	struct run_result r;

	run_refex_ca(&r, "revoke", "--dir", net->ca_dir, "--agency", "third-party", "--reason",
	             "cessationOfOperation", NULL);
	cr_assert_eq(r.status, 0, "refex-ca revoke exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, s_tom) != NULL && strstr(r.out, "Tom Reed") != NULL,
	          "Tom's certificate is not listed:\n%s", r.out);
	cr_expect(strstr(r.out, s_una) != NULL && strstr(r.out, "Una Fox") != NULL,
	          "Una's certificate is not listed:\n%s", r.out);
	cr_expect(strstr(r.out, "Priya") == NULL, "another agency's holder is listed:\n%s", r.out);
	run_result_free(&r);

	run_refex_ca(&r, "revoke", "--dir", net->ca_dir, "--agency", "third-party", "--reason",
	             "again", NULL);
	cr_expect_eq(r.status, 1, "revoking nothing exited %d", r.status);
	cr_expect(strstr(r.err, "third-party") != NULL, "no explanation:\n%s", r.err);
	run_result_free(&r);

	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded"), "refexd did not reload");
	run_refex(&r, net, tom, "partners", NULL);
	cr_expect_neq(r.status, 0, "a revoked holder still got in");
	run_result_free(&r);
	run_refex(&r, net, una, "partners", NULL);
	cr_expect_neq(r.status, 0, "a revoked holder still got in");
	run_result_free(&r);
	expect_partners_work(priya);
	free(s_tom);
	free(s_una);
}

Test(ca_cli, a_renewed_certificate_works_and_the_list_shows_days_left)
{
	const char *sam = net_issue(net, "eastside-housing", "Sam Jones");
	char *serial = net_serial_of(net, "Sam Jones");
	char sam2[NET_PATH_MAX + 32], key[NET_PATH_MAX + 64];
	struct run_result r;

	run_refex_ca(&r, "renew", "--dir", net->ca_dir, "--serial", serial, "--out",
	             in_net("sam2", sam2), "--days", "20", NULL);
	cr_assert_eq(r.status, 0, "refex-ca renew exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.out, serial) != NULL, "renew does not name what it renews:\n%s", r.out);
	run_result_free(&r);
	cr_assert_eq(access(with_ext(sam2, "key", key), R_OK), 0, "no new key was made");
	expect_partners_work(sam2);
	expect_partners_work(sam); /* the old one stays valid until it expires */

	run_refex_ca(&r, "list", "--dir", net->ca_dir, "--expiring", "30", NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect(strstr(r.out, "DAYS LEFT") != NULL, "no DAYS LEFT column:\n%s", r.out);
	cr_expect(strstr(r.out, "Sam Jones") != NULL, "the renewal is not due:\n%s", r.out);
	cr_expect(strstr(r.out, serial) == NULL, "a year-long certificate is listed as due:\n%s",
	          r.out);
	run_result_free(&r);
	free(serial);
}
