/* The one parser of every command's arguments: template in, parsed arguments out. */
#include "args.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#define OPT_BASE 0x100 /* getopt_long value of template option i: OPT_BASE + i */

/* A template the program was built with is wrong: that is a bug, not a user's mistake. */
static void bad_template(const char *template, const char *why)
{
	fprintf(stderr, "refex: bug: option template \"%s\": %s\n", template, why);
	abort();
}

/* Copy the n bytes at s into dst (a name field), refusing what does not fit. */
static void copy_name(char *dst, const char *s, size_t n, const char *template)
{
	if (n == 0 || n >= ARGS_NAME_MAX) {
		bad_template(template, "empty or too long a name");
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Read one template word ("name|alias=ARG!") of n bytes at w into o. */
static void read_word(struct args_option *o, const char *w, size_t n, const char *template)
{
	size_t name_len = strcspn(w, "|=!* "), alias_len;

	memset(o, 0, sizeof(*o));
	copy_name(o->name, w, name_len, template);
	w += name_len;
	n -= name_len;
	if (n && *w == '|') {
		alias_len = strcspn(++w, "=!* ");
		copy_name(o->alias, w, alias_len, template);
		w += alias_len;
		n -= alias_len + 1;
	}
	if (n && *w == '=') {
		size_t arg_len = strcspn(++w, "!* ");

		copy_name(o->arg, w, arg_len, template);
		w += arg_len;
		n -= arg_len + 1;
	}
	for (; n; w++, n--) {
		o->required |= *w == '!';
		o->repeat |= *w == '*';
	}
}

/* Add the options of a template to a. */
static void read_template(struct args *a, const char *template)
{
	const char *w = template;
	size_t n;

	while (w && *(w += strspn(w, " "))) {
		n = strcspn(w, " ");
		if (a->n_opt == ARGS_OPTIONS_MAX) {
			bad_template(template, "too many options");
		}
		read_word(&a->opt[a->n_opt++], w, n, template);
		w += n;
	}
}

/* Return the index of the option called name (or by its alias), or -1. */
static int find_option(const struct args *a, const char *name)
{
	for (size_t i = 0; i < a->n_opt; i++) {
		if (strcmp(a->opt[i].name, name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

/* Fill getopt_long's table (lopts, with room for two entries per option and the end) and its
 * short options (short_opts: ":h" and one-letter aliases) from the options in a. */
static void getopt_tables(const struct args *a, int in_order, struct option *lopts,
                          char *short_opts)
{
	size_t n = 0, s = 0;

	if (in_order) {
		short_opts[s++] = '+';
	}
	short_opts[s++] = ':'; /* a missing argument returns ':', and getopt prints nothing */
	short_opts[s++] = 'h';
	lopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	for (size_t i = 0; i < a->n_opt; i++) {
		const struct args_option *o = &a->opt[i];
		int has_arg = o->arg[0] ? required_argument : no_argument;

		lopts[n++] = (struct option){o->name, has_arg, NULL, OPT_BASE + (int)i};
		if (o->alias[0] && o->alias[1]) {
			lopts[n++] = (struct option){o->alias, has_arg, NULL, OPT_BASE + (int)i};
		} else if (o->alias[0]) {
			short_opts[s++] = o->alias[0];
			if (has_arg) {
				short_opts[s++] = ':';
			}
		}
	}
	lopts[n] = (struct option){0};
	short_opts[s] = '\0';
}

/* Return the template index of a one-letter alias, or -1. */
static int find_short(const struct args *a, int c)
{
	for (size_t i = 0; c > 0 && i < a->n_opt; i++) {
		if (a->opt[i].alias[0] == c && a->opt[i].alias[1] == '\0') {
			return (int)i;
		}
	}
	return -1;
}

/* Keep one value of option i (NULL for a flag). Returns 0, or -1 out of memory. */
static int keep_value(struct args *a, int i, const char *value)
{
	const char **v;

	if (!a->opt[i].repeat && a->given[i].n > 0) {
		a->given[i].v[0] = value; /* given again: the last one counts */
		a->given[i].n++;
		return 0;
	}
	if (!(v = realloc(a->given[i].v, (a->given[i].n + 1) * sizeof(*v)))) {
		return -1;
	}
	v[a->given[i].n++] = value;
	a->given[i].v = v;
	return 0;
}

/* Say what was wrong with the option getopt_long refused (ret: '?' or ':'); arg is the
 * argument it was reading. */
static void say_bad_option(const struct cmd_entry *e, const struct args *a, int ret,
                           const char *arg)
{
	int i = optopt >= OPT_BASE ? optopt - OPT_BASE : find_short(a, optopt);
	const char *name = i >= 0 ? a->opt[i].name : NULL;

	if (ret == ':' && name) {
		cmd_entry_usage_error(e, "--%s wants an argument (%s)", name, a->opt[i].arg);
	} else if (ret == ':') {
		cmd_entry_usage_error(e, "%s wants an argument", arg);
	} else if (name) {
		cmd_entry_usage_error(e, "--%s takes no argument", name);
	} else if (optopt) {
		cmd_entry_usage_error(e, "unknown option '-%c'", optopt);
	} else {
		cmd_entry_usage_error(e, "unknown option '%.*s'", (int)strcspn(arg, "="), arg);
	}
}

/* Check the operands and the required options once every option is read. */
static enum args_result check_counts(const struct cmd_entry *e, const struct args *a)
{
	const struct args_spec *s = &e->args;

	if (a->argc < s->lower) {
		const char *why = a->argc < ARGS_OPERANDS_MAX ? s->missing[a->argc] : NULL;

		cmd_entry_usage_error(e, "%s", why ? why : "too few arguments");
		return ARGS_BAD;
	}
	if (s->upper >= 0 && a->argc > s->upper) {
		cmd_entry_usage_error(e, "unexpected argument '%s'", a->argv[s->upper]);
		return ARGS_BAD;
	}
	for (size_t i = 0; i < a->n_opt; i++) {
		if (a->opt[i].required &&
		    (a->given[i].n == 0 || !a->given[i].v[0] || !*a->given[i].v[0])) {
			cmd_entry_usage_error(e, "--%s%s%s is required", a->opt[i].name,
			                      a->opt[i].arg[0] ? " " : "", a->opt[i].arg);
			return ARGS_BAD;
		}
	}
	return ARGS_OK;
}

/* Run getopt_long over argv with the tables, keeping what it finds in a. */
static enum args_result read_options(const struct cmd_entry *e, int argc, char **argv,
                                     struct args *a)
{
	struct option lopts[2 * ARGS_OPTIONS_MAX + 2];
	char short_opts[3 * ARGS_OPTIONS_MAX + 4];
	int c, i;

	getopt_tables(a, e->in_order, lopts, short_opts);
	opterr = 0;
	optind = 0; /* start afresh: main, tests and commands all parse */
	while ((c = getopt_long(argc, argv, short_opts, lopts, NULL)) != -1) {
		if (c == 'h') {
			return ARGS_HELP;
		}
		if (c == '?' || c == ':') {
			say_bad_option(e, a, c, argv[optind - 1]);
			return ARGS_BAD;
		}
		i = c >= OPT_BASE ? c - OPT_BASE : find_short(a, c);
		if (keep_value(a, i, a->opt[i].arg[0] ? optarg : NULL) < 0) {
			fprintf(stderr, "refex: out of memory\n");
			return ARGS_BAD;
		}
	}
	a->argc = argc - optind;
	a->argv = argv + optind;
	return ARGS_OK;
}

/* Parse argv against the entry's template and the global options. */
enum args_result args_parse(const struct cmd_entry *e, int argc, char **argv, struct args *a)
{
	enum args_result r;

	memset(a, 0, sizeof(*a));
	read_template(a, e->args.template);
	read_template(a, ARGS_GLOBAL_TEMPLATE);
	if ((r = read_options(e, argc, argv, a)) == ARGS_OK) {
		r = check_counts(e, a);
	}
	if (r != ARGS_OK) {
		args_free(a);
	}
	return r;
}

/* Free what args_parse kept. */
void args_free(struct args *a)
{
	for (size_t i = 0; i < a->n_opt; i++) {
		free(a->given[i].v);
		a->given[i].v = NULL;
		a->given[i].n = 0;
	}
}

/* Return how many times the option was given. */
size_t args_has(const struct args *a, const char *name)
{
	int i = find_option(a, name);

	return i < 0 ? 0 : a->given[i].n;
}

/* Return the option's value, the last one given, or NULL. */
const char *args_get(const struct args *a, const char *name)
{
	int i = find_option(a, name);

	if (i < 0 || a->given[i].n == 0) {
		return NULL;
	}
	return a->opt[i].repeat ? a->given[i].v[a->given[i].n - 1] : a->given[i].v[0];
}

/* Return the option's i-th value, or NULL past the last. */
const char *args_value(const struct args *a, const char *name, size_t i)
{
	int k = find_option(a, name);

	if (k < 0 || i >= (a->opt[k].repeat ? a->given[k].n : a->given[k].n > 0)) {
		return NULL;
	}
	return a->given[k].v[i];
}

/* Return operand i, or NULL past the last. */
const char *args_operand(const struct args *a, int i)
{
	return i >= 0 && i < a->argc ? a->argv[i] : NULL;
}
