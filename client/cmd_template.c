/* refex template: a fill-in JSON skeleton of a form, a client record or a consent. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "client.pb-c.h"
#include "cmd.h"
#include "hubforms.h"
#include "output.h"
#include "pbjson.h"
#include "prefill.h"
#include "rules.h"

/* Find what to skeleton: "client", "consent" (no hub needed), or a form of the hub, the version
 * in force (offline: as cached); *hf is that form, else NULL. Returns an exit code. */
static int template_desc(struct cmd_ctx *ctx, const char *name, enum hubforms_mode mode,
                         const ProtobufCMessageDescriptor **desc, const struct hubform **hf)
{
	int rc;

	*hf = NULL;
	if (strcmp(name, "client") == 0) {
		*desc = &refex__client_record__descriptor;
		return EXIT_DONE;
	}
	if (strcmp(name, "consent") == 0) {
		*desc = &refex__consent__descriptor;
		return EXIT_DONE;
	}
	if ((rc = hubforms_get(ctx, name, 0, mode, hf)) == EXIT_DONE) {
		*desc = (*hf)->form->desc;
	}
	return rc;
}

/* The placeholder p of enum field f without its zero value, when the field's rules say the zero
 * value is no answer ("<required one of: A|B>", not "<required one of: UNSPECIFIED|A|B>"). */
static void template_choices(const ProtobufCFieldDescriptor *f, const struct rules *r, char *p)
{
	const ProtobufCEnumValue *zero;
	char *at;
	size_t n;

	if (!r || !r->zero_is_no_answer || f->type != PROTOBUF_C_TYPE_ENUM ||
	    !(zero = protobuf_c_enum_descriptor_get_value(f->descriptor, 0)))
		return;
	n = strlen(zero->name);
	if ((at = strstr(p, zero->name)) != NULL && (at[n] == '|' || at[n] == '>') &&
	    (at[-1] == ' ' || at[-1] == '|')) {
		if (at[n] == '|')
			n++;
		else if (at[-1] == '|')
			at--, n++;
		memmove(at, at + n, strlen(at + n) + 1);
	}
}

/* Put the placeholder, label, rules and help of field f together: "<required string> What
 * the tenant wants help with [not blank, at most 500 characters] (help)". */
static json_t *template_placeholder(const char *placeholder, const ProtobufCFieldDescriptor *f,
                                    const struct schema_field *sf)
{
	char choices[4096], rules[256];

	snprintf(choices, sizeof(choices), "%s", placeholder);
	template_choices(f, sf->rules, choices);
	rules_describe(sf->rules, rules, sizeof(rules));
	return json_sprintf("%s %s%s%s%s%s%s%s", choices, sf->label, rules[0] ? " [" : "", rules,
	                    rules[0] ? "]" : "", sf->help ? " (" : "", sf->help ? sf->help : "",
	                    sf->help ? ")" : "");
}

/* Append the label, the rules (rules.h) and the help the form gives each field to its
 * placeholder in skeleton, a template of desc, nested messages included. */
static void template_label(json_t *skeleton, const ProtobufCMessageDescriptor *desc,
                           const struct hubform *hf)
{
	char key[PBJSON_NAME_CAP];

	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		const struct schema_field *sf = hubforms_field(hf, desc, f);
		json_t *v, *labelled;

		pbjson_json_name(f->name, key);
		v = json_object_get(skeleton, key);
		if (json_is_array(v)) {
			v = json_array_get(v, 0);
		}
		if (json_is_object(v) && f->type == PROTOBUF_C_TYPE_MESSAGE) {
			template_label(v, f->descriptor, hf);
		} else if (json_is_string(v) && sf) {
			labelled = template_placeholder(json_string_value(v), f, sf);
			if (labelled && json_is_array(json_object_get(skeleton, key))) {
				json_array_set_new(json_object_get(skeleton, key), 0, labelled);
			} else if (labelled) {
				json_object_set_new(skeleton, key, labelled);
			}
		}
	}
}

#define KNOWN_MAX 16 /* prefill sources: the client, and at most 14 earlier referrals */

/* What is already known, for prefill (proto/prefill.h): the first source that has a field
 * wins. Responses are kept until the fill-in is done: the sources point into them. */
struct known {
	Refex__Response *resp[KNOWN_MAX + 2];
	size_t n_resp;
	ProtobufCMessage *answers[KNOWN_MAX];
	size_t n_answers;
	struct prefill_source src[KNOWN_MAX];
	size_t n;
};

static void known_add(struct known *k, const ProtobufCMessage *m)
{
	if (m != NULL && k->n < KNOWN_MAX) {
		k->src[k->n++].msg = m;
	}
}

/* Send req and keep the response; returns an exit code, *out NULL unless it is of type want. */
static int known_call(struct cmd_ctx *ctx, Refex__Request *req, int want, struct known *k,
                      Refex__Response **out)
{
	int rc;

	*out = NULL;
	if (k->n_resp == sizeof(k->resp) / sizeof(k->resp[0])) {
		return EXIT_DONE;
	}
	if ((rc = cmd_call(ctx, req, &k->resp[k->n_resp])) != EXIT_DONE) {
		return rc;
	}
	if ((int)k->resp[k->n_resp]->body_case == want) {
		*out = k->resp[k->n_resp];
	}
	k->n_resp++;
	return EXIT_DONE;
}

/* Fetch referral id (an audited read, like refex show); its answers become a source. */
static int known_referral(struct cmd_ctx *ctx, const char *id, struct known *k,
                          const Refex__Referral **out)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetReferral get = REFEX__GET_REFERRAL__INIT;
	Refex__Response *resp;
	const Refex__Referral *r;
	const struct hubform *pf;
	ProtobufCMessage *m;
	int rc;

	*out = NULL;
	get.id = (char *)id;
	req.body_case = REFEX__REQUEST__BODY_GET;
	req.get = &get;
	if ((rc = known_call(ctx, &req, REFEX__RESPONSE__BODY_REFERRAL, k, &resp)) != EXIT_DONE ||
	    resp == NULL) {
		return rc;
	}
	*out = r = resp->referral;
	/* The answers are read as the version of the form the referral recorded. */
	if (r->has_form_data && k->n_answers < KNOWN_MAX && r->form &&
	    hubforms_get(ctx, r->form, r->form_version, HUBFORMS_ONLINE, &pf) == EXIT_DONE &&
	    (m = protobuf_c_message_unpack(pf->form->desc, NULL, r->form_data.len,
	                                   r->form_data.data)) != NULL) {
		k->answers[k->n_answers++] = m;
		known_add(k, m);
	}
	return EXIT_DONE;
}

/* Fetch stored client id's current record. */
static int known_client(struct cmd_ctx *ctx, const char *id, struct known *k)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetClient get = REFEX__GET_CLIENT__INIT;
	Refex__Response *resp;
	int rc;

	get.id = (char *)id;
	req.body_case = REFEX__REQUEST__BODY_GET_CLIENT;
	req.get_client = &get;
	rc = known_call(ctx, &req, REFEX__RESPONSE__BODY_CLIENT, k, &resp);
	if (rc == EXIT_DONE && resp != NULL && resp->client->record != NULL) {
		known_add(k, &resp->client->record->base);
	}
	return rc;
}

/* List the newest referrals of client id in the inbox (inbox) or sent list into *page. */
static int known_list(struct cmd_ctx *ctx, const char *id, int inbox, struct known *k,
                      const Refex__ReferralPage **page)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListReferrals list = REFEX__LIST_REFERRALS__INIT;
	Refex__Response *resp;
	int rc;

	list.client_id = (char *)id;
	list.has_limit = 1;
	list.limit = KNOWN_MAX - 2;
	req.body_case = inbox ? REFEX__REQUEST__BODY_LIST_INBOX : REFEX__REQUEST__BODY_LIST_SENT;
	req.list_inbox = req.list_sent = &list;
	rc = known_call(ctx, &req, REFEX__RESPONSE__BODY_PAGE, k, &resp);
	*page = rc == EXIT_DONE && resp != NULL ? resp->page : NULL;
	return rc;
}

/* Add the answers of client id's earlier referrals (sent and received), newest first. */
static int known_history(struct cmd_ctx *ctx, const char *id, const char *skip, struct known *k)
{
	const Refex__ReferralPage *in, *out;
	const Refex__Referral *r, *got;
	size_t i = 0, o = 0;
	int rc;

	if ((rc = known_list(ctx, id, 1, k, &in)) != EXIT_DONE ||
	    (rc = known_list(ctx, id, 0, k, &out)) != EXIT_DONE) {
		return rc;
	}
	while (rc == EXIT_DONE && k->n < KNOWN_MAX - 1 &&
	       ((in && i < in->n_referrals) || (out && o < out->n_referrals))) {
		bool take_in = in && i < in->n_referrals &&
		               (!out || o == out->n_referrals ||
		                in->referrals[i]->created_at >= out->referrals[o]->created_at);

		r = take_in ? in->referrals[i++] : out->referrals[o++];
		if (r->id != NULL && (skip == NULL || strcmp(r->id, skip) != 0)) {
			rc = known_referral(ctx, r->id, k, &got);
		}
	}
	return rc;
}

/* Fill the skeleton in from what is known (as the hub would for an onward referral): --from's
 * answers, the stored client's current record and its earlier referrals' answers, then --from's
 * client record. Returns an exit code. */
static int template_fill(struct cmd_ctx *ctx, const ProtobufCMessageDescriptor *desc,
                         const char *client_id, const char *from, json_t *skeleton)
{
	const Refex__Referral *parent = NULL;
	struct known k = {0};
	json_t *known, *v;
	const char *key;
	int rc = EXIT_DONE;

	if (from != NULL) {
		rc = known_referral(ctx, from, &k, &parent);
	}
	if (rc == EXIT_DONE && client_id != NULL &&
	    (rc = known_client(ctx, client_id, &k)) == EXIT_DONE) {
		rc = known_history(ctx, client_id, from, &k);
	}
	if (rc == EXIT_DONE && parent != NULL && parent->client != NULL) {
		known_add(&k, &parent->client->base);
	}
	if (rc == EXIT_DONE) {
		known = prefill(desc, NULL, k.src, k.n);
		json_object_foreach(known, key, v)
		{
			json_object_set(skeleton, key, v);
		}
		json_decref(known);
	}
	for (size_t i = 0; i < k.n_answers; i++) {
		protobuf_c_message_free_unpacked(k.answers[i], NULL);
	}
	for (size_t i = 0; i < k.n_resp; i++) {
		refex__response__free_unpacked(k.resp[i], NULL);
	}
	return rc;
}

/* Print a fill-in skeleton; offline, or filled in from --client-id and/or --from. */
static int cmd_template_exec(struct cmd_ctx *ctx, const struct args *args)
{
	const ProtobufCMessageDescriptor *desc;
	const struct hubform *hf;
	const char *name = args_operand(args, 0), *from = args_get(args, "from");
	const char *client_id = args_get(args, "client-id");
	json_t *skeleton;
	int rc;

	/* Without --from and --client-id the hub is needed only to learn the form. */
	if ((rc =
	         template_desc(ctx, name, from || client_id ? HUBFORMS_ONLINE : HUBFORMS_OFFLINE_OK,
	                       &desc, &hf)) != EXIT_DONE) {
		if (rc == EXIT_USAGE && ctx->forms) { /* the hub has no such form */
			fprintf(stderr, "refex: besides the hub's forms: client, consent\n");
		}
		return rc;
	}
	skeleton = pbjson_template(desc);
	if (hf) {
		template_label(skeleton, desc, hf);
	}
	if ((from != NULL || client_id != NULL) &&
	    (rc = template_fill(ctx, desc, client_id, from, skeleton)) != EXIT_DONE) {
		json_decref(skeleton);
		return rc;
	}
	if (output_json(skeleton) < 0) {
		fprintf(stderr, "refex: out of memory\n");
		return EXIT_REFUSED;
	}
	return EXIT_DONE;
}

const struct cmd_entry cmd_template_entry = {
    .name = "template",
    .usage = "FORM|client|consent [--client-id CLIENT_ID] [--from ID]",
    .summary = "print a fill-in JSON skeleton of a form, a client record or a consent",
    .args = {"from=ID client-id=ID", 1, 1, {"which form? give a form name, client or consent"}},
    .options = "  --client-id ID      fill the form in from stored client ID's current record\n"
               "                      and the answers in up to 14 of its referrals you sent\n"
               "                      or received, newest first (each read is audited, like\n"
               "                      refex client show and refex show)\n"
               "  --from ID           fill the form in from referral ID's answers and client\n"
               "                      record (alone: as `refex forward` would; reads ID: a\n"
               "                      show); with --client-id its answers come first\n",
    .notes = "Replace each \"<required ...>\" value; fill in or delete each \"<optional ...>\"\n"
             "one; each placeholder ends with the field's label (and help) from the form.\n"
             "Form names: see 'refex forms'. refex learns each form from the hub and keeps\n"
             "it in $XDG_CACHE_HOME/refex (default ~/.cache/refex), per hub; without\n"
             "--client-id and --from, a hub that cannot be reached is not needed for a form\n"
             "cached from it (refex says so). client and consent need no hub.\n",
    .exec = cmd_template_exec,
};
