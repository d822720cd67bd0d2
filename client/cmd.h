/* The command table, what every command is handed, and the helpers they share. */
#ifndef REFEX_CMD_H
#define REFEX_CMD_H

#include <stdio.h>

#include "args.h"
#include "refex.pb-c.h"

/* What refex exits with: scripts and the integration tests rely on these. */
enum {
	EXIT_DONE = 0,    /* done */
	EXIT_REFUSED = 1, /* the server refused, or a local step failed */
	EXIT_USAGE = 2,   /* bad command line, config or input file */
	EXIT_CONNECT = 3, /* could not connect, or TLS failed */
};

/* The options of the commands that change something (submit, accept, ...): add to the
 * command's template; cmd_run takes them. */
#define CMD_CHANGE_TEMPLATE " idempotency-key=KEY verbose"

/* Their lines for `refex CMD --help`. */
#define CMD_CHANGE_HELP                                                                            \
	"  --idempotency-key KEY\n"                                                                \
	"                      send the request with this key (1-64 printable ASCII\n"             \
	"                      characters), not a new random one: the hub acts at most\n"          \
	"                      once on requests with the same key\n"                               \
	"  --verbose           say the idempotency key on stderr\n"

/* For the commands that answer with a referral. */
#define CMD_JSON_REFERRAL_HELP                                                                     \
	"  --json              print the referral the hub answered with as JSON (canonical\n"      \
	"                      protobuf mapping): its id, state, ...\n"

/* For the commands that change something. */
#define CMD_RETRY_NOTES                                                                            \
	"If the connection to the hub is lost before its answer, refex sends the request\n"        \
	"again with the same idempotency key (4 attempts over about 10 s): it takes effect\n"      \
	"once. With several hubs, a request lost on one goes at once to the next with the\n"       \
	"same key. If every attempt fails, refex prints the key: run the same command with\n"      \
	"--idempotency-key KEY to find out safely whether it was done.\n"

struct cmd_ctx;
struct conn;
struct hubforms;

/* A command, as tmux's cmd-*.c: defined in the command's own file, listed in cmd_table. */
struct cmd_entry {
	const char *name;
	const char *alias;   /* another name it answers to, or NULL */
	const char *summary; /* one line for `refex --help` */
	const char *usage;   /* arguments after the name, e.g. "ID [--json]" */
	struct args_spec args;
	int in_order;        /* options only before the first operand (refex itself) */
	const char *options; /* option lines for `refex CMD --help`, or NULL */
	const char *notes;   /* lines after the options in `refex CMD --help`, or NULL */
	int (*exec)(struct cmd_ctx *, const struct args *);
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
	size_t hub;                  /* the hub (of the server list) to try first */
	size_t n_hubs;               /* how many the server list names (0: not read yet) */
};

/* Every command, in the order `refex --help` lists them; NULL-terminated. */
extern const struct cmd_entry *const cmd_table[];

/* Return the command called name (or by its alias), or NULL. */
const struct cmd_entry *cmd_find(const char *name);

/* Take the global options parsed in a into ctx (those given override those taken before). */
void cmd_take_globals(struct cmd_ctx *ctx, const struct args *a);

/* Parse the command's arguments (argv[0] is its name) and run it: --help and usage errors
 * alike for every command. Returns the exit code. */
int cmd_run(struct cmd_ctx *ctx, const struct cmd_entry *e, int argc, char **argv);

/* Print "usage: refex NAME USAGE" to out. */
void cmd_usage(const struct cmd_entry *e, FILE *out);

/* Print a usage complaint ("refex NAME: why"), the usage line and where to find help on
 * stderr; returns EXIT_USAGE. */
int cmd_entry_usage_error(const struct cmd_entry *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* As cmd_entry_usage_error, for the command being run. */
int cmd_usage_error(const struct cmd_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print the command's usage line and options on stdout. */
void cmd_help(const struct cmd_entry *e);

/* Print refex's own help: the commands from the table and the global options. */
void cmd_help_all(void);

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

/* Take --idempotency-key and --verbose, when the command has them. Returns -1 to carry on, or
 * EXIT_USAGE for a bad key. */
int cmd_take_change(struct cmd_ctx *ctx, const struct args *a);

/* Connect with the config file and flags to the first hub of the server list that answers,
 * beginning with ctx->hub (hubs_open; it says on stderr why a hub was passed over). Returns
 * EXIT_DONE with ctx->hub the hub that answered, or the exit code with a plain-words reason in
 * err and *network set when the network failed on every hub (a retry may work) rather than
 * the setup, TLS or a hub's answer to Hello. */
int cmd_connect(struct cmd_ctx *ctx, char *err, size_t errlen, int *network);

/* Connect as cmd_connect does, trying again after a network failure as a change does (retry.c);
 * says on stderr why when it fails. Returns an exit code. */
int cmd_connect_retrying(struct cmd_ctx *ctx);

/* After the connection failed in the network (err says how): name its hub in err when there
 * are several, close it, and make the next hub of the list the first to try. Returns whether
 * there is another hub to move on to. */
int cmd_move_on(struct cmd_ctx *ctx, char *err, size_t errlen);

/* Close the connection, if one was opened. */
void cmd_close(struct cmd_ctx *ctx);

/* The commands (cmd_*.c). */
extern const struct cmd_entry cmd_submit_entry;
extern const struct cmd_entry cmd_forward_entry;
extern const struct cmd_entry cmd_inbox_entry;
extern const struct cmd_entry cmd_sent_entry;
extern const struct cmd_entry cmd_show_entry;
extern const struct cmd_entry cmd_accept_entry;
extern const struct cmd_entry cmd_decline_entry;
extern const struct cmd_entry cmd_complete_entry;
extern const struct cmd_entry cmd_withdraw_entry;
extern const struct cmd_entry cmd_forms_entry;
extern const struct cmd_entry cmd_partners_entry;
extern const struct cmd_entry cmd_audit_entry;
extern const struct cmd_entry cmd_template_entry;
extern const struct cmd_entry cmd_keygen_entry;
extern const struct cmd_entry cmd_p12_entry;
extern const struct cmd_entry cmd_doctor_entry;
extern const struct cmd_entry cmd_watch_entry;
extern const struct cmd_entry cmd_client_entry;
extern const struct cmd_entry cmd_consent_entry;
extern const struct cmd_entry cmd_report_entry;
extern const struct cmd_entry cmd_help_entry;

/* refex itself, before the command's name: the global options and -V. */
extern const struct cmd_entry cmd_main_entry;

#endif
