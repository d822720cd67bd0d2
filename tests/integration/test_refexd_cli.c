/* refexd's own command line: --help, --check-config on good and bad files, usage errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct net *net;

static void setup(void)
{
	net = net_new();
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(refexd_cli, .init = setup, .fini = teardown, .timeout = 60);

static int refexd(struct run_result *r, const char *a1, const char *a2, const char *a3)
{
	char *const argv[] = {REFEXD_PATH, (char *)a1, (char *)a2, (char *)a3, NULL};

	return run(r, argv, NULL);
}

Test(refexd_cli, check_config_accepts_a_good_file)
{
	struct run_result r;

	cr_expect_eq(refexd(&r, "--check-config", "--config", net->config), 0, "%s", r.err);
	cr_expect(strstr(r.out, "configuration ok") != NULL, "%s", r.out);
	run_result_free(&r);
}

Test(refexd_cli, check_config_names_the_bad_line)
{
	struct run_result r;
	char *bad = net_write_file(net, "bad.ini",
	                           "[server]\nlisten = 127.0.0.1:0\ncertificate = server.crt\n"
	                           "key = server.key\nca = ca/ca.crt\ndatabase = x.db\n"
	                           "[agency north-advice]\naccepts = pizza\n");

	cr_expect_eq(refexd(&r, "--check-config", "--config", bad), 1);
	cr_expect(strstr(r.err, ":8:") && strstr(r.err, "unknown form \"pizza\""), "%s", r.err);
	run_result_free(&r);
	free(bad);
}

Test(refexd_cli, check_config_refuses_a_missing_key_file)
{
	struct run_result r;
	char *bad = net_write_file(net, "nokey.ini",
	                           "[server]\nlisten = 127.0.0.1:0\ncertificate = server.crt\n"
	                           "key = missing.key\nca = ca/ca.crt\ndatabase = x.db\n"
	                           "[agency north-advice]\n");

	cr_expect_eq(refexd(&r, "--check-config", "--config", bad), 1);
	cr_expect(strstr(r.err, "missing.key") != NULL, "names the file: %s", r.err);
	run_result_free(&r);
	free(bad);
}

Test(refexd_cli, help_and_usage_errors)
{
	struct run_result r;

	cr_expect_eq(refexd(&r, "--help", NULL, NULL), 0);
	cr_expect(strstr(r.out, "--config FILE") != NULL, "%s", r.out);
	run_result_free(&r);
	cr_expect_eq(refexd(&r, NULL, NULL, NULL), 2, "no --config is a usage error");
	cr_expect(strstr(r.err, "--config FILE is required") != NULL, "%s", r.err);
	run_result_free(&r);
	cr_expect_eq(refexd(&r, "--bogus", NULL, NULL), 2);
	run_result_free(&r);
}

Test(refexd_cli, help_mentions_user)
{
	struct run_result r;

	cr_expect_eq(refexd(&r, "--help", NULL, NULL), 0);
	cr_expect(strstr(r.out, "--user NAME") != NULL, "%s", r.out);
	run_result_free(&r);
}

Test(refexd_cli, an_unknown_user_fails_at_start)
{
	char *const argv[] = {REFEXD_PATH, "--config",           net->config,
	                      "--user",    "no-such-user-refex", NULL};
	struct run_result r;

	cr_expect_eq(run(&r, argv, NULL), 1, "exit 1, not a daemon that cannot drop root");
	cr_expect(strstr(r.err, "user \"no-such-user-refex\" does not exist") != NULL, "%s", r.err);
	cr_expect(strstr(r.err, "msg=listening") == NULL, "nothing was bound: %s", r.err);
	run_result_free(&r);
}

Test(refexd_cli, check_config_refuses_an_unknown_user)
{
	struct run_result r;

	cr_assert_eq(net_write_config(net, "user = no-such-user-refex\n\n" NET_DEFAULT_AGENCIES),
	             0);
	cr_expect_eq(refexd(&r, "--check-config", "--config", net->config), 1);
	cr_expect(strstr(r.err, "does not exist") != NULL, "%s", r.err);
	run_result_free(&r);
}
