/* refex template: a fill-in JSON skeleton of a form, a client record or a consent. */
#include <stdio.h>
#include <string.h>

#include "client.pb-c.h"
#include "cmd.h"
#include "form.h"
#include "output.h"
#include "pbjson.h"

/* Find what to skeleton: "client", "consent" or an agreed form's name. */
static const ProtobufCMessageDescriptor *template_desc(const char *name)
{
	const struct form *f;

	if (strcmp(name, "client") == 0)
		return &refex__client_record__descriptor;
	if (strcmp(name, "consent") == 0)
		return &refex__consent__descriptor;
	f = form_find(name);
	return f ? f->desc : NULL;
}

/* Print a fill-in skeleton; works offline. */
int cmd_template(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    CMD_GLOBAL_OPTIONS,
	    {0},
	};
	const ProtobufCMessageDescriptor *desc;
	size_t i;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		if ((rc = cmd_common_option(ctx, c, optarg)) >= 0)
			return rc;
	if (optind >= argc)
		return cmd_usage_error(ctx, "which form? give a form name, client or consent");
	if (optind + 1 < argc)
		return cmd_usage_error(ctx, "unexpected argument '%s'", argv[optind + 1]);
	if (!(desc = template_desc(argv[optind]))) {
		fprintf(stderr, "refex: unknown form '%s'; known: client, consent", argv[optind]);
		for (i = 0; i < form_count(); i++)
			fprintf(stderr, ", %s", form_at(i)->name);
		fputc('\n', stderr);
		return EXIT_USAGE;
	}
	if (output_json(pbjson_template(desc)) < 0) {
		fprintf(stderr, "refex: out of memory\n");
		return EXIT_REFUSED;
	}
	return EXIT_DONE;
}
