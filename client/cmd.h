/* The command table, what every command is handed, and the helpers they share. */
#ifndef REFEX_CMD_H
#define REFEX_CMD_H

#include <getopt.h>
#include <stdio.h>

#include "refex.pb-c.h"

/* What refex exits with: scripts and the integration tests rely on these. */
enum {
	EXIT_DONE = 0,    /* done */
	EXIT_REFUSED = 1, /* the server refused, or a local step failed */
	EXIT_USAGE = 2,   /* bad command line, config or input file */
	EXIT_CONNECT = 3, /* could not connect, or TLS failed */
};

/* getopt_long values of the global options, above any short option letter. */
enum {
	OPT_CONFIG = 0x100,
	OPT_SERVER,
	OPT_CERT,
	OPT_KEY,
	OPT_CA,
	OPT_IDEMPOTENCY_KEY, /* not global: the commands that change something (CMD_CHANGE_OPTIONS)
	                      */
	OPT_VERBOSE,
};

/* The global options, accepted before and after the command name. Append to
 * each command's option array, before its terminating zero entry. */
#define CMD_GLOBAL_OPTIONS                                                                         \
	{"config", required_argument, NULL, OPT_CONFIG},                                           \
	    {"server", required_argument, NULL, OPT_SERVER},                                       \
	    {"cert", required_argument, NULL, OPT_CERT},                                           \
	    {"key", required_argument, NULL, OPT_KEY}, {"ca", required_argument, NULL, OPT_CA},    \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}

/* The options of the commands that change something (submit, accept, ...). Put them in the
 * command's option array and hand what getopt returns to cmd_change_option. */
#define CMD_CHANGE_OPTIONS                                                                         \
	{"idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY_KEY},                         \
	{                                                                                          \
		"verbose", no_argument, NULL, OPT_VERBOSE                                          \
	}

/* Their lines for `refex CMD --help`. */
#define CMD_CHANGE_HELP                                                                            \
	"  --idempotency-key KEY\n"                                                                \
	"                      send the request with this key (1-64 printable ASCII\n"             \
	"                      characters), not a new random one: the hub acts at most\n"          \
	"                      once on requests with the same key\n"                               \
	"  --verbose           say the idempotency key on stderr\n"

struct cmd_ctx;
struct conn;
struct hubforms;

struct cmd_entry {
	const char *name;
	const char *usage;   /* arguments after the name, e.g. "ID [--json]" */
	const char *summary; /* one line for `refex --help` */
	const char *options; /* option lines for `refex CMD --help`, or NULL */
	const char *notes;   /* lines after the options in `refex CMD --help`, or NULL */
	int (*exec)(struct cmd_ctx *, int argc, char **argv);
};

/* Global options as given on the command line (NULL when not given). */
struct cmd_globals {
	const char *config;
	const char *server;
	const char *cert;
	const char *key;
	const char *ca;
};

struct cmd_ctx {
	const struct cmd_entry *cmd; /* the command being run */
	struct cmd_globals opt;
	struct conn *conn;           /* opened on the first request */
	const char *idempotency_key; /* --idempotency-key, or NULL: make one */
	int verbose;                 /* --verbose */
	struct hubforms *forms;      /* the hub's forms learnt so far (hubforms.h), or NULL */
};

/* Return the command called name, or NULL. */
const struct cmd_entry *cmd_find(const char *name);

/* Take a global option returned by getopt_long; returns 0, or -1 for any other option. */
int cmd_global_option(struct cmd_ctx *ctx, int opt, const char *arg);

/* Handle a getopt_long result every command treats alike: a global option
 * (returns -1: carry on), --help (prints help, returns EXIT_DONE) or an
 * unknown option (prints usage, returns EXIT_USAGE). */
int cmd_common_option(struct cmd_ctx *ctx, int opt, const char *arg);

/* What cmd_getopt returns when it is not a command's own option. */
enum {
	CMD_OPTS_END = -1,  /* the options are done: operands (if any) start at optind */
	CMD_OPTS_EXIT = -2, /* --help was shown or an option was bad: exit with *rc */
};

/*
 * Return the command's next own option (getopt_long's value over opts), taking
 * the global options itself; CMD_OPTS_END when the options are done; or
 * CMD_OPTS_EXIT with *rc set after --help (EXIT_DONE) or a bad option
 * (EXIT_USAGE, usage printed).
 */
int cmd_getopt(struct cmd_ctx *ctx, int argc, char **argv, const struct option *opts, int *rc);

/* After the options, refuse any argument left over: returns EXIT_USAGE, or -1 to carry on. */
int cmd_no_operands(const struct cmd_ctx *ctx, int argc, char **argv);

/* After the options, take exactly one argument into *arg: returns -1 to carry on, or
 * EXIT_USAGE (saying missing when there is none, or naming the extra one). */
int cmd_one_operand(const struct cmd_ctx *ctx, int argc, char **argv, const char *missing,
                    const char **arg);

/* Print "usage: refex NAME USAGE" to out. */
void cmd_usage(const struct cmd_ctx *ctx, FILE *out);

/* Print a usage complaint ("refex NAME: why") and the usage line on stderr; returns EXIT_USAGE. */
int cmd_usage_error(const struct cmd_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print the command's usage line and options on stdout. */
void cmd_help(const struct cmd_ctx *ctx);

/*
 * Send req (its id is assigned here) to the server, connecting first if
 * needed, and wait for its response. Returns EXIT_DONE with *resp set (free
 * with refex__response__free_unpacked) when the server said OK; otherwise
 * prints why and returns EXIT_REFUSED, EXIT_USAGE or EXIT_CONNECT.
 */
int cmd_call(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response **resp);

/* Send req as cmd_call does, but hand back the hub's answer whatever its status (the caller
 * reads it): EXIT_DONE with *resp set, or an exit code after saying why the connection
 * failed. */
int cmd_call_any(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response **resp);

/* Send req as cmd_call does, and check that the reply is of type want (what: how to name it
 * when it is not: "the server's reply has no WHAT", EXIT_CONNECT). */
int cmd_call_expect(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response__BodyCase want,
                    const char *what, Refex__Response **resp);

/*
 * Send req, which changes something, as cmd_call does, with an idempotency key
 * (--idempotency-key, else a new random one); when the connection fails before
 * the reply comes (or the hub is briefly unavailable) reconnect and send it
 * again with the same key, a few times with backoff, so it takes effect once.
 */
int cmd_call_change(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response **resp);

/* Take --idempotency-key or --verbose (opt as getopt_long returned it). Returns -1 to carry
 * on (also for any other opt), or EXIT_USAGE for a bad key. */
int cmd_change_option(struct cmd_ctx *ctx, int opt, const char *arg);

/* Connect with the config file and flags, printing nothing. Returns EXIT_DONE, or the exit
 * code with a plain-words reason in err and *network set when the network failed (a retry
 * may work) rather than the setup, TLS or the hub's answer to Hello. */
int cmd_connect(struct cmd_ctx *ctx, char *err, size_t errlen, int *network);

/* Close the connection, if one was opened. */
void cmd_close(struct cmd_ctx *ctx);

/* The commands. */
int cmd_submit(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_inbox(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_sent(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_show(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_accept(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_decline(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_complete(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_withdraw(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_forms(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_partners(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_audit(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_forward(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_template(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_keygen(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_p12(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_doctor(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_watch(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_client(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_consent(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_report(struct cmd_ctx *ctx, int argc, char **argv);

#endif
