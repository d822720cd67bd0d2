/*
 * One parser for every command's arguments, as tmux's args_parse: a command's entry gives an
 * option template and how many operands it takes, and its handler reads what was given.
 *
 * The template is a space-separated list of long options:
 *   json               a flag
 *   to=AGENCY          takes an argument, named AGENCY in messages
 *   client-id|client=ID  a second spelling (one letter: a short option, -V)
 *   to=AGENCY!         required (and not empty)
 *   to=AGENCY*         repeatable: every value is kept (otherwise the last one counts)
 */
#ifndef REFEX_ARGS_H
#define REFEX_ARGS_H

#include <stddef.h>

#define ARGS_OPTIONS_MAX  24 /* in one template, with the global options */
#define ARGS_NAME_MAX     24 /* an option's name, alias or argument name */
#define ARGS_OPERANDS_MAX 3  /* operands whose absence has its own message */

/* The global options, accepted by every command, before or after its name. */
#define ARGS_GLOBAL_TEMPLATE "config=FILE server=HOST:PORT cert=FILE key=FILE ca=FILE"

/* What an entry says about its arguments. */
struct args_spec {
	const char *template; /* the command's own options, as above; NULL or "" for none */
	int lower, upper;     /* operands: at least, at most (-1: any number) */
	const char *missing[ARGS_OPERANDS_MAX]; /* what to say when operand i is missing */
};

/* One option of a template. */
struct args_option {
	char name[ARGS_NAME_MAX];
	char alias[ARGS_NAME_MAX]; /* "" for none */
	char arg[ARGS_NAME_MAX];   /* "" for a flag */
	int required, repeat;
};

/* A command line, parsed. */
struct args {
	struct args_option opt[ARGS_OPTIONS_MAX];
	size_t n_opt;
	struct {
		const char **v; /* values (a flag: NULL each) */
		size_t n;       /* times given */
	} given[ARGS_OPTIONS_MAX];
	int argc;    /* operands */
	char **argv; /* the operands: argv[0] is the first one, not the command */
};

/* What args_parse found. */
enum args_result {
	ARGS_OK,   /* parsed: read it with args_get and friends, then args_free */
	ARGS_HELP, /* --help was given: show the help */
	ARGS_BAD,  /* a usage error, already said on stderr naming the command */
};

struct cmd_entry;

/* Parse argv (argv[0] is the command's name) against the entry's template and the global
 * options into a; after ARGS_BAD and ARGS_HELP a holds nothing to free. */
enum args_result args_parse(const struct cmd_entry *e, int argc, char **argv, struct args *a);

/* Free what args_parse kept. */
void args_free(struct args *a);

/* Return how many times the option was given (0 for an option not in the template). */
size_t args_has(const struct args *a, const char *name);

/* Return the option's value (the last one given), or NULL. */
const char *args_get(const struct args *a, const char *name);

/* Return the option's i-th value (repeatable options), or NULL past the last. */
const char *args_value(const struct args *a, const char *name, size_t i);

/* Return operand i, or NULL past the last. */
const char *args_operand(const struct args *a, int i);

#endif
