/* refex submit: refer a client to a partner agency on an agreed form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.pb-c.h"
#include "cmd.h"
#include "hubforms.h"
#include "input.h"
#include "output.h"

/* Free a message input_load_message returned; NULL is fine. */
static void free_message(ProtobufCMessage *msg)
{
	if (msg) {
		protobuf_c_message_free_unpacked(msg, NULL);
	}
}

/* Pack the form message into bytes for SubmitReferral.form_data. */
static int pack_form(const ProtobufCMessage *msg, ProtobufCBinaryData *out)
{
	out->len = protobuf_c_message_get_packed_size(msg);
	if (!(out->data = malloc(out->len ? out->len : 1))) {
		return -1;
	}
	protobuf_c_message_pack(msg, out->data);
	return 0;
}

/* Send a request that makes a referral (with retries) and print the new referral's id, or
 * with json the referral the hub answered with. */
static int call_new_referral(struct cmd_ctx *ctx, Refex__Request *req, int json)
{
	Refex__Response *resp = NULL;
	int rc = cmd_call_change(ctx, req, &resp);

	if (rc != EXIT_DONE) {
		return rc;
	}
	if (resp->body_case != REFEX__RESPONSE__BODY_REFERRAL || !resp->referral->id) {
		fprintf(stderr, "refex: the server accepted the referral but did not say its id\n");
		rc = EXIT_CONNECT;
	} else {
		output_warn_duplicates(resp->referral->possible_duplicates,
		                       resp->referral->n_possible_duplicates, true);
		if (!json) {
			output_text(stdout, resp->referral->id);
			putchar('\n');
		} else if (output_message_json(&resp->referral->base, "possibleDuplicates") < 0) {
			output_print_failure();
			rc = EXIT_REFUSED;
		}
	}
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

struct submit_args {
	const char *to, *form, *client, *data, *consent, *client_id;
	int json;
};

/* Parse the submit options; returns -1 to carry on, else an exit code. */
static int parse_args(struct cmd_ctx *ctx, int argc, char **argv, struct submit_args *a)
{
	static const struct option opts[] = {
	    {"to", required_argument, NULL, 't'},
	    {"form", required_argument, NULL, 'f'},
	    {"client", required_argument, NULL, 'c'},
	    {"client-id", required_argument, NULL, 'i'},
	    {"data", required_argument, NULL, 'd'},
	    {"consent", required_argument, NULL, 'C'},
	    {"json", no_argument, NULL, 'j'},
	    CMD_CHANGE_OPTIONS,
	    CMD_GLOBAL_OPTIONS,
	    {0},
	};
	int c, rc;

	while ((c = cmd_getopt(ctx, argc, argv, opts, &rc)) >= 0) {
		switch (c) {
		case 'j':
			a->json = 1;
			break;
		case 't':
			a->to = optarg;
			break;
		case 'f':
			a->form = optarg;
			break;
		case 'c':
			a->client = optarg;
			break;
		case 'i':
			a->client_id = optarg;
			break;
		case 'd':
			a->data = optarg;
			break;
		case 'C':
			a->consent = optarg;
			break;
		default:
			if ((rc = cmd_change_option(ctx, c, optarg)) >= 0) {
				return rc;
			}
		}
	}
	if (c == CMD_OPTS_EXIT) {
		return rc;
	}
	if ((rc = cmd_no_operands(ctx, argc, argv)) >= 0) {
		return rc;
	}
	if (!a->to) {
		return cmd_usage_error(ctx, "--to AGENCY is required");
	}
	if (!a->form) {
		return cmd_usage_error(ctx, "--form FORM is required");
	}
	if (!a->client == !a->client_id) {
		return cmd_usage_error(ctx, "give one of --client-id ID and --client FILE");
	}
	if (a->client_id && a->consent) {
		return cmd_usage_error(ctx,
		                       "--consent goes with --client FILE; for a stored client "
		                       "record consent with 'refex consent add'");
	}
	if (!a->data) {
		return cmd_usage_error(ctx, "--data FILE is required");
	}
	return -1;
}

/* Refer a client: read and check the files offline, then submit. */
int cmd_submit(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct submit_args a = {0};
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__SubmitReferral sub = REFEX__SUBMIT_REFERRAL__INIT;
	ProtobufCMessage *client = NULL, *data = NULL, *consent = NULL;
	const struct hubform *hf;
	int rc;

	if ((rc = parse_args(ctx, argc, argv, &a)) >= 0) {
		return rc;
	}
	rc = EXIT_USAGE;
	if ((a.client &&
	     !(client = input_load_message(a.client, &refex__client_record__descriptor))) ||
	    (a.consent &&
	     !(consent = input_load_message(a.consent, &refex__consent__descriptor)))) {
		goto done;
	}
	/* The form is the hub's, in the version in force: learnt from it, or its cache. */
	if ((rc = hubforms_get(ctx, a.form, 0, HUBFORMS_ONLINE, &hf)) != EXIT_DONE) {
		goto done;
	}
	rc = EXIT_USAGE;
	if (!(data = input_load_message(a.data, hf->form->desc))) {
		goto done;
	}
	rc = EXIT_REFUSED;
	if (pack_form(data, &sub.form_data) < 0) {
		fprintf(stderr, "refex: out of memory\n");
		goto done;
	}
	sub.has_form_data = 1;
	sub.to = (char *)a.to;
	sub.form = (char *)a.form;
	sub.has_form_version = 1; /* the answers are for this version: a newer one is refused */
	sub.form_version = hf->form->version;
	sub.client = (Refex__ClientRecord *)client;
	sub.client_id = (char *)a.client_id;
	sub.consent = (Refex__Consent *)consent;
	req.body_case = REFEX__REQUEST__BODY_SUBMIT;
	req.submit = &sub;
	rc = call_new_referral(ctx, &req, a.json);
done:
	free(sub.form_data.data);
	free_message(client);
	free_message(data);
	free_message(consent);
	return rc;
}

struct forward_args {
	const char *id, *to, *form, *data, *consent;
	int json;
};

/* Parse the forward options; returns -1 to carry on, else an exit code. */
static int parse_forward_args(struct cmd_ctx *ctx, int argc, char **argv, struct forward_args *a)
{
	static const struct option opts[] = {
	    {"to", required_argument, NULL, 't'},
	    {"form", required_argument, NULL, 'f'},
	    {"data", required_argument, NULL, 'd'},
	    {"consent", required_argument, NULL, 'C'},
	    {"json", no_argument, NULL, 'j'},
	    CMD_CHANGE_OPTIONS,
	    CMD_GLOBAL_OPTIONS,
	    {0},
	};
	const char **slot[] = {
	    ['t'] = &a->to, ['f'] = &a->form, ['d'] = &a->data, ['C'] = &a->consent};
	int c, rc;

	while ((c = cmd_getopt(ctx, argc, argv, opts, &rc)) >= 0) {
		if (c == 'j') {
			a->json = 1;
		} else if (c < (int)(sizeof(slot) / sizeof(slot[0])) && slot[c] != NULL) {
			*slot[c] = optarg;
		} else if ((rc = cmd_change_option(ctx, c, optarg)) >= 0) {
			return rc;
		}
	}
	if (c == CMD_OPTS_EXIT) {
		return rc;
	}
	if ((rc = cmd_one_operand(ctx, argc, argv, "which referral? give its ID", &a->id)) >= 0) {
		return rc;
	}
	/* --consent only for a referral without a stored client: the hub says which it is. */
	if (!a->to || !a->form) {
		return cmd_usage_error(ctx, "--to AGENCY and --form FORM are required");
	}
	return -1;
}

/* Refer the client of a referral sent to us on: the hub fills the form in from what it knows. */
int cmd_forward(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct forward_args a = {0};
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ForwardReferral fw = REFEX__FORWARD_REFERRAL__INIT;
	ProtobufCMessage *data = NULL, *consent = NULL;
	const struct hubform *hf;
	int rc;

	if ((rc = parse_forward_args(ctx, argc, argv, &a)) >= 0) {
		return rc;
	}
	if ((rc = hubforms_get(ctx, a.form, 0, HUBFORMS_ONLINE, &hf)) != EXIT_DONE) {
		goto done;
	}
	rc = EXIT_USAGE;
	if ((a.data && !(data = input_load_json(a.data, hf->form->desc, true))) ||
	    (a.consent &&
	     !(consent = input_load_message(a.consent, &refex__consent__descriptor)))) {
		goto done;
	}
	rc = EXIT_REFUSED;
	if (data && pack_form(data, &fw.form_data) < 0) {
		fprintf(stderr, "refex: out of memory\n");
		goto done;
	}
	fw.has_form_data = data != NULL;
	fw.referral_id = (char *)a.id;
	fw.to = (char *)a.to;
	fw.form = (char *)a.form;
	fw.has_form_version = 1;
	fw.form_version = hf->form->version;
	fw.consent = (Refex__Consent *)consent;
	req.body_case = REFEX__REQUEST__BODY_FORWARD;
	req.forward = &fw;
	rc = call_new_referral(ctx, &req, a.json);
done:
	free(fw.form_data.data);
	free_message(data);
	free_message(consent);
	return rc;
}
