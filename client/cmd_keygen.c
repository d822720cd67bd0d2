/* refex keygen: make your own key and a signing request for the partnership's CA admin. */
#include <stdio.h>

#include "ca.h"
#include "cmd.h"
#include "csr.h"

/* Tell the partner what to send, what to keep, and what comes back. */
static void keygen_report(const char *agency, const char *holder, const char *out)
{
	printf("Made a new key and a certificate signing request for \"%s\" of agency %s:\n"
	       "  %s.key  your private key: SECRET. It stays here; never send it to anyone.\n"
	       "  %s.csr  the signing request: send it to your partnership's CA admin.\n"
	       "\n"
	       "The admin checks it is from you (agree how: a phone call, in person), runs\n"
	       "'refex-ca sign' and sends back %s.crt and the network's ca.crt. Then put in\n"
	       "your refex config:\n"
	       "  certificate = %s.crt\n"
	       "  key = %s.key\n"
	       "  ca = ca.crt\n",
	       holder, agency, out, out, out, out, out);
}

/* Make PREFIX.key and PREFIX.csr for an agency and holder; works offline. */
static int cmd_keygen_exec(struct cmd_ctx *ctx, const struct args *args)
{
	const char *agency = args_get(args, "agency"), *holder = args_get(args, "holder");
	const char *out = args_get(args, "out");
	char err[512];

	/* A bad name is the command line's fault; anything after that is a local failure. */
	if (ca_partner_names_check(agency, holder, err, sizeof(err)) < 0) {
		return cmd_usage_error(ctx, "%s", err);
	}
	if (csr_make(agency, holder, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "refex keygen: %s\n", err);
		return EXIT_REFUSED;
	}
	keygen_report(agency, holder, out);
	return EXIT_DONE;
}

const struct cmd_entry cmd_keygen_entry = {
    .name = "keygen",
    .usage = "--agency ID --holder NAME --out PREFIX",
    .summary = "make your own key and a certificate request for the CA admin",
    .args = {"agency=ID! holder=NAME! out=PREFIX!", 0, 0, {NULL}},
    .options = "  --agency ID         your agency's id, as the partnership knows it\n"
               "  --holder NAME       you (or the system) the certificate is for\n"
               "  --out PREFIX        write PREFIX.key (secret, mode 0600) and PREFIX.csr\n",
    .notes = "Works offline. Send PREFIX.csr to your partnership's CA admin; keep\n"
             "PREFIX.key. Never overwrites a file.\n",
    .exec = cmd_keygen_exec,
};
