/* refexd's own command line: --help, --check-config on good and bad files, usage errors; the
 * files it creates. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
	                           "[agency north-advice]\nacepts = food_support\n");

	cr_expect_eq(refexd(&r, "--check-config", "--config", bad), 1);
	cr_expect(strstr(r.err, ":8:") && strstr(r.err, "unknown key \"acepts\""), "%s", r.err);
	run_result_free(&r);
	free(bad);
}

/* A PostgreSQL database that does not answer is named, without the password its URL holds. */
Test(refexd_cli, check_config_says_the_database_cannot_be_reached)
{
	struct run_result r;
	char *bad = net_write_file(net, "pg.ini",
	                           "[server]\nlisten = 127.0.0.1:0\ncertificate = server.crt\n"
	                           "key = server.key\nca = ca/ca.crt\n"
	                           "database = postgresql://refex:s3cret-pw@127.0.0.1:1/refex\n"
	                           "[agency north-advice]\naccepts = food_support\n");

	cr_expect_eq(refexd(&r, "--check-config", "--config", bad), 1);
	cr_expect(strstr(r.err, "cannot use the database postgresql://127.0.0.1:1/refex: "), "%s",
	          r.err);
	cr_expect(strstr(r.err, "s3cret-pw") == NULL, "%s", r.err);
	run_result_free(&r);
	free(bad);
}

/* A password with a '/' not percent-encoded (common in generated ones) makes the URL unclear:
 * it is refused saying how to write it, and no part of the password is shown. */
Test(refexd_cli, check_config_refuses_a_database_url_with_a_slash_in_its_password)
{
	struct run_result r;
	char *bad = net_write_file(net, "pg-slash.ini",
	                           "[server]\nlisten = 127.0.0.1:0\ncertificate = server.crt\n"
	                           "key = server.key\nca = ca/ca.crt\n"
	                           "database = postgresql://refex:s3cr/et+pw@127.0.0.1:1/refex\n"
	                           "[agency north-advice]\naccepts = food_support\n");

	cr_expect_eq(refexd(&r, "--check-config", "--config", bad), 1);
	cr_expect(strstr(r.err, "%2F") != NULL, "%s", r.err);
	cr_expect(strstr(r.err, "s3cr") == NULL && strstr(r.err, "et+pw") == NULL, "%s", r.err);
	run_result_free(&r);
	free(bad);
}

/* The forms the partners accept are checked against the forms directory the hub will load. */
Test(refexd_cli, check_config_checks_the_forms_dir)
{
	struct run_result r;
	char *bad = net_write_file(net, "pizza.ini",
	                           "[server]\nlisten = 127.0.0.1:0\ncertificate = server.crt\n"
	                           "key = server.key\nca = ca/ca.crt\ndatabase = x.db\n"
	                           "[agency north-advice]\naccepts = pizza\n");
	char *broken;

	cr_expect_eq(refexd(&r, "--check-config", "--config", bad), 1);
	cr_expect(strstr(r.err, "[agency north-advice] accepts: unknown form \"pizza\" (not in "),
	          "%s", r.err);
	run_result_free(&r);
	cr_expect_eq(refexd(&r, "--check-config", "--config", net->config), 0, "%s", r.err);
	cr_expect(strstr(r.out, "configuration ok (3 agencies, 3 forms)"), "%s", r.out);
	run_result_free(&r);
	broken = net_write_file(net, "forms/choice.proto",
	                        "syntax = \"proto2\";\npackage q;\n"
	                        "message Choice { required int32 a = 1 [default = 2]; }\n");
	cr_expect_eq(refexd(&r, "--check-config", "--config", net->config), 1);
	cr_expect(strstr(r.err, "choice.proto: q.Choice.a: a default is supported on optional"),
	          "%s", r.err);
	run_result_free(&r);
	free(broken);
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

/* Return the permission bits of the file name in the net directory, or -1 if it is missing. */
static int mode_of(const char *name)
{
	char path[NET_PATH_MAX + 32];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", net->dir, name);
	return stat(path, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}

Test(refexd_cli, database_files_are_private_whatever_the_umask)
{
	static const char *const files[] = {"refex.db", "refex.db-wal", "refex.db-shm"};
	char *log;

	umask(022); /* a shell's usual: refexd started by hand */
	net_must_start(net);
	cr_assert(net_log_wait(net, "msg=started"), "the database is open");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		cr_expect_eq(mode_of(files[i]), 0600, "%s is mode %04o, not 0600", files[i],
		             (unsigned)mode_of(files[i]));
	}
	log = net_read_log(net);
	cr_expect(strstr(log, "readable by others") == NULL, "no warning for its own files: %s",
	          log);
	free(log);
	net_expect_clean_stop(net);
}

Test(refexd_cli, warns_at_start_when_the_database_is_readable_by_others)
{
	char path[NET_PATH_MAX + 32], line[2 * NET_PATH_MAX];

	net_must_start(net);
	cr_assert(net_log_wait(net, "msg=started"), "the database is open");
	net_expect_clean_stop(net);
	snprintf(path, sizeof(path), "%s/refex.db", net->dir);
	cr_assert_eq(chmod(path, 0644), 0);
	net_must_start(net);
	snprintf(line, sizeof(line),
	         "level=warn msg=\"database file readable by others\" path=%s mode=0644", path);
	cr_expect(net_log_wait(net, line), "the database is named");
	snprintf(line, sizeof(line), "path=%s-wal mode=0644", path);
	cr_expect(net_log_wait(net, line), "and the WAL SQLite made like it");
	cr_expect_eq(mode_of("refex.db"), 0644, "the operator's choice is not changed");
	net_expect_clean_stop(net);
}

/* A hub whose forms directory holds a broken form does not start, and says which and why. */
Test(refexd_cli, start_refuses_a_broken_forms_dir)
{
	struct run_result r;
	char *broken = net_write_file(net, "forms/choice.proto",
	                              "syntax = \"proto2\";\npackage q;\n"
	                              "message Choice { oneof o { int32 a = 1; string b = 2; } }\n");

	cr_expect_eq(refexd(&r, "--config", net->config, NULL), 1);
	cr_expect(strstr(r.err, "msg=\"cannot start\" reason=\"forms in ") &&
	              strstr(r.err, "choice.proto: q.Choice: oneofs are not supported"),
	          "%s", r.err);
	cr_expect_null(strstr(r.err, "msg=listening"), "%s", r.err);
	run_result_free(&r);
	free(broken);
}

/* A partnership admin checks a form file before it is installed: no configuration needed. */
Test(refexd_cli, check_forms_lists_forms_and_names_refused_fields)
{
	struct run_result r;
	char *good = net_write_file(net, "tenancy.proto",
	                            "syntax = \"proto2\";\npackage p;\n// Tenancy help\n"
	                            "message TenancyHelp {\n  required uint32 rooms = 1;\n}\n");
	char *dir = strdup(good), *slash = strrchr(dir, '/');
	char *bad;

	*slash = '\0';
	cr_expect_eq(refexd(&r, "--check-forms", dir, NULL), 0, "%s%s", r.out, r.err);
	cr_expect(strstr(r.out, "form tenancy_help version 1 \"Tenancy help\"") &&
	              strstr(r.out, "refexd: forms ok (1 files)"),
	          "%s", r.out);
	run_result_free(&r);
	bad = net_write_file(net, "choice.proto",
	                     "syntax = \"proto2\";\npackage q;\n"
	                     "message Choice { required int32 a = 1 [default = 2]; }\n");
	cr_expect_eq(refexd(&r, "--check-forms", dir, NULL), 1);
	cr_expect(strstr(r.out, "refused: choice.proto: q.Choice.a: a default is supported on "
	                        "optional"),
	          "%s", r.out);
	run_result_free(&r);
	free(bad);
	free(good);
	free(dir);
}
