/* refex p12: the holder's own key and certificate as a passphrase-protected PKCS#12 file, to
 * import into a browser for the hub's HTTPS side. */
#include <openssl/crypto.h>
#include <stdio.h>

#include "cmd.h"
#include "config.h"
#include "p12.h"

/* Write the configured key, certificate and CA as the PKCS#12 file --out; works offline. */
static int cmd_p12_exec(struct cmd_ctx *ctx, const struct args *args)
{
	const char *out = args_get(args, "out"), *pass_file = args_get(args, "pass-file");
	struct client_config cfg = {0};
	char err[1024], pass[P12_PASS_MAX + 1];
	int rc;

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

const struct cmd_entry cmd_p12_entry = {
    .name = "p12",
    .usage = "--out FILE [--pass-file FILE]",
    .summary = "put your key and certificate in a PKCS#12 file for a browser",
    .args = {"out=FILE! pass-file=FILE", 0, 0, {NULL}},
    .options = "  --out FILE          write the PKCS#12 file (mode 0600; never overwritten)\n"
               "  --pass-file FILE    take the passphrase from the file's first line;\n"
               "                      without it, type it twice at the terminal\n",
    .notes = "Works offline. Takes the certificate, key and ca of your config (or\n"
             "--cert, --key, --ca). The passphrase (at least 8 characters) protects the\n"
             "file with AES-256-CBC, PBKDF2 with SHA-256 and a SHA-256 MAC.\n",
    .exec = cmd_p12_exec,
};
