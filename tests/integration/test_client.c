/* The refex client on its own, with no hub: help, usage errors and config file mistakes are
 * explained before any connection is tried. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Never read the user's own config, whatever the test runs. */
static char *const no_user_config[] = {"REFEX_CONFIG=", "HOME=/nonexistent", NULL};

/* Run refex with the NULL-terminated arguments and the user's config kept out. */
static int refex(struct run_result *r, char *const args[])
{
	char *argv[16] = {REFEX_PATH};
	size_t i;

	for (i = 0; args[i] != NULL && i + 2 < sizeof(argv) / sizeof(argv[0]); i++) {
		argv[i + 1] = args[i];
	}
	argv[i + 1] = NULL;
	return run(r, argv, no_user_config);
}

/* Write text to a new temporary file; returns its path (free it, unlink it). */
static char *temp_file(const char *text)
{
	char *path = strdup("/tmp/refex-client-XXXXXX");
	int fd;

	cr_assert_not_null(path);
	fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp failed");
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

Test(client, every_command_has_help)
{
	static const char *const commands[] = {"submit", "inbox",    "sent",     "show",
	                                       "accept", "decline",  "complete", "withdraw",
	                                       "forms",  "partners", "template"};
	struct run_result r;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char *args[] = {(char *)commands[i], "--help", NULL};

		refex(&r, args);
		cr_expect_eq(r.status, 0, "refex %s --help exited %d: %s", commands[i], r.status,
		             r.err);
		cr_expect(strstr(r.out, "usage: refex ") != NULL, "refex %s --help printed:\n%s",
		          commands[i], r.out);
		run_result_free(&r);
	}
	refex(&r, (char *[]){"--help", NULL});
	cr_expect_eq(r.status, 0);
	cr_expect(strstr(r.out, "template") != NULL, "refex --help does not list the commands");
	run_result_free(&r);
}

Test(client, a_missing_referral_id_is_a_usage_error)
{
	struct run_result r;

	refex(&r, (char *[]){"show", NULL});
	cr_expect_eq(r.status, 2, "refex show without an ID exited %d", r.status);
	cr_expect(strstr(r.err, "which referral") != NULL, "refex show said:\n%s", r.err);
	run_result_free(&r);

	refex(&r, (char *[]){"accept", "one", "two", NULL});
	cr_expect_eq(r.status, 2, "refex accept with two IDs exited %d", r.status);
	cr_expect(strstr(r.err, "unexpected argument 'two'") != NULL, "refex accept said:\n%s",
	          r.err);
	run_result_free(&r);
}

Test(client, an_unknown_command_is_a_usage_error)
{
	struct run_result r;

	refex(&r, (char *[]){"frobnicate", NULL});
	cr_expect_eq(r.status, 2);
	cr_expect(strstr(r.err, "unknown command 'frobnicate'") != NULL, "refex said:\n%s", r.err);
	run_result_free(&r);
}

/* inih carries on after a bad line; the message must pair the first bad line with its own
 * reason, not with a later line's. */
Test(client, a_config_error_names_the_first_bad_line_and_its_own_problem)
{
	char *conf = temp_file("serverx = hub:7000\nbogus = 1\n");
	struct run_result r;

	refex(&r, (char *[]){"--config", conf, "inbox", NULL});
	cr_expect_eq(r.status, 2, "a bad config exited %d", r.status);
	cr_expect(strstr(r.err, ":1: unknown key 'serverx'") != NULL, "refex said:\n%s", r.err);
	run_result_free(&r);
	unlink(conf);
	free(conf);
}

Test(client, a_bad_server_address_is_a_usage_error)
{
	struct run_result r;

	refex(&r, (char *[]){"--server", "no-port-here", "--cert", "a.crt", "--key", "a.key",
	                     "--ca", "ca.crt", "inbox", NULL});
	cr_expect_eq(r.status, 2, "a bad --server exited %d", r.status);
	cr_expect(strstr(r.err, "bad server address 'no-port-here'") != NULL, "refex said:\n%s",
	          r.err);
	run_result_free(&r);
}

Test(client, a_template_of_a_client_or_consent_is_printed_offline)
{
	struct run_result r;
	json_t *j;

	refex(&r, (char *[]){"template", "client", NULL});
	cr_assert_eq(r.status, 0, "refex template exited %d: %s", r.status, r.err);
	j = run_json(&r);
	cr_expect(json_is_object(j), "refex template printed:\n%s", r.out);
	json_decref(j);
	run_result_free(&r);
}

/* The forms are the hub's: with no hub to ask and nothing cached, refex says so. */
Test(client, a_form_template_without_a_hub_or_cache_says_where_forms_come_from)
{
	struct run_result r;

	refex(&r, (char *[]){"template", "housing_support", NULL});
	cr_expect_eq(r.status, 2);
	cr_expect(strstr(r.err, "no server configured") != NULL, "refex said:\n%s", r.err);
	cr_expect_str_empty(r.out);
	run_result_free(&r);
}

/* Run refex with args (NULL-terminated); expect a usage error whose message holds each of the
 * NULL-terminated says. */
static void expect_usage_error(char *const args[], const char *const says[])
{
	struct run_result r;

	refex(&r, args);
	cr_expect_eq(r.status, 2, "refex %s exited %d: %s", args[0], r.status, r.err);
	for (size_t i = 0; says[i] != NULL; i++) {
		cr_expect(strstr(r.err, says[i]) != NULL, "refex %s did not say \"%s\":\n%s",
		          args[0], says[i], r.err);
	}
	cr_expect_str_empty(r.out);
	run_result_free(&r);
}

Test(client, a_wrong_command_line_names_the_command_and_its_help)
{
	expect_usage_error((char *[]){"submit", "--bogus", NULL},
	                   (const char *[]){"refex submit: unknown option '--bogus'",
	                                    "Run 'refex submit --help' for its options.", NULL});
	expect_usage_error(
	    (char *[]){"inbox", "--state", NULL},
	    (const char *[]){"refex inbox: --state wants an argument (STATE)", NULL});
	expect_usage_error((char *[]){"show", "ID", "--json=yes", NULL},
	                   (const char *[]){"refex show: --json takes no argument", NULL});
	expect_usage_error((char *[]){"keygen", "--agency", "north", "--out", "x", NULL},
	                   (const char *[]){"refex keygen: --holder NAME is required", NULL});
	expect_usage_error((char *[]){"--bogus", "inbox", NULL},
	                   (const char *[]){"refex: unknown option '--bogus'",
	                                    "Run 'refex --help' for the commands.", NULL});
}

/* The names refex accepts are the protocol's own (from its enum descriptors). */
Test(client, a_bad_state_or_basis_lists_the_names_there_are)
{
	expect_usage_error(
	    (char *[]){"inbox", "--state", "open", NULL},
	    (const char *[]){"unknown state 'open' (one of: sent, received, accepted, declined, "
	                     "completed, withdrawn)",
	                     NULL});
	expect_usage_error(
	    (char *[]){"consent", "add", "C1", "--to", "east", "--basis", "whim", NULL},
	    (const char *[]){"consent, safeguarding, legal-obligation, vital-interests; not 'whim'",
	                     NULL});
}

Test(client, refex_help_shows_the_commands_or_one_command)
{
	struct run_result r;

	refex(&r, (char *[]){"help", NULL});
	cr_expect_eq(r.status, 0);
	cr_expect(strstr(r.out, "\n  consent    ") != NULL, "refex help printed:\n%s", r.out);
	run_result_free(&r);
	refex(&r, (char *[]){"help", "decline", NULL});
	cr_expect_eq(r.status, 0);
	cr_expect(strstr(r.out, "usage: refex decline ID --reason TEXT") == r.out,
	          "refex help decline printed:\n%s", r.out);
	run_result_free(&r);
}
