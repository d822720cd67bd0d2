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

/* Read the PEM certificate or key at path (the net CA's files). */
static X509 *read_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x;

	cr_assert_not_null(fp, "cannot read %s", path);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	cr_assert_not_null(x, "%s holds no certificate", path);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *fp = fopen(path, "r");
	EVP_PKEY *k;

	cr_assert_not_null(fp, "cannot read %s", path);
	k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	cr_assert_not_null(k, "%s holds no key", path);
	return k;
}

/* Add the extension nid = value to x, issued by ca. */
static void add_ext(X509 *x, X509 *ca, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	cr_assert_not_null(ext, "cannot make extension %d", nid);
	cr_assert(X509_add_ext(x, ext, -1));
	X509_EXTENSION_free(ext);
}

/* Write x and key as prefix.crt and prefix.key (mode 0600). */
static void write_pair(const char *prefix, X509 *x, EVP_PKEY *key)
{
	char path[NET_PATH_MAX + 32];
	FILE *fp;

	snprintf(path, sizeof(path), "%s.crt", prefix);
	cr_assert_not_null(fp = fopen(path, "w"));
	cr_assert(PEM_write_X509(fp, x));
	fclose(fp);
	snprintf(path, sizeof(path), "%s.key", prefix);
	cr_assert_not_null(fp = fopen(path, "w"));
	cr_assert_eq(fchmod(fileno(fp), 0600), 0);
	cr_assert(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL));
	fclose(fp);
}

/* Issue a north-advice partner certificate that expired yesterday, signed with the net's
 * CA key (refex-ca only issues certificates valid from now). */
static const char *expired_certificate(void)
{
	static char prefix[NET_PATH_MAX + 16];
	char ca_key_path[NET_PATH_MAX + 16];
	X509 *ca = read_cert(net->ca), *x = X509_new();
	EVP_PKEY *ca_key, *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_NAME *name = X509_NAME_new();

	snprintf(ca_key_path, sizeof(ca_key_path), "%s/ca.key", net->ca_dir);
	ca_key = read_key(ca_key_path);
	cr_assert(x && key && name);
	cr_assert(X509_set_version(x, X509_VERSION_3));
	cr_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 0x5eed));
	cr_assert(X509_gmtime_adj(X509_getm_notBefore(x), -30L * 86400));
	cr_assert(X509_gmtime_adj(X509_getm_notAfter(x), -86400));
	cr_assert(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	                                     (const unsigned char *)"north-advice", -1, -1, 0));
	cr_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	                                     (const unsigned char *)"Old Timer", -1, -1, 0));
	cr_assert(X509_set_subject_name(x, name));
	cr_assert(X509_set_issuer_name(x, X509_get_subject_name(ca)));
	cr_assert(X509_set_pubkey(x, key));
	add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE");
	add_ext(x, ca, NID_key_usage, "critical,digitalSignature");
	add_ext(x, ca, NID_ext_key_usage, "clientAuth");
	add_ext(x, ca, NID_authority_key_identifier, "keyid:always");
	cr_assert(X509_sign(x, ca_key, EVP_sha256()));
	snprintf(prefix, sizeof(prefix), "%s/expired", net->dir);
	write_pair(prefix, x, key);
	X509_NAME_free(name);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return prefix;
}

Test(doctor, a_good_setup_is_all_well_and_names_the_agency)
{
	struct run_result r;

	doctor_as(&r, north, 0);
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

	doctor_as(&r, expired_certificate(), 1);
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
