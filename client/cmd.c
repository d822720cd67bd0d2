/* What every command shares: global options, usage and help, and the call to the hub. */
#include "cmd.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "output.h"

/* Take a global option returned by getopt_long. */
int cmd_global_option(struct cmd_ctx *ctx, int opt, const char *arg)
{
	switch (opt) {
	case OPT_CONFIG:
		ctx->opt.config = arg;
		return 0;
	case OPT_SERVER:
		ctx->opt.server = arg;
		return 0;
	case OPT_CERT:
		ctx->opt.cert = arg;
		return 0;
	case OPT_KEY:
		ctx->opt.key = arg;
		return 0;
	case OPT_CA:
		ctx->opt.ca = arg;
		return 0;
	default:
		return -1;
	}
}

/* Handle a getopt_long result every command treats alike. */
int cmd_common_option(struct cmd_ctx *ctx, int opt, const char *arg)
{
	if (cmd_global_option(ctx, opt, arg) == 0) {
		return -1;
	}
	if (opt == 'h') {
		cmd_help(ctx);
		return EXIT_DONE;
	}
	/* getopt_long has already said what was wrong with the option. */
	cmd_usage(ctx, stderr);
	return EXIT_USAGE;
}

/* Say whether opt is one of the global options' getopt_long values. */
static int is_global_option(int opt)
{
	return opt >= OPT_CONFIG && opt <= OPT_CA;
}

/* Return the command's next own option, taking global options and --help itself. */
int cmd_getopt(struct cmd_ctx *ctx, int argc, char **argv, const struct option *opts, int *rc)
{
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c != 'h' && c != '?' && c != ':' && !is_global_option(c)) {
			return c;
		}
		if ((*rc = cmd_common_option(ctx, c, optarg)) >= 0) {
			return CMD_OPTS_EXIT;
		}
	}
	return CMD_OPTS_END;
}

/* Refuse any argument left after the options. */
int cmd_no_operands(const struct cmd_ctx *ctx, int argc, char **argv)
{
	if (optind < argc) {
		return cmd_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	}
	return -1;
}

/* Take exactly one argument after the options. */
int cmd_one_operand(const struct cmd_ctx *ctx, int argc, char **argv, const char *missing,
                    const char **arg)
{
	if (optind >= argc) {
		return cmd_usage_error(ctx, "%s", missing);
	}
	if (optind + 1 < argc) {
		return cmd_usage_error(ctx, "unexpected argument '%s'", argv[optind + 1]);
	}
	*arg = argv[optind];
	return -1;
}

/* Print "usage: refex NAME USAGE". */
void cmd_usage(const struct cmd_ctx *ctx, FILE *out)
{
	fprintf(out, "usage: refex %s %s\n", ctx->cmd->name, ctx->cmd->usage);
}

/* Print a usage complaint and the usage line on stderr. */
int cmd_usage_error(const struct cmd_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "refex %s: ", ctx->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cmd_usage(ctx, stderr);
	return EXIT_USAGE;
}

/* Print the command's usage line and options on stdout. */
void cmd_help(const struct cmd_ctx *ctx)
{
	cmd_usage(ctx, stdout);
	/* Summaries are written to follow a command name; as a sentence, capitalise. */
	printf("\n%c%s.\n\n", toupper((unsigned char)ctx->cmd->summary[0]), ctx->cmd->summary + 1);
	printf("options:\n%s", ctx->cmd->options ? ctx->cmd->options : "");
	printf("  -h, --help          show this help\n"
	       "  global options: --config FILE, --server HOST:PORT, --cert FILE, --key FILE,\n"
	       "  --ca FILE (see 'refex --help')\n");
	if (ctx->cmd->notes) {
		printf("\n%s", ctx->cmd->notes);
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
	if (!(ctx->conn = conn_open(cfg.server, &paths, cfg.state_dir, err, errlen, &refused))) {
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

/* Connect with the config file and flags; returns an exit code. */
static int connect_hub(struct cmd_ctx *ctx)
{
	char err[1024];
	int network, rc = cmd_connect(ctx, err, sizeof(err), &network);

	if (rc != EXIT_DONE) {
		fprintf(stderr, "refex: %s\n", err);
	}
	return rc;
}

/* Send req and wait for its response, whatever its status; print why when there is none. */
int cmd_call_any(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response **resp)
{
	char err[1024];
	int rc;

	*resp = NULL;
	if (!ctx->conn && (rc = connect_hub(ctx)) != EXIT_DONE) {
		return rc;
	}
	rc = conn_call(ctx->conn, req, resp, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "refex: %s\n", err);
		return rc == -2 ? EXIT_REFUSED : EXIT_CONNECT;
	}
	return EXIT_DONE;
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
