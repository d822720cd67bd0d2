/* Bash completion (dist/bash-completion) as a user at a prompt gets it: commands and
 * options, and the live values asked of a real hub (agencies, forms, referral ids) with
 * the --server/--cert/... typed on the line; refex-ca's serials from its CA directory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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

TestSuite(completion, .init = setup, .fini = teardown, .timeout = 120);

#define WORDS_MAX 24

/* Source completion file, set COMP_WORDS to the words and the cursor on the last, call
 * function and print COMPREPLY one a line. */
static const char complete_sh[] =
    "source \"$1\" && shift 2 && COMP_WORDS=(\"$@\") && COMP_CWORD=$(($# - 1)) &&"
    " \"$FUNC\" && printf '%s\\n' \"${COMPREPLY[@]}\"";

/* Complete the NULL-terminated words (the last is the one under the cursor) with the
 * completion file for program, as the holder of prefix (NULL: no certificate words). */
static void complete_as(struct run_result *r, const char *program, const char *prefix, ...)
{
	char file[NET_PATH_MAX], server[64], cert[NET_PATH_MAX + 8], key[NET_PATH_MAX + 8];
	char func[32], env_func[40], env_home[NET_PATH_MAX + 8], env_config[NET_PATH_MAX + 16];
	char *env[] = {env_func, env_home, env_config, NULL};
	char *argv[WORDS_MAX + 16] = {"/bin/bash",         "--norc", "--noprofile", "-c",
	                              (char *)complete_sh, "bash",   file,          "--"};
	size_t argc = 8;
	const char *w;
	va_list ap;

	snprintf(file, sizeof(file), "%s/%s", REFEX_COMPLETION_DIR, program);
	snprintf(func, sizeof(func), "_%s", program);
	for (char *c = func; *c; c++) {
		*c = *c == '-' ? '_' : *c;
	}
	snprintf(env_func, sizeof(env_func), "FUNC=%s", func);
	snprintf(env_home, sizeof(env_home), "HOME=%s", net->dir);
	snprintf(env_config, sizeof(env_config), "REFEX_CONFIG=%s", net->empty);
	argv[argc++] = strcmp(program, "refex") == 0 ? REFEX_PATH : REFEX_CA_PATH;
	if (prefix != NULL) {
		snprintf(server, sizeof(server), "127.0.0.1:%d", net->port);
		snprintf(cert, sizeof(cert), "%s.crt", prefix);
		snprintf(key, sizeof(key), "%s.key", prefix);
		char *globals[] = {"--server", server, "--cert", cert,
		                   "--key",    key,    "--ca",   net->ca};
		for (size_t i = 0; i < 8; i++) {
			argv[argc++] = globals[i];
		}
	}
	va_start(ap, prefix);
	while ((w = va_arg(ap, const char *)) != NULL && argc < WORDS_MAX + 15) {
		argv[argc++] = (char *)w;
	}
	va_end(ap);
	argv[argc] = NULL;
	run(r, argv, env);
	cr_assert_eq(r->status, 0, "completion failed (%d):\n%s%s", r->status, r->out, r->err);
}

/* Whether word is one of the lines of the completion's output. */
static bool offers(const struct run_result *r, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = r->out; (p = strstr(p, word)) != NULL; p += len) {
		if ((p == r->out || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0')) {
			return true;
		}
	}
	return false;
}

/* Expect the completion to offer each NULL-terminated word. */
static void expect_offers(const struct run_result *r, ...)
{
	const char *w;
	va_list ap;

	va_start(ap, r);
	while ((w = va_arg(ap, const char *)) != NULL) {
		cr_expect(offers(r, w), "\"%s\" not offered; offered:\n%s", w, r->out);
	}
	va_end(ap);
}

Test(completion, commands_and_their_options)
{
	struct run_result r;

	complete_as(&r, "refex", NULL, "", NULL);
	expect_offers(&r, "submit", "inbox", "accept", "template", "doctor", "--server", NULL);
	run_result_free(&r);

	complete_as(&r, "refex", NULL, "wi", NULL);
	cr_expect_str_eq(r.out, "withdraw\n");
	run_result_free(&r);

	complete_as(&r, "refex", NULL, "submit", "--", NULL);
	expect_offers(&r, "--to", "--form", "--client-id", "--data", "--idempotency-key", NULL);
	cr_expect(!offers(&r, "--outcome"), "submit offered complete's --outcome:\n%s", r.out);
	run_result_free(&r);

	complete_as(&r, "refex", NULL, "inbox", "--state", "", NULL);
	expect_offers(&r, "sent", "accepted", "withdrawn", NULL);
	run_result_free(&r);

	complete_as(&r, "refex", NULL, "report", "--", NULL);
	expect_offers(&r, "--from", "--by", "--network", "--csv", "--svg", "--html", NULL);
	run_result_free(&r);
	complete_as(&r, "refex", NULL, "report", "--by", "", NULL);
	cr_expect_str_eq(r.out, "pathway\nform\nmonth\n");
	run_result_free(&r);
	complete_as(&r, "refex", NULL, "report", "--from", "", NULL);
	cr_expect_str_eq(r.out, "\n", "a date, not a referral id: %s", r.out);
	run_result_free(&r);
}

Test(completion, agencies_and_forms_come_from_the_hub)
{
	struct run_result r;

	complete_as(&r, "refex", north, "submit", "--to", "", NULL);
	expect_offers(&r, "north-advice", "eastside-housing", NULL);
	cr_expect(!offers(&r, "ID"), "the table's header was offered:\n%s", r.out);
	run_result_free(&r);

	complete_as(&r, "refex", north, "submit", "--to", "eastside-housing", "--form", "ho", NULL);
	cr_expect_str_eq(r.out, "housing_support\n");
	run_result_free(&r);

	complete_as(&r, "refex", north, "template", "", NULL);
	expect_offers(&r, "housing_support", "client", "consent", NULL);
	run_result_free(&r);
}

Test(completion, referral_ids_come_from_the_inbox_and_sent_list)
{
	char id[REFEX_ID_LEN + 1];
	struct run_result r;

	submit_housing(net, north, FIXTURE("housing.json"), id);

	complete_as(&r, "refex", east, "accept", "", NULL);
	expect_offers(&r, id, NULL);
	run_result_free(&r);

	complete_as(&r, "refex", north, "withdraw", "", NULL);
	expect_offers(&r, id, NULL);
	run_result_free(&r);

	complete_as(&r, "refex", north, "accept", "", NULL); /* north's inbox is empty */
	cr_expect(!offers(&r, id), "north was offered a referral it sent:\n%s", r.out);
	run_result_free(&r);
}

Test(completion, no_hub_offers_nothing_and_says_nothing)
{
	struct run_result r;

	complete_as(&r, "refex", NULL, "--server", "127.0.0.1:1", "submit", "--to", "", NULL);
	cr_expect_str_eq(r.out, "\n");
	cr_expect_str_eq(r.err, "");
	run_result_free(&r);
}

Test(completion, refex_ca_commands_reasons_and_serials)
{
	char *serial = net_serial_of(net, "Priya Shah");
	struct run_result r;

	complete_as(&r, "refex-ca", NULL, "", NULL);
	expect_offers(&r, "init", "issue", "revoke", "crl", "--version", NULL);
	run_result_free(&r);

	complete_as(&r, "refex-ca", NULL, "revoke", "--reason", "", NULL);
	expect_offers(&r, "keyCompromise", "affiliationChanged", NULL);
	run_result_free(&r);

	complete_as(&r, "refex-ca", NULL, "revoke", "--dir", net->ca_dir, "--serial", "", NULL);
	expect_offers(&r, serial, NULL);
	run_result_free(&r);

	complete_as(&r, "refex-ca", NULL, "revoke", "--dir", net->ca_dir, "--agency", "", NULL);
	expect_offers(&r, "north-advice", "eastside-housing", NULL);
	run_result_free(&r);
	free(serial);
}
