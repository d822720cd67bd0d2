/* PKCS#12 files for browsers: refex-ca issue --p12 and refex p12 write passphrase-protected files
 * with modern algorithms that OpenSSL reads back, and that get their holder into the HTTPS door. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_web.h"

#define PASS "correct horse battery"

static struct net *net;
static char *pass_file;

static void setup(void)
{
	net = net_new();
	cr_assert_eq(net_write_config(net, NET_DEFAULT_AGENCIES "\n[web]\nlisten = 127.0.0.1:0\n"),
	             0);
	pass_file = net_write_file(net, "pass", PASS "\n");
	cr_assert_not_null(pass_file);
}

static void teardown(void)
{
	free(pass_file);
	net_teardown(net);
	net = NULL;
}

TestSuite(p12, .init = setup, .fini = teardown, .timeout = 180);

/* Path of name in the net directory (one of four static buffers, used in turn). */
static const char *in_net(const char *name)
{
	static char paths[4][NET_PATH_MAX + 64];
	static unsigned next;
	char *path = paths[next++ % 4];

	snprintf(path, sizeof(paths[0]), "%s/%s", net->dir, name);
	return path;
}

/* Run openssl pkcs12 on file with the passphrase in pass_path and extra arguments (up to 2). */
static int openssl_pkcs12(struct run_result *r, const char *file, const char *pass_path,
                          const char *a1, const char *a2)
{
	char passin[NET_PATH_MAX + 8];
	char *argv[] = {OPENSSL_PATH, "pkcs12",   "-in",      (char *)file, "-passin",
	                passin,       (char *)a1, (char *)a2, NULL};

	snprintf(passin, sizeof(passin), "file:%s", pass_path);
	return run(r, argv, NULL);
}

/* Expect the PKCS#12 file at path to open with PASS only, with modern algorithms, holding a
 * key and the certificate whose PEM is in crt_path. */
static void expect_readable_p12(const char *path, const char *crt_path)
{
	struct run_result r;
	struct stat st;
	char *wrong = net_write_file(net, "wrong", "not the passphrase\n");
	FILE *f = fopen(crt_path, "r");
	char pem[8192] = {0};

	cr_assert(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "%s is mode 0600", path);
	cr_assert_eq(openssl_pkcs12(&r, path, pass_file, "-info", "-noout"), 0, "%s", r.err);
	cr_expect(strstr(r.err, "PBES2, PBKDF2, AES-256-CBC") != NULL, "%s", r.err);
	cr_expect(strstr(r.err, "PRF hmacWithSHA256") != NULL, "%s", r.err);
	cr_expect(strstr(r.err, "MAC: sha256") != NULL, "%s", r.err);
	run_result_free(&r);
	cr_assert_eq(openssl_pkcs12(&r, path, pass_file, "-nodes", NULL), 0, "%s", r.err);
	cr_expect(strstr(r.out, "PRIVATE KEY-----") != NULL, "it holds the key");
	cr_assert_not_null(f);
	cr_assert_gt(fread(pem, 1, sizeof(pem) - 1, f), 0);
	fclose(f);
	cr_expect(strstr(r.out, pem) != NULL, "it holds the holder's certificate");
	run_result_free(&r);
	cr_expect_neq(openssl_pkcs12(&r, path, wrong, "-noout", NULL), 0,
	              "another passphrase does not open it");
	run_result_free(&r);
	free(wrong);
}

Test(p12, refex_ca_issue_writes_a_p12_openssl_reads_back)
{
	struct run_result r;

	cr_assert_eq(run_refex_ca(&r, "issue", "--dir", net->ca_dir, "--agency", "north-advice",
	                          "--holder", "Ann Lee", "--out", in_net("ann"), "--p12",
	                          in_net("ann.p12"), "--p12-pass-file", pass_file, NULL),
	             0, "%s", r.err);
	cr_expect(strstr(r.out, "ann.p12") != NULL, "it says where the file is:\n%s", r.out);
	run_result_free(&r);
	expect_readable_p12(in_net("ann.p12"), in_net("ann.crt"));
}

Test(p12, a_short_passphrase_is_refused_before_anything_is_issued)
{
	char *short_pass = net_write_file(net, "short", "2short\n");
	struct run_result r;

	cr_assert_neq(run_refex_ca(&r, "issue", "--dir", net->ca_dir, "--agency", "north-advice",
	                           "--holder", "Ann Lee", "--out", in_net("ann"), "--p12",
	                           in_net("ann.p12"), "--p12-pass-file", short_pass, NULL),
	              0);
	cr_expect(strstr(r.err, "at least 8 characters") != NULL, "%s", r.err);
	cr_expect_neq(access(in_net("ann.crt"), F_OK), 0, "no certificate was issued");
	run_result_free(&r);
	cr_expect_eq(run_refex_ca(&r, "issue", "--dir", net->ca_dir, "--agency", "north-advice",
	                          "--holder", "Ann Lee", "--out", in_net("ann"), "--p12-pass-file",
	                          pass_file, NULL),
	             2, "--p12-pass-file without --p12 is a usage error: %s", r.err);
	run_result_free(&r);
	free(short_pass);
}

Test(p12, refex_p12_packs_the_holders_own_key_and_gets_it_into_the_https_door)
{
	const char *north = net_issue(net, "north-advice", "Priya Shah");
	char p12[NET_PATH_MAX + 16], crt[NET_PATH_MAX + 8], cert_arg[NET_PATH_MAX + 64];
	char url[128];
	struct run_result r;

	net_must_start(net);
	snprintf(p12, sizeof(p12), "%s/priya.p12", net->dir);
	snprintf(crt, sizeof(crt), "%s.crt", north);
	cr_assert_eq(run_refex(&r, net, north, "p12", "--out", p12, "--pass-file", pass_file, NULL),
	             0, "%s", r.err);
	run_result_free(&r);
	expect_readable_p12(p12, crt);
	cr_expect_neq(
	    run_refex(&r, net, north, "p12", "--out", p12, "--pass-file", pass_file, NULL), 0,
	    "an existing file is never overwritten");
	run_result_free(&r);
	/* What a browser would do with it: present it to the HTTPS door. */
	snprintf(cert_arg, sizeof(cert_arg), "%s:" PASS, p12);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/api/v1/list_partners",
	         net_logged_port(net, "web-listening"));
	{
		char *argv[] = {
		    CURL_PATH, "-sS",    "--cacert", net->ca, "--cert-type",
		    "P12",     "--cert", cert_arg,   "-H",    "Content-Type: application/json",
		    "-d",      "{}",     url,        NULL};

		cr_assert_eq(run(&r, argv, NULL), 0, "%s", r.err);
		cr_expect(strstr(r.out, "north-advice") != NULL, "%s", r.out);
		run_result_free(&r);
	}
}
