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
int cmd_keygen(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"agency", required_argument, NULL, 'a'},
	    {"holder", required_argument, NULL, 'n'},
	    {"out", required_argument, NULL, 'o'},
	    CMD_GLOBAL_OPTIONS,
	    {0},
	};
	const char *agency = NULL, *holder = NULL, *out = NULL;
	char err[512];
	int c, rc;

	while ((c = cmd_getopt(ctx, argc, argv, opts, &rc)) != CMD_OPTS_END) {
		if (c == CMD_OPTS_EXIT) {
			return rc;
		}
		if (c == 'a') {
			agency = optarg;
		} else if (c == 'n') {
			holder = optarg;
		} else {
			out = optarg;
		}
	}
	if ((rc = cmd_no_operands(ctx, argc, argv)) >= 0) {
		return rc;
	}
	if (agency == NULL || holder == NULL || out == NULL || out[0] == '\0') {
		return cmd_usage_error(ctx, "--agency, --holder and --out are required");
	}
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
