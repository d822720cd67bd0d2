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

/* Read the submit options into a; returns -1 to carry on, else an exit code. */
static int take_args(struct cmd_ctx *ctx, const struct args *args, struct submit_args *a)
{
	a->to = args_get(args, "to");
	a->form = args_get(args, "form");
	a->client = args_get(args, "client");
	a->client_id = args_get(args, "client-id");
	a->data = args_get(args, "data");
	a->consent = args_get(args, "consent");
	a->json = args_has(args, "json") > 0;
	if (!a->client == !a->client_id) {
		return cmd_usage_error(ctx, "give one of --client-id ID and --client FILE");
	}
	if (a->client_id && a->consent) {
		return cmd_usage_error(ctx,
		                       "--consent goes with --client FILE; for a stored client "
		                       "record consent with 'refex consent add'");
	}
	return -1;
}

/* Refer a client: read and check the files offline, then submit. */
static int cmd_submit_exec(struct cmd_ctx *ctx, const struct args *args)
{
	struct submit_args a = {0};
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__SubmitReferral sub = REFEX__SUBMIT_REFERRAL__INIT;
	ProtobufCMessage *client = NULL, *data = NULL, *consent = NULL;
	const struct hubform *hf;
	int rc;

	if ((rc = take_args(ctx, args, &a)) >= 0) {
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

/* Refer the client of a referral sent to us on: the hub fills the form in from what it knows. */
static int cmd_forward_exec(struct cmd_ctx *ctx, const struct args *args)
{
	const char *form = args_get(args, "form"), *data_file = args_get(args, "data");
	const char *consent_file = args_get(args, "consent");
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ForwardReferral fw = REFEX__FORWARD_REFERRAL__INIT;
	ProtobufCMessage *data = NULL, *consent = NULL;
	const struct hubform *hf;
	int rc;

	/* --consent only for a referral without a stored client: the hub says which it is. */
	if ((rc = hubforms_get(ctx, form, 0, HUBFORMS_ONLINE, &hf)) != EXIT_DONE) {
		goto done;
	}
	rc = EXIT_USAGE;
	if ((data_file && !(data = input_load_json(data_file, hf->form->desc, true))) ||
	    (consent_file &&
	     !(consent = input_load_message(consent_file, &refex__consent__descriptor)))) {
		goto done;
	}
	rc = EXIT_REFUSED;
	if (data && pack_form(data, &fw.form_data) < 0) {
		fprintf(stderr, "refex: out of memory\n");
		goto done;
	}
	fw.has_form_data = data != NULL;
	fw.referral_id = (char *)args_operand(args, 0);
	fw.to = (char *)args_get(args, "to");
	fw.form = (char *)form;
	fw.has_form_version = 1;
	fw.form_version = hf->form->version;
	fw.consent = (Refex__Consent *)consent;
	req.body_case = REFEX__REQUEST__BODY_FORWARD;
	req.forward = &fw;
	rc = call_new_referral(ctx, &req, args_has(args, "json") > 0);
done:
	free(fw.form_data.data);
	free_message(data);
	free_message(consent);
	return rc;
}

const struct cmd_entry cmd_submit_entry = {
    .name = "submit",
    .usage = "--to AGENCY --form FORM (--client-id ID | --client CLIENT.json "
             "[--consent CONSENT.json]) --data FORM.json [--json] [--idempotency-key KEY] "
             "[--verbose]",
    .summary = "refer a client to a partner agency on an agreed form",
    .args = {"to=AGENCY! form=FORM! client=FILE client-id=ID data=FILE! consent=FILE "
             "json" CMD_CHANGE_TEMPLATE,
             0,
             0,
             {NULL}},
    .options =
        "  --to AGENCY         the receiving agency's id (see 'refex partners')\n"
        "  --form FORM         the agreed form (see 'refex forms')\n"
        "  --client-id ID      a client record the hub keeps for your agency\n"
        "                      ('refex client add'); needs a live consent or other\n"
        "                      basis covering AGENCY ('refex consent add')\n"
        "  --client FILE       the client record, JSON ('refex template client'):\n"
        "                      the hub stores it as a new client of your agency\n"
        "  --data FILE         the form's answers, JSON ('refex template FORM')\n"
        "  --consent FILE      the client's consent to share with AGENCY, JSON\n"
        "                      ('refex template consent')\n" CMD_JSON_REFERRAL_HELP CMD_CHANGE_HELP,
    .notes = "Prints the new referral's id on its own line. With --client FILE it warns (on\n"
             "stderr) about your clients with the same name and date of birth: the record\n"
             "is stored as a new client all the same; refer a client you hold with\n"
             "--client-id.\n\n" CMD_RETRY_NOTES,
    .exec = cmd_submit_exec,
};

const struct cmd_entry cmd_forward_entry = {
    .name = "forward",
    .usage = "ID --to AGENCY --form FORM [--data FILE] [--consent FILE] [--json]",
    .summary = "refer the client of a referral you received on to another agency",
    .args = {"to=AGENCY! form=FORM! data=FILE consent=FILE json" CMD_CHANGE_TEMPLATE,
             1,
             1,
             {"which referral? give its ID"}},
    .options = "  --to AGENCY         the partner to refer the client to\n"
               "  --form FORM         the agreed form for it\n"
               "  --consent FILE      the client's consent to share with AGENCY (JSON); only\n"
               "                      for a referral without a stored client\n"
               "  --data FILE         answers the hub cannot fill in (JSON; may be "
               "partial)\n" CMD_JSON_REFERRAL_HELP CMD_CHANGE_HELP,
    .notes = "The client record travels with the new referral. The hub fills the form in\n"
             "from the answers already given (fields of the same name and type in the\n"
             "referral and the client record); if anything is still missing it names\n"
             "exactly those fields. `refex template FORM --from ID` prints what it would\n"
             "fill in. The new referral records ID as its parent: show ID lists it.\n"
             "A stored client (show ID says 'stored client') goes on as the same record,\n"
             "still its owner's, and only if a consent or lawful basis the owner\n"
             "recorded covers AGENCY ('refex consent list CLIENT_ID'); ask the owner to\n"
             "record one if not.\n",
    .exec = cmd_forward_exec,
};
