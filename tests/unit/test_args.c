/* The command-line parser every refex command shares (client/args.c), and the command table:
 * what a user types, what the handler reads, and what a mistake is told. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cmd.h"

static int ran; /* times frob's handler ran */

static int frob_exec(struct cmd_ctx *ctx, const struct args *a)
{
	(void)ctx;
	(void)a;
	ran++;
	return EXIT_DONE;
}

/* A command with every kind of option: required, repeatable, flag, alias. */
static const struct cmd_entry frob = {
    .name = "frob",
    .usage = "ID [ID] --to AGENCY [--tag TAG]... [--json]",
    .summary = "frob a referral",
    .args = {"to=AGENCY! tag=TAG* json client-id|client=ID", 1, 2, {"which one? give its ID"}},
    .exec = frob_exec,
};

/* What one run of a function printed on one of stdout or stderr. */
struct captured {
	char text[8192];
};

/* Point fd (1 or 2) at a new temporary file; returns the saved fd to give to end_capture. */
static int begin_capture(FILE *stream, int fd)
{
	FILE *tmp = tmpfile();
	int saved;

	cr_assert_not_null(tmp);
	fflush(stream);
	saved = dup(fd);
	cr_assert_geq(saved, 0);
	cr_assert_geq(dup2(fileno(tmp), fd), 0);
	fclose(tmp); /* fd keeps the file open */
	return saved;
}

/* Put fd back and read what was written to it into c. */
static void end_capture(FILE *stream, int fd, int saved, struct captured *c)
{
	ssize_t n;

	fflush(stream);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	n = read(fd, c->text, sizeof(c->text) - 1);
	c->text[n > 0 ? n : 0] = '\0';
	dup2(saved, fd);
	close(saved);
}

/* Parse the NULL-terminated argv (its first word the command's) for e into a, keeping what
 * was said on stderr in err. */
static enum args_result parse(const struct cmd_entry *e, char **argv, struct args *a,
                              struct captured *err)
{
	int argc = 0, saved = begin_capture(stderr, 2);
	enum args_result r;

	while (argv[argc]) {
		argc++;
	}
	r = args_parse(e, argc, argv, a);
	end_capture(stderr, 2, saved, err);
	return r;
}

/* Expect argv to be refused saying what, naming frob and pointing at its help. */
static void expect_refused(char **argv, const char *what)
{
	struct captured err;
	struct args a;

	cr_assert_eq(parse(&frob, argv, &a, &err), ARGS_BAD, "not refused; wanted \"%s\"", what);
	cr_expect(strstr(err.text, "refex frob: ") == err.text, "said:\n%s", err.text);
	cr_expect(strstr(err.text, what) != NULL, "wanted \"%s\", said:\n%s", what, err.text);
	cr_expect(strstr(err.text, "usage: refex frob ID [ID]") != NULL, "said:\n%s", err.text);
	cr_expect(strstr(err.text, "Run 'refex frob --help' for its options.") != NULL, "said:\n%s",
	          err.text);
}

Test(args, options_operands_and_global_options_come_in_any_order)
{
	char *argv[] = {"frob",   "--server", "hub:7000", "ID1", "--to", "north",  "--tag",
	                "urgent", "--json",   "--tag=x",  "ID2", "--ca", "ca.crt", NULL};
	struct cmd_ctx ctx = {0};
	struct captured err;
	struct args a;

	cr_assert_eq(parse(&frob, argv, &a, &err), ARGS_OK, "%s", err.text);
	cr_expect_str_empty(err.text);
	cr_assert_eq(a.argc, 2);
	cr_expect_str_eq(args_operand(&a, 0), "ID1");
	cr_expect_str_eq(args_operand(&a, 1), "ID2");
	cr_expect_null(args_operand(&a, 2));
	cr_expect_str_eq(args_get(&a, "to"), "north");
	cr_expect_eq(args_has(&a, "json"), 1);
	cr_expect_eq(args_has(&a, "client-id"), 0);
	cr_expect_null(args_get(&a, "client-id"));
	cmd_take_globals(&ctx, &a);
	cr_expect_str_eq(ctx.opt.server, "hub:7000");
	cr_expect_str_eq(ctx.opt.ca, "ca.crt");
	cr_expect_null(ctx.opt.cert);
	args_free(&a);
}

Test(args, a_repeatable_option_keeps_every_value_in_order)
{
	char *argv[] = {"frob", "ID", "--to", "n", "--tag", "a", "--tag=b", "--tag", "c", NULL};
	struct captured err;
	struct args a;

	cr_assert_eq(parse(&frob, argv, &a, &err), ARGS_OK, "%s", err.text);
	cr_expect_eq(args_has(&a, "tag"), 3);
	cr_expect_str_eq(args_value(&a, "tag", 0), "a");
	cr_expect_str_eq(args_value(&a, "tag", 1), "b");
	cr_expect_str_eq(args_value(&a, "tag", 2), "c");
	cr_expect_null(args_value(&a, "tag", 3));
	cr_expect_str_eq(args_get(&a, "tag"), "c");
	args_free(&a);
}

Test(args, an_option_given_twice_counts_once_the_last_one)
{
	char *argv[] = {"frob", "ID", "--to", "north", "--to", "east", NULL};
	struct captured err;
	struct args a;

	cr_assert_eq(parse(&frob, argv, &a, &err), ARGS_OK, "%s", err.text);
	cr_expect_str_eq(args_get(&a, "to"), "east");
	cr_expect_str_eq(args_value(&a, "to", 0), "east");
	cr_expect_null(args_value(&a, "to", 1));
	args_free(&a);
}

Test(args, a_second_spelling_is_the_same_option)
{
	char *argv[] = {"frob", "ID", "--to", "n", "--client", "C1", NULL};
	struct captured err;
	struct args a;

	cr_assert_eq(parse(&frob, argv, &a, &err), ARGS_OK, "%s", err.text);
	cr_expect_str_eq(args_get(&a, "client-id"), "C1");
	args_free(&a);
}

Test(args, double_dash_ends_the_options)
{
	char *argv[] = {"frob", "--to", "n", "--", "--json", NULL};
	struct captured err;
	struct args a;

	cr_assert_eq(parse(&frob, argv, &a, &err), ARGS_OK, "%s", err.text);
	cr_expect_eq(args_has(&a, "json"), 0);
	cr_assert_eq(a.argc, 1);
	cr_expect_str_eq(args_operand(&a, 0), "--json");
	args_free(&a);
}

Test(args, each_mistake_has_its_own_message)
{
	expect_refused((char *[]){"frob", "ID", "--to", "n", "--bogus", NULL},
	               "unknown option '--bogus'");
	expect_refused((char *[]){"frob", "ID", "--to", "n", "--bogus=1", NULL},
	               "unknown option '--bogus'");
	expect_refused((char *[]){"frob", "ID", "--to", "n", "-q", NULL}, "unknown option '-q'");
	expect_refused((char *[]){"frob", "ID", "--to", NULL}, "--to wants an argument (AGENCY)");
	expect_refused((char *[]){"frob", "ID", "--to", "n", "--json=yes", NULL},
	               "--json takes no argument");
	expect_refused((char *[]){"frob", "ID", NULL}, "--to AGENCY is required");
	expect_refused((char *[]){"frob", "ID", "--to=", NULL}, "--to AGENCY is required");
	expect_refused((char *[]){"frob", "--to", "n", NULL}, "which one? give its ID");
	expect_refused((char *[]){"frob", "A", "B", "C", "--to", "n", NULL},
	               "unexpected argument 'C'");
}

Test(args, help_is_asked_for_wherever_it_comes_before_a_mistake)
{
	struct captured err;
	struct args a;

	cr_expect_eq(parse(&frob, (char *[]){"frob", "--help", NULL}, &a, &err), ARGS_HELP);
	cr_expect_eq(parse(&frob, (char *[]){"frob", "x", "y", "z", "-h", NULL}, &a, &err),
	             ARGS_HELP);
	cr_expect_eq(parse(&frob, (char *[]){"frob", "--help", "--bogus", NULL}, &a, &err),
	             ARGS_HELP);
	cr_expect_eq(parse(&frob, (char *[]){"frob", "--bogus", "--help", NULL}, &a, &err),
	             ARGS_BAD);
}

Test(args, refex_itself_stops_at_the_command_name)
{
	char *argv[] = {"refex", "--server", "hub:7000", "inbox", "--json", "--cert", "c", NULL};
	struct captured err;
	struct args a;

	cr_assert_eq(parse(&cmd_main_entry, argv, &a, &err), ARGS_OK, "%s", err.text);
	cr_expect_str_eq(args_get(&a, "server"), "hub:7000");
	cr_expect_null(args_get(&a, "cert"));
	cr_assert_eq(a.argc, 4);
	cr_expect_str_eq(args_operand(&a, 0), "inbox");
	cr_expect_str_eq(args_operand(&a, 1), "--json");
	args_free(&a);

	cr_assert_eq(parse(&cmd_main_entry, (char *[]){"refex", "-V", NULL}, &a, &err), ARGS_OK);
	cr_expect_eq(args_has(&a, "version"), 1);
	args_free(&a);

	cr_assert_eq(parse(&cmd_main_entry, (char *[]){"refex", "--bogus", NULL}, &a, &err),
	             ARGS_BAD);
	cr_expect(strstr(err.text, "refex: unknown option '--bogus'") == err.text, "%s", err.text);
	cr_expect(strstr(err.text, "Run 'refex --help' for the commands.") != NULL, "%s", err.text);
}

Test(args, a_refused_command_line_never_reaches_the_handler)
{
	struct cmd_ctx ctx = {0};
	struct captured err;
	int saved = begin_capture(stderr, 2), rc;

	ran = 0;
	rc = cmd_run(&ctx, &frob, 2, (char *[]){"frob", "ID", NULL});
	end_capture(stderr, 2, saved, &err);
	cr_expect_eq(rc, EXIT_USAGE);
	cr_expect_eq(ran, 0);
	rc = cmd_run(&ctx, &frob, 4, (char *[]){"frob", "ID", "--to", "n", NULL});
	cr_expect_eq(rc, EXIT_DONE);
	cr_expect_eq(ran, 1);
}

Test(args, every_command_in_the_table_has_help)
{
	size_t n = 0;

	for (size_t i = 0; cmd_table[i]; i++, n++) {
		const struct cmd_entry *e = cmd_table[i];
		char *argv[] = {(char *)e->name, "--help", NULL};
		char want[64];
		struct cmd_ctx ctx = {0};
		struct captured out;
		int saved = begin_capture(stdout, 1), rc = cmd_run(&ctx, e, 2, argv);

		end_capture(stdout, 1, saved, &out);
		cr_expect_eq(rc, EXIT_DONE, "refex %s --help exited %d", e->name, rc);
		snprintf(want, sizeof(want), "usage: refex %s ", e->name);
		cr_expect(strstr(out.text, want) == out.text, "refex %s --help printed:\n%s",
		          e->name, out.text);
		cr_expect(strstr(out.text, "-h, --help") != NULL, "refex %s --help printed:\n%s",
		          e->name, out.text);
		cr_expect_eq(cmd_find(e->name), e, "%s is not found by its name", e->name);
	}
	cr_expect_geq(n, 20, "the table holds %zu commands", n);
}

Test(args, refex_help_lists_every_command_from_the_table)
{
	struct captured out;
	int saved = begin_capture(stdout, 1);

	cmd_help_all();
	end_capture(stdout, 1, saved, &out);
	for (size_t i = 0; cmd_table[i]; i++) {
		char want[64];

		snprintf(want, sizeof(want), "\n  %-10s %s\n", cmd_table[i]->name,
		         cmd_table[i]->summary);
		cr_expect(strstr(out.text, want) != NULL, "refex --help does not list %s",
		          cmd_table[i]->name);
	}
}
