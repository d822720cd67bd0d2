/* refex p12: the holder's own key and certificate as a passphrase-protected PKCS#12 file, to
 * import into a browser for the hub's HTTPS side. */
#include <openssl/crypto.h>
#include <stdio.h>

#include "cmd.h"
#include "config.h"
#include "p12.h"

/* Write the configured key, certificate and CA as the PKCS#12 file --out; works offline. */
int cmd_p12(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"pass-file", required_argument, NULL, 'p'},
	    CMD_GLOBAL_OPTIONS,
	    {0},
	};
	const char *out = NULL, *pass_file = NULL;
	struct client_config cfg = {0};
	char err[1024], pass[P12_PASS_MAX + 1];
	int c, rc;

	while ((c = cmd_getopt(ctx, argc, argv, opts, &rc)) != CMD_OPTS_END) {
		if (c == CMD_OPTS_EXIT) {
			return rc;
		}
		if (c == 'o') {
			out = optarg;
		} else {
			pass_file = optarg;
		}
	}
	if ((rc = cmd_no_operands(ctx, argc, argv)) >= 0) {
		return rc;
	}
	if (out == NULL || out[0] == '\0') {
		return cmd_usage_error(ctx, "--out is required");
	}
	if (client_config_load(&cfg, &ctx->opt, err, sizeof(err)) < 0) {
		rc = cmd_usage_error(ctx, "%s", err);
	} else if (p12_passphrase(pass_file, pass, err, sizeof(err)) < 0 ||
	           p12_write(cfg.cert, cfg.key, cfg.ca, pass, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "refex p12: %s\n", err);
		rc = EXIT_REFUSED;
	} else {
		printf("Wrote %s: your key, certificate and the network CA, passphrase-protected.\n"
		       "Import it into your browser (see the README, \"Certificates for a "
		       "browser\").\n",
		       out);
		rc = EXIT_DONE;
	}
	OPENSSL_cleanse(pass, sizeof(pass));
	client_config_clear(&cfg);
	return rc;
}
