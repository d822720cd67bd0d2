/* refex template: a fill-in JSON skeleton of a form, a client record or a consent. */
#include <stdio.h>
#include <string.h>

#include "client.pb-c.h"
#include "cmd.h"
#include "form.h"
#include "output.h"
#include "pbjson.h"
#include "prefill.h"

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

/* Fetch referral id and fill the skeleton in from its answers and client record, as the hub
 * would for an onward referral (proto/prefill.h). Returns an exit code. */
static int template_from(struct cmd_ctx *ctx, const ProtobufCMessageDescriptor *desc,
                         const char *id, json_t *skeleton)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetReferral get = REFEX__GET_REFERRAL__INIT;
	Refex__Response *resp = NULL;
	ProtobufCMessage *earlier = NULL;
	struct prefill_source src[2];
	const struct form *pf;
	json_t *known, *v;
	const char *key;
	size_t n = 0;
	int rc;

	get.id = (char *)id;
	req.body_case = REFEX__REQUEST__BODY_GET;
	req.get = &get;
	if ((rc = cmd_call(ctx, &req, &resp)) != EXIT_DONE) {
		return rc;
	}
	if (resp->body_case == REFEX__RESPONSE__BODY_REFERRAL) {
		const Refex__Referral *r = resp->referral;

		if ((pf = form_find(r->form)) != NULL && r->has_form_data &&
		    (earlier = protobuf_c_message_unpack(pf->desc, NULL, r->form_data.len,
		                                         r->form_data.data)) != NULL) {
			src[n++].msg = earlier;
		}
		if (r->client != NULL) {
			src[n++].msg = &r->client->base;
		}
	}
	known = prefill(desc, NULL, src, n);
	json_object_foreach(known, key, v)
	{
		json_object_set(skeleton, key, v);
	}
	json_decref(known);
	if (earlier != NULL) {
		protobuf_c_message_free_unpacked(earlier, NULL);
	}
	refex__response__free_unpacked(resp, NULL);
	return EXIT_DONE;
}

/* Print a fill-in skeleton; offline, or filled in from a referral with --from. */
int cmd_template(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'F'},
	    CMD_GLOBAL_OPTIONS,
	    {0},
	};
	const ProtobufCMessageDescriptor *desc;
	const char *name = NULL, *from = NULL;
	json_t *skeleton;
	size_t i;
	int c, rc;

	while ((c = cmd_getopt(ctx, argc, argv, opts, &rc)) >= 0) {
		if (c == 'F') {
			from = optarg;
		}
	}
	if (c == CMD_OPTS_EXIT) {
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
	skeleton = pbjson_template(desc);
	if (from != NULL && (rc = template_from(ctx, desc, from, skeleton)) != EXIT_DONE) {
		json_decref(skeleton);
		return rc;
	}
	if (output_json(skeleton) < 0) {
		fprintf(stderr, "refex: out of memory\n");
		return EXIT_REFUSED;
	}
	return EXIT_DONE;
}
