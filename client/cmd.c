/* What every command shares: global options, usage and help, and the call to the hub. */
#include "cmd.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "hubs.h"
#include "output.h"

/* Every command, in the order `refex --help` lists them. */
const struct cmd_entry *const cmd_table[] = {
    &cmd_submit_entry,   &cmd_inbox_entry,
    &cmd_sent_entry,     &cmd_show_entry,
    &cmd_forward_entry,  &cmd_client_entry,
    &cmd_consent_entry,  &cmd_audit_entry,
    &cmd_accept_entry,   &cmd_decline_entry,
    &cmd_complete_entry, &cmd_withdraw_entry,
    &cmd_watch_entry,    &cmd_forms_entry,
    &cmd_partners_entry, &cmd_report_entry,
    &cmd_template_entry, &cmd_keygen_entry,
    &cmd_p12_entry,      &cmd_doctor_entry,
    &cmd_help_entry,     NULL,
};

/* Return the command called name (or by its alias), or NULL. */
const struct cmd_entry *cmd_find(const char *name)
{
	for (size_t i = 0; cmd_table[i]; i++) {
		const struct cmd_entry *e = cmd_table[i];

		if (strcmp(e->name, name) == 0 || (e->alias && strcmp(e->alias, name) == 0)) {
			return e;
		}
	}
	return NULL;
}

/* Take the global options parsed in a into ctx. */
void cmd_take_globals(struct cmd_ctx *ctx, const struct args *a)
{
	const char **slot[] = {&ctx->opt.config, &ctx->opt.server, &ctx->opt.cert, &ctx->opt.key,
	                       &ctx->opt.ca};
	const char *names[] = {"config", "server", "cert", "key", "ca"};

	for (size_t i = 0; i < sizeof(slot) / sizeof(slot[0]); i++) {
		if (args_has(a, names[i])) {
			*slot[i] = args_get(a, names[i]);
		}
	}
}

/* Parse the command's arguments and run it. */
int cmd_run(struct cmd_ctx *ctx, const struct cmd_entry *e, int argc, char **argv)
{
	struct args a;
	int rc;

	ctx->cmd = e;
	switch (args_parse(e, argc, argv, &a)) {
	case ARGS_HELP:
		cmd_help(e);
		return EXIT_DONE;
	case ARGS_BAD:
		return EXIT_USAGE;
	case ARGS_OK:
		break;
	}
	cmd_take_globals(ctx, &a);
	if ((rc = cmd_take_change(ctx, &a)) < 0) {
		rc = e->exec(ctx, &a);
	}
	args_free(&a);
	return rc;
}

/* Print "refex" and, for a command, " NAME". */
static void print_name(const struct cmd_entry *e, FILE *out)
{
	fprintf(out, "refex%s%s", e->name ? " " : "", e->name ? e->name : "");
}

/* Print "usage: refex NAME USAGE". */
void cmd_usage(const struct cmd_entry *e, FILE *out)
{
	fputs("usage: ", out);
	print_name(e, out);
	fprintf(out, " %s\n", e->usage);
}

/* Print a usage complaint, the usage line and where to find help on stderr. */
static int usage_verror(const struct cmd_entry *e, const char *fmt, va_list ap)
{
	print_name(e, stderr);
	fputs(": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	cmd_usage(e, stderr);
	fputs("Run '", stderr);
	print_name(e, stderr);
	fprintf(stderr, " --help' for %s.\n", e->name ? "its options" : "the commands");
	return EXIT_USAGE;
}

/* Print a usage complaint about the entry's command line on stderr. */
int cmd_entry_usage_error(const struct cmd_entry *e, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = usage_verror(e, fmt, ap);
	va_end(ap);
	return rc;
}

/* Print a usage complaint about the command being run on stderr. */
int cmd_usage_error(const struct cmd_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = usage_verror(ctx->cmd, fmt, ap);
	va_end(ap);
	return rc;
}

/* Print the command's usage line and options on stdout. */
void cmd_help(const struct cmd_entry *e)
{
	cmd_usage(e, stdout);
	/* Summaries are written to follow a command name; as a sentence, capitalise. */
	printf("\n%c%s.\n\n", toupper((unsigned char)e->summary[0]), e->summary + 1);
	printf("options:\n%s", e->options ? e->options : "");
	printf("  -h, --help          show this help\n"
	       "  global options: --config FILE, --server HOST:PORT, --cert FILE, --key FILE,\n"
	       "  --ca FILE (see 'refex --help')\n");
	if (e->notes) {
		printf("\n%s", e->notes);
	}
}

/* Connect with the config file and flags, saying why not in err. */
int cmd_connect(struct cmd_ctx *ctx, char *err, size_t errlen, int *network)
{
	struct client_config cfg;
	struct tls_paths paths = {0};
	enum conn_failure refused = CONN_UNREACHED;
	int rc = EXIT_DONE;

	*network = 0;
	if (client_config_load(&cfg, &ctx->opt, err, errlen) < 0) {
		rc = EXIT_USAGE;
		goto done;
	}
	paths.cert = cfg.cert;
	paths.key = cfg.key;
	paths.ca = cfg.ca;
	paths.crl = cfg.crl;
	ctx->n_hubs = cfg.hubs.n;
	ctx->hub %= cfg.hubs.n;
	if (!(ctx->conn =
	          hubs_open(&cfg.hubs, &ctx->hub, &paths, cfg.state_dir, err, errlen, &refused))) {
		/* A bad address or unreadable TLS files are the config's fault, not the network's.
		 */
		rc = refused == CONN_REFUSED     ? EXIT_REFUSED
		     : refused == CONN_BAD_SETUP ? EXIT_USAGE
		                                 : EXIT_CONNECT;
		*network = refused == CONN_UNREACHED;
	}
done:
	client_config_clear(&cfg);
	return rc;
}

/* Name the failed connection's hub, close it and make the next hub the first to try. */
int cmd_move_on(struct cmd_ctx *ctx, char *err, size_t errlen)
{
	if (ctx->n_hubs > 1 && ctx->conn) {
		hubs_name_in(conn_address(ctx->conn), err, errlen);
	}
	cmd_close(ctx);
	if (ctx->n_hubs <= 1) {
		return 0;
	}
	ctx->hub = (ctx->hub + 1) % ctx->n_hubs;
	return 1;
}

/* Connect with the config file and flags; returns an exit code. */
static int connect_hub(struct cmd_ctx *ctx)
{
	char err[4096];
	int network, rc = cmd_connect(ctx, err, sizeof(err), &network);

	if (rc != EXIT_DONE) {
		fprintf(stderr, "refex: %s\n", err);
	}
	return rc;
}

/* Say whether req only reads: sent again to another hub, it changes nothing. */
static int is_read(const Refex__Request *req)
{
	switch (req->body_case) {
	case REFEX__REQUEST__BODY_LIST_INBOX:
	case REFEX__REQUEST__BODY_LIST_SENT:
	case REFEX__REQUEST__BODY_GET:
	case REFEX__REQUEST__BODY_LIST_FORMS:
	case REFEX__REQUEST__BODY_LIST_PARTNERS:
	case REFEX__REQUEST__BODY_AUDIT:
	case REFEX__REQUEST__BODY_GET_FORM_SCHEMA:
	case REFEX__REQUEST__BODY_GET_CLIENT:
	case REFEX__REQUEST__BODY_LIST_CLIENTS:
	case REFEX__REQUEST__BODY_LIST_CONSENTS:
	case REFEX__REQUEST__BODY_REPORT:
		return 1;
	default:
		return 0;
	}
}

/* Send req and wait for its response, whatever its status; print why when there is none. A
 * read whose connection fails moves on to the next hub, each hub once. */
int cmd_call_any(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response **resp)
{
	char err[4096];
	size_t moves = 0;
	int rc;

	*resp = NULL;
	for (;;) {
		if (!ctx->conn && (rc = connect_hub(ctx)) != EXIT_DONE) {
			return rc;
		}
		rc = conn_call(ctx->conn, req, resp, err, sizeof(err));
		if (rc == 0) {
			return EXIT_DONE;
		}
		if (rc == -1 && is_read(req) && conn_failed_in_network(ctx->conn) &&
		    moves + 1 < ctx->n_hubs && cmd_move_on(ctx, err, sizeof(err))) {
			fprintf(stderr, "refex: %s; asking the next hub\n", err);
			moves++;
			continue;
		}
		fprintf(stderr, "refex: %s\n", err);
		return rc == -2 ? EXIT_REFUSED : EXIT_CONNECT;
	}
}

/* Send req and wait for its response; print why when it fails. */
int cmd_call(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response **resp)
{
	int rc = cmd_call_any(ctx, req, resp);

	if (rc != EXIT_DONE) {
		return rc;
	}
	if (!(*resp)->status || (*resp)->status->code != REFEX__STATUS_CODE__STATUS_OK) {
		output_refusal((*resp)->status);
		refex__response__free_unpacked(*resp, NULL);
		*resp = NULL;
		return EXIT_REFUSED;
	}
	return EXIT_DONE;
}

/* Send req as cmd_call does, and check that the reply is of type want (what: how to name it
 * when it is not). */
int cmd_call_expect(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response__BodyCase want,
                    const char *what, Refex__Response **resp)
{
	int rc = cmd_call(ctx, req, resp);

	if (rc == EXIT_DONE && (*resp)->body_case != want) {
		refex__response__free_unpacked(*resp, NULL);
		*resp = NULL;
		fprintf(stderr, "refex: the server's reply has no %s\n", what);
		return EXIT_CONNECT;
	}
	return rc;
}

/* Close the connection, if one was opened. */
void cmd_close(struct cmd_ctx *ctx)
{
	conn_close(ctx->conn);
	ctx->conn = NULL;
}
