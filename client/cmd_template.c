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

	if (strcmp(name, "client") == 0) {
		return &refex__client_record__descriptor;
	}
	if (strcmp(name, "consent") == 0) {
		return &refex__consent__descriptor;
	}
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
	const char *name = NULL;
	size_t i;
	int rc;

	/* No options of its own: cmd_getopt comes back only when the options are done. */
	if (cmd_getopt(ctx, argc, argv, opts, &rc) == CMD_OPTS_EXIT) {
		return rc;
	}
	if ((rc = cmd_one_operand(ctx, argc, argv,
	                          "which form? give a form name, client or consent", &name)) >= 0) {
		return rc;
	}
	if (!(desc = template_desc(name))) {
		fprintf(stderr, "refex: unknown form '%s'; known: client, consent", name);
		for (i = 0; i < form_count(); i++) {
			fprintf(stderr, ", %s", form_at(i)->name);
		}
		fputc('\n', stderr);
		return EXIT_USAGE;
	}
	if (output_json(pbjson_template(desc)) < 0) {
		fprintf(stderr, "refex: out of memory\n");
		return EXIT_REFUSED;
	}
	return EXIT_DONE;
}
