/*
 * Bad command-line and file input for refex, refexd and refex-ca: missing files, unreadable
 * keys, files of the wrong kind, malformed JSON and INI, unknown forms (refex's, which it
 * learns from the hub: test_client_forms). Each gets a message that names the file and the
 * problem, and a non-zero exit; none crashes or hangs.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct net *net;
static const char *north;

static void setup(void)
{
	net = net_new();
	north = net_issue(net, "north-advice", "Priya Shah");
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(bad_cli, .init = setup, .fini = teardown, .timeout = 60);

/* Never read the user's own config. */
static char *const no_user_config[] = {"REFEX_CONFIG=", "HOME=/nonexistent", NULL};

/* One bad invocation and what it must say. */
struct bad_run {
	const char *what;
	const char *argv[24]; /* NULL-terminated; "@" + name means net->dir/name */
	int status;           /* the exit status expected */
	const char *says;     /* a part of stderr */
};

/* net->dir/name (static buffers, one per argument slot). */
static char *in_net(const char *name, size_t slot)
{
	static char bufs[24][NET_PATH_MAX + 64];

	snprintf(bufs[slot], sizeof(bufs[slot]), "%s/%s", net->dir, name);
	return bufs[slot];
}

/* Run one bad invocation and check its exit status and message. */
static void expect_refused(const struct bad_run *b)
{
	char *argv[24];
	struct run_result r;
	size_t i;

	for (i = 0; b->argv[i] != NULL; i++) {
		argv[i] = b->argv[i][0] == '@' ? in_net(b->argv[i] + 1, i) : (char *)b->argv[i];
	}
	argv[i] = NULL;
	run(&r, argv, no_user_config);
	cr_expect_eq(r.status, b->status, "%s: exited %d, not %d; said:\n%s", b->what, r.status,
	             b->status, r.err);
	cr_expect(strstr(r.err, b->says) != NULL, "%s: the message does not say \"%s\":\n%s",
	          b->what, b->says, r.err);
	run_result_free(&r);
}

/* Write a file into the net directory. */
static void write_net_file(const char *name, const char *text)
{
	free(net_write_file(net, name, text));
}

/* A refexd config naming these TLS files (relative to the net directory). */
static void write_refexd_config(const char *name, const char *cert, const char *key, const char *ca,
                                const char *extra)
{
	char text[2048];

	snprintf(text, sizeof(text),
	         "[server]\nlisten = 127.0.0.1:0\ncertificate = %s\nkey = %s\nca = %s\n"
	         "database = bad.db\n\n[agency north-advice]\n%s",
	         cert, key, ca, extra);
	write_net_file(name, text);
}

#define REFEX_TLS(cert, key)                                                                       \
	REFEX_PATH, "--server", "127.0.0.1:1", "--cert", cert, "--key", key, "--ca", "@ca/ca.crt"

Test(bad_cli, refex_explains_bad_files_and_arguments)
{
	static const struct bad_run runs[] = {
	    {"a missing certificate",
	     {REFEX_TLS("@missing.crt", "@north-advice-0.key"), "inbox"},
	     2,
	     "cannot read certificate file"},
	    {"a missing key",
	     {REFEX_TLS("@north-advice-0.crt", "@missing.key"), "inbox"},
	     2,
	     "cannot read key file"},
	    {"a certificate given as the key",
	     {REFEX_TLS("@north-advice-0.crt", "@north-advice-0.crt"), "inbox"},
	     2,
	     "wrong kind of file, or not PEM"},
	    {"a key given as the certificate",
	     {REFEX_TLS("@north-advice-0.key", "@north-advice-0.key"), "inbox"},
	     2,
	     "wrong kind of file, or not PEM"},
	    {"a missing config file",
	     {REFEX_PATH, "--config", "@missing.conf", "inbox"},
	     2,
	     "cannot read the config file"},
	    {"a directory as the config file",
	     {REFEX_PATH, "--config", "@ca", "inbox"},
	     2,
	     "is a directory"},
	    {"malformed JSON",
	     {REFEX_TLS("@north-advice-0.crt", "@north-advice-0.key"), "submit", "--to",
	      "eastside-housing", "--form", "housing_support", "--client", "@bad.json", "--consent",
	      "@empty.json", "--data", "@empty.json"},
	     2,
	     "bad.json:2"},
	    {"a missing JSON file",
	     {REFEX_TLS("@north-advice-0.crt", "@north-advice-0.key"), "submit", "--to",
	      "eastside-housing", "--form", "housing_support", "--client", "@missing.json",
	      "--consent", "@empty.json", "--data", "@empty.json"},
	     2,
	     "missing.json"},
	    {"two listing filters that do not go together",
	     {REFEX_TLS("@north-advice-0.crt", "@north-advice-0.key"), "inbox", "--overdue",
	      "--client-id", "06H1MV2KK95S55T0"},
	     2,
	     "give --overdue or --client-id, not both"},
	    {"an audit of neither a referral nor a client",
	     {REFEX_TLS("@north-advice-0.crt", "@north-advice-0.key"), "audit", "--json"},
	     2,
	     "give one of --referral ID and --client-id ID"},
	    {"an audit of both a referral and a client",
	     {REFEX_TLS("@north-advice-0.crt", "@north-advice-0.key"), "audit", "--referral",
	      "06H1MV2KK95S55T0", "--client-id", "06H1MV2KK95S55T1"},
	     2,
	     "give one of --referral ID and --client-id ID"},
	};

	cr_assert_str_eq(north + strlen(north) - strlen("north-advice-0"), "north-advice-0",
	                 "the harness names certificates differently now: %s", north);
	write_net_file("bad.json", "{\"givenName\": \"Pat\",\n");
	write_net_file("empty.json", "{}\n");
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		expect_refused(&runs[i]);
	}
}

Test(bad_cli, refexd_explains_bad_configuration)
{
	static const struct bad_run runs[] = {
	    {"a missing config file", {REFEXD_PATH, "--config", "@missing.ini"}, 1, "cannot open"},
	    {"a directory as the config file",
	     {REFEXD_PATH, "--config", "@ca"},
	     1,
	     "is a directory"},
	    {"a broken section header",
	     {REFEXD_PATH, "--config", "@header.ini"},
	     1,
	     "header.ini:1:"},
	    {"a missing certificate",
	     {REFEXD_PATH, "--config", "@nocert.ini"},
	     1,
	     "cannot read certificate file"},
	    {"a key that is not a key",
	     {REFEXD_PATH, "--config", "@notkey.ini"},
	     1,
	     "wrong kind of file, or not PEM"},
	    {"a CA that is not a certificate",
	     {REFEXD_PATH, "--config", "@notca.ini"},
	     1,
	     "wrong kind of file, or not PEM"},
	    {"an unknown form",
	     {REFEXD_PATH, "--check-config", "--config", "@pizza.ini"},
	     1,
	     "unknown form \"pizza\""},
	};

	write_net_file("header.ini", "[server\nlisten = 127.0.0.1:0\n");
	write_refexd_config("nocert.ini", "missing.crt", "server.key", "ca/ca.crt", "");
	write_refexd_config("notkey.ini", "server.crt", "server.crt", "ca/ca.crt", "");
	write_refexd_config("notca.ini", "server.crt", "server.key", "server.key", "");
	write_refexd_config("pizza.ini", "server.crt", "server.key", "ca/ca.crt",
	                    "accepts = pizza\n");
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		expect_refused(&runs[i]);
	}
}

Test(bad_cli, refex_ca_explains_bad_directories_and_files)
{
	static const struct bad_run runs[] = {
	    {"a missing CA directory",
	     {REFEX_CA_PATH, "issue", "--dir", "@nowhere", "--agency", "north-advice", "--holder",
	      "X", "--out", "@x"},
	     1,
	     "not a refex CA directory"},
	    {"a missing request",
	     {REFEX_CA_PATH, "sign", "--dir", "@ca", "--csr", "@missing.csr", "--agency",
	      "north-advice", "--out", "@x"},
	     1,
	     "cannot read the request"},
	    {"a request that is not one",
	     {REFEX_CA_PATH, "sign", "--dir", "@ca", "--csr", "@ca/ca.crt", "--agency",
	      "north-advice", "--out", "@x"},
	     1,
	     "is not a PEM certificate signing request"},
	    {"a malformed issued.json",
	     {REFEX_CA_PATH, "list", "--dir", "@badca"},
	     1,
	     "issued.json"},
	    {"a CA key that is not a key",
	     {REFEX_CA_PATH, "issue", "--dir", "@badkey", "--agency", "north-advice", "--holder",
	      "X", "--out", "@y"},
	     1,
	     "not a PEM private key"},
	    {"a bad agency id",
	     {REFEX_CA_PATH, "issue", "--dir", "@ca", "--agency", "North Advice", "--holder", "X",
	      "--out", "@z"},
	     1,
	     "is not a valid agency id"},
	};
	char cmd[4 * NET_PATH_MAX];

	snprintf(cmd, sizeof(cmd), "cp -r '%s/ca' '%s/badca' && cp -r '%s/ca' '%s/badkey'",
	         net->dir, net->dir, net->dir, net->dir);
	cr_assert_eq(system(cmd), 0);
	write_net_file("badca/issued.json", "[{\"serial\":\n");
	write_net_file("badkey/ca.key", "junk\n");
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		expect_refused(&runs[i]);
	}
}

Test(bad_cli, unreadable_keys_are_named)
{
	static const struct bad_run runs[] = {
	    {"refex with an unreadable key",
	     {REFEX_TLS("@north-advice-0.crt", "@locked.key"), "inbox"},
	     2,
	     "Permission denied"},
	    {"refexd with an unreadable key",
	     {REFEXD_PATH, "--config", "@locked.ini"},
	     1,
	     "Permission denied"},
	    {"refex-ca with an unreadable CA key",
	     {REFEX_CA_PATH, "issue", "--dir", "@lockedca", "--agency", "north-advice", "--holder",
	      "X", "--out", "@w"},
	     1,
	     "Permission denied"},
	};
	char cmd[4 * NET_PATH_MAX];

	snprintf(
	    cmd, sizeof(cmd),
	    "cd '%s' && cp north-advice-0.key locked.key && cp server.key locked-server.key && "
	    "cp -r ca lockedca && chmod 000 locked.key locked-server.key lockedca/ca.key",
	    net->dir);
	cr_assert_eq(system(cmd), 0);
	if (access(in_net("locked.key", 0), R_OK) == 0) {
		cr_skip_test("running as root (or with CAP_DAC_OVERRIDE): chmod 000 does not stop "
		             "reads, so unreadable keys cannot be tested here");
	}
	write_refexd_config("locked.ini", "server.crt", "locked-server.key", "ca/ca.crt", "");
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		expect_refused(&runs[i]);
	}
}
