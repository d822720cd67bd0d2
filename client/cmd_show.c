/* refex show: one referral for people (or as JSON): client, consent, answers, history. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.pb-c.h"
#include "cmd.h"
#include "hubforms.h"
#include "output.h"
#include "pbenum.h"
#include "pbjson.h"
#include "show.h"

#define LABEL_WIDTH 26

/* Print "  label  value" with labels aligned; nothing when value is empty. */
void show_field(const char *label, const char *value)
{
	if (!value || !*value) {
		return;
	}
	printf("  %-*s", LABEL_WIDTH, label);
	output_text(stdout, value);
	putchar('\n');
}

/* Print the "erased" line of a client record erased at t. */
void show_client_erased(int64_t t, const char *by, const char *reason)
{
	char buf[512], when[32];

	output_time(t, when, sizeof(when));
	snprintf(buf, sizeof(buf), "client record erased on %s by %s%s%s%s", when,
	         by ? by : "its owner", reason ? " (" : "", reason ? reason : "",
	         reason ? ")" : "");
	show_field("erased", buf);
}

/* Print the "consent" line of a client whose consent was withdrawn at t. */
void show_consent_withdrawn(int64_t t)
{
	char buf[128], when[32];

	output_time(t, when, sizeof(when));
	snprintf(buf, sizeof(buf),
	         "consent withdrawn on %s: the client's record may not be shared further", when);
	show_field("consent", buf);
}

static const char *yes_no(int has, int value)
{
	return has ? (value ? "yes" : "no") : "not recorded";
}

static const char *contact_name(Refex__ContactMethod m)
{
	switch (m) {
	case REFEX__CONTACT_METHOD__CONTACT_PHONE:
		return "phone";
	case REFEX__CONTACT_METHOD__CONTACT_TEXT:
		return "text message";
	case REFEX__CONTACT_METHOD__CONTACT_EMAIL:
		return "email";
	case REFEX__CONTACT_METHOD__CONTACT_POST:
		return "post";
	case REFEX__CONTACT_METHOD__CONTACT_IN_PERSON:
		return "in person";
	case REFEX__CONTACT_METHOD__CONTACT_VIA_REFERRER:
		return "only through the referring agency";
	default:
		return NULL;
	}
}

/* Return how consent was given in words, written into buf, or NULL. */
const char *show_consent_method(Refex__ConsentMethod m, char *buf, size_t len)
{
	/* The one name not derived from the enum: it says what the value means. */
	if (m == REFEX__CONSENT_METHOD__CONSENT_OTHER_BASIS) {
		return "not consent: another lawful basis (see purpose)";
	}
	return m ? pbenum_name(&refex__consent_method__descriptor, (int)m, '-', buf, len) : NULL;
}

/* Join strings with sep into buf (truncating quietly: this is for display). */
static const char *join(char *buf, size_t len, const char *sep, char *const *parts, size_t n)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < n && used < len; i++) {
		if (!parts[i] || !*parts[i]) {
			continue;
		}
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? sep : "", parts[i]);
	}
	return buf;
}

/* "agency (holder)", or just the agency. */
static const char *who(char *buf, size_t len, const char *agency, const char *holder)
{
	if (holder && *holder) {
		snprintf(buf, len, "%s (%s)", agency ? agency : "-", holder);
	} else {
		snprintf(buf, len, "%s", agency ? agency : "-");
	}
	return buf;
}

/* "Title (name, version N)" of a form version, its title from hf where known. */
static const char *form_words(char *buf, size_t len, const char *name, uint32_t version,
                              const struct hubform *hf)
{
	if (hf) {
		snprintf(buf, len, "%s (%s, version %u)", hf->form->title, hf->form->name, version);
	} else {
		snprintf(buf, len, "%s (version %u)", name ? name : "-", version);
	}
	return buf;
}

/* Print where the client went next: agency, form, state and dates of each onward referral (a
 * hub that sends no summaries: their ids). */
static void print_onward(struct cmd_ctx *ctx, const Refex__Referral *r)
{
	char buf[768], form[400], sent[32], updated[32];

	if (r->n_onward == 0 && r->n_child_ids > 0) {
		show_field("forwarded as",
		           join(buf, sizeof(buf), ", ", r->child_ids, r->n_child_ids));
	}
	for (size_t i = 0; i < r->n_onward; i++) {
		const Refex__Referral__Onward *o = r->onward[i];

		snprintf(
		    buf, sizeof(buf), "%s to %s: %s, %s (sent %s, updated %s)", o->id ? o->id : "-",
		    o->recipient ? o->recipient : "-",
		    form_words(form, sizeof(form), o->form, o->form_version,
		               hubforms_find_quiet(ctx, o->form, o->form_version)),
		    o->has_state ? output_state_name(o->state) : "-",
		    output_time(o->has_created_at ? o->created_at : 0, sent, sizeof(sent)),
		    output_time(o->has_updated_at ? o->updated_at : 0, updated, sizeof(updated)));
		show_field("forwarded as", buf);
	}
}

static void print_header(struct cmd_ctx *ctx, const Refex__Referral *r, const struct hubform *hf)
{
	char buf[512], when[32];

	printf("Referral\n");
	show_field("id", r->id);
	show_field("from", who(buf, sizeof(buf), r->sender, r->sender_holder));
	show_field("to", r->recipient);
	show_field("form", form_words(buf, sizeof(buf), r->form, r->form_version, hf));
	show_field("state", r->has_state ? output_state_name(r->state) : NULL);
	show_field("created",
	           output_time(r->has_created_at ? r->created_at : 0, when, sizeof(when)));
	show_field("updated",
	           output_time(r->has_updated_at ? r->updated_at : 0, when, sizeof(when)));
	if (r->has_due_at && r->due_at > 0) {
		output_time(r->due_at, when, sizeof(when));
		snprintf(buf, sizeof(buf), "%s%s", when,
		         r->has_overdue && r->overdue ? " (overdue)" : "");
		show_field("due by", buf);
	}
	if (r->client_id) {
		snprintf(buf, sizeof(buf), "%s (version %u; refex client show %s)", r->client_id,
		         r->client_version, r->client_id);
		show_field("stored client", buf);
	}
	if (r->has_client_erased_at) {
		show_client_erased(r->client_erased_at, r->client_erased_by, NULL);
	}
	if (r->has_consent_withdrawn_at) {
		show_consent_withdrawn(r->consent_withdrawn_at);
	}
	if (r->parent_id != NULL) {
		show_field("forwarded from", r->parent_id);
	}
	print_onward(ctx, r);
	if (r->has_purged_at && r->purged_at > 0) {
		output_time(r->purged_at, when, sizeof(when));
		snprintf(buf, sizeof(buf),
		         "%s: client, consent, answers and reasons removed (retention policy)",
		         when);
		show_field("erased", buf);
	}
}

/* Print a client record under the heading "Client". */
void show_client_record(const Refex__ClientRecord *c)
{
	char buf[1024], name[512];
	char *names[2], *addr[4];

	printf("\nClient\n");
	names[0] = c->given_name;
	names[1] = c->family_name;
	join(name, sizeof(name), " ", names, 2);
	if (c->preferred_name && *c->preferred_name) {
		snprintf(buf, sizeof(buf), "%s (known as %s)", name, c->preferred_name);
	} else {
		snprintf(buf, sizeof(buf), "%s", name);
	}
	show_field("name", buf);
	show_field("pronouns", c->pronouns);
	show_field("date of birth", c->date_of_birth);
	show_field("phone", c->phone);
	show_field("email", c->email);
	if (c->address) {
		addr[0] = c->address->line1;
		addr[1] = c->address->line2;
		addr[2] = c->address->town;
		addr[3] = c->address->postcode;
		show_field("address", join(buf, sizeof(buf), ", ", addr, 4));
	}
	show_field("preferred contact",
	           c->has_preferred_contact ? contact_name(c->preferred_contact) : NULL);
	if (c->preferred_language && *c->preferred_language) {
		snprintf(buf, sizeof(buf), "%s%s", c->preferred_language,
		         c->has_interpreter_needed && c->interpreter_needed
		             ? " (interpreter needed)"
		             : "");
		show_field("language", buf);
	} else if (c->has_interpreter_needed) {
		show_field("interpreter needed", yes_no(1, c->interpreter_needed));
	}
	show_field("access needs",
	           join(buf, sizeof(buf), "; ", c->access_needs, c->n_access_needs));
	show_field("safe to leave a message",
	           yes_no(c->has_safe_to_leave_message, c->safe_to_leave_message));
	show_field("safe to send post", yes_no(c->has_safe_to_send_post, c->safe_to_send_post));
	show_field("safety notes", c->safety_notes);
}

static void print_consent(const Refex__Consent *c)
{
	char buf[512], by[300], when[32], method[PBENUM_NAME_MAX];

	printf("\nConsent\n");
	if (!c) {
		show_field("consent", "none recorded");
		return;
	}
	show_field("to", c->to_agency);
	show_field("purpose", c->purpose);
	show_field("method", show_consent_method(c->method, method, sizeof(method)));
	show_field("given on", c->given_on);
	if (c->recorded_agency || c->recorded_by) {
		who(by, sizeof(by), c->recorded_agency, c->recorded_by);
		if (c->has_recorded_at) {
			snprintf(buf, sizeof(buf), "%s on %s", by,
			         output_time(c->recorded_at, when, sizeof(when)));
		} else {
			snprintf(buf, sizeof(buf), "%s", by);
		}
		show_field("recorded by", buf);
	}
}

/* Print the label of member key: the form's label for its field f (when known), else the
 * JSON name made readable ("dateAtRisk" -> "date at risk"). */
static void print_label(const char *key, const struct schema_field *f, int indent, int pad)
{
	if (pad) {
		printf("%*s", indent, "");
	}
	if (f) {
		output_text(stdout, f->label);
		key = "";
	}
	for (; *key; key++) {
		if (isupper((unsigned char)*key)) {
			putchar(' ');
			putchar(tolower((unsigned char)*key));
		} else {
			putchar(*key == '_' ? ' ' : *key);
		}
	}
	putchar(':');
}

/* The message an object of the answers is (desc, NULL: not known), and its form. */
struct answers_at {
	const ProtobufCMessageDescriptor *desc;
	const struct hubform *hf;
};

/* Return the field of at.desc whose JSON name is key, or NULL. */
static const ProtobufCFieldDescriptor *field_of(struct answers_at at, const char *key)
{
	char name[PBJSON_NAME_CAP];

	for (unsigned i = 0; at.desc && i < at.desc->n_fields; i++) {
		pbjson_json_name(at.desc->fields[i].name, name);
		if (strcmp(name, key) == 0) {
			return &at.desc->fields[i];
		}
	}
	return NULL;
}

static void print_scalar(const json_t *v)
{
	if (json_is_string(v)) {
		output_text(stdout, json_string_value(v));
	} else if (json_is_true(v)) {
		fputs("yes", stdout);
	} else if (json_is_false(v)) {
		fputs("no", stdout);
	} else if (json_is_integer(v)) {
		printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_real(v)) {
		printf("%g", json_real_value(v));
	}
}

static int is_scalar_array(const json_t *a)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
	{
		if (json_is_object(v) || json_is_array(v)) {
			return 0;
		}
	}
	return 1;
}

static void print_object(const json_t *obj, struct answers_at at, int indent, int bullet);

/* Print one key: value, nesting objects and lists of objects below the key. */
static void print_member(const char *key, const json_t *v, struct answers_at at, int indent,
                         int pad)
{
	const ProtobufCFieldDescriptor *f = field_of(at, key);
	struct answers_at below = {NULL, at.hf};
	size_t i;
	json_t *e;

	if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
		below.desc = f->descriptor;
	}
	print_label(key, f ? hubforms_field(at.hf, at.desc, f) : NULL, indent, pad);
	if (json_is_object(v)) {
		putchar('\n');
		print_object(v, below, indent + 2, 0);
	} else if (json_is_array(v) && !is_scalar_array(v)) {
		putchar('\n');
		json_array_foreach(v, i, e)
		{
			print_object(e, below, indent + 2, 1);
		}
	} else if (json_is_array(v)) {
		putchar(' ');
		json_array_foreach(v, i, e)
		{
			if (i) {
				fputs(", ", stdout);
			}
			print_scalar(e);
		}
		putchar('\n');
	} else {
		putchar(' ');
		print_scalar(v);
		putchar('\n');
	}
}

/* Print an object's members (of message at.desc); as a list item ("- ") when bullet. */
static void print_object(const json_t *obj, struct answers_at at, int indent, int bullet)
{
	const char *key;
	json_t *v;
	int first = 1;

	if (!json_is_object(obj)) {
		printf("%*s- ", indent, "");
		print_scalar(obj);
		putchar('\n');
		return;
	}
	json_object_foreach((json_t *)obj, key, v)
	{
		if (bullet && first) {
			printf("%*s- ", indent, "");
			print_member(key, v, at, indent + 2, 0);
		} else {
			print_member(key, v, at, indent + (bullet ? 2 : 0), 1);
		}
		first = 0;
	}
	if (bullet && first) {
		printf("%*s- (empty)\n", indent, "");
	}
}

/* Decode the form answers as JSON with hf (the version the referral recorded), or NULL. */
static json_t *decode_answers(const Refex__Referral *r, const struct hubform *hf)
{
	ProtobufCMessage *msg;
	json_t *json;

	if (!hf || !r->has_form_data) {
		return NULL;
	}
	msg = protobuf_c_message_unpack(hf->form->desc, NULL, r->form_data.len, r->form_data.data);
	if (!msg) {
		return NULL;
	}
	json = pbjson_encode(msg);
	protobuf_c_message_free_unpacked(msg, NULL);
	return json;
}

static void print_answers(const Refex__Referral *r, const struct hubform *hf)
{
	json_t *answers = decode_answers(r, hf);

	printf("\nAnswers\n");
	if (answers) {
		print_object(answers, (struct answers_at){hf->form->desc, hf}, 2, 0);
		json_decref(answers);
	} else if (r->has_form_data) {
		printf("  (%zu bytes refex cannot read as form '", r->form_data.len);
		output_text(stdout, r->form ? r->form : "");
		printf("' version %u)\n", r->form_version);
	} else {
		printf("  (none)\n");
	}
}

static int print_history(const Refex__Referral *r)
{
	struct table *t = table_new(4, NULL);
	char when[32], step[64], by[300];
	size_t i;

	if (!t) {
		return -1;
	}
	for (i = 0; i < r->n_history; i++) {
		const Refex__StatusChange *h = r->history[i];
		const char *row[4];

		if (h->has_from && h->from != REFEX__STATE__STATE_UNSPECIFIED) {
			snprintf(step, sizeof(step), "%s -> %s", output_state_name(h->from),
			         output_state_name(h->to));
		} else {
			snprintf(step, sizeof(step), "%s", output_state_name(h->to));
		}
		row[0] = output_time(h->has_at ? h->at : 0, when, sizeof(when));
		row[1] = step;
		row[2] = who(by, sizeof(by), h->agency, h->holder);
		row[3] = h->reason ? h->reason : "";
		if (table_add(t, row) < 0) {
			table_free(t);
			return -1;
		}
	}
	printf("\nHistory\n");
	table_print(t, stdout, "  ");
	table_free(t);
	return 0;
}

/* Print the referral for people, its answers read with hf. */
static int print_human(struct cmd_ctx *ctx, const Refex__Referral *r, const struct hubform *hf)
{
	print_header(ctx, r, hf);
	if (r->client) {
		show_client_record(r->client);
	}
	print_consent(r->consent);
	print_answers(r, hf);
	return print_history(r);
}

/* Print the referral as canonical JSON with the form answers decoded with hf. */
static int print_json(const Refex__Referral *r, const struct hubform *hf)
{
	json_t *json = pbjson_encode(&r->base), *answers;

	if (!json) {
		return -1;
	}
	if ((answers = decode_answers(r, hf))) {
		json_object_set_new(json, "formData", answers);
	}
	return output_json(json);
}

/* Show one referral. */
static int cmd_show_exec(struct cmd_ctx *ctx, const struct args *args)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetReferral get = REFEX__GET_REFERRAL__INIT;
	Refex__Response *resp = NULL;
	const struct hubform *hf = NULL;
	const Refex__Referral *r;
	int rc, json = args_has(args, "json") > 0;

	get.id = (char *)args_operand(args, 0);
	req.body_case = REFEX__REQUEST__BODY_GET;
	req.get = &get;
	if ((rc = cmd_call(ctx, &req, &resp)) != EXIT_DONE) {
		return rc;
	}
	if (resp->body_case != REFEX__RESPONSE__BODY_REFERRAL) {
		fprintf(stderr, "refex: the server's reply has no referral\n");
		rc = EXIT_CONNECT;
		goto done;
	}
	/* The answers are read with the version of the form the referral recorded (fetched
	 * once when not cached); without it the referral is shown all the same. */
	r = resp->referral;
	if (r->form && (r->has_form_data || r->has_form_version)) {
		hubforms_get(ctx, r->form, r->form_version, HUBFORMS_ONLINE, &hf);
	}
	if ((json ? print_json(r, hf) : print_human(ctx, r, hf)) < 0) {
		output_print_failure();
		rc = EXIT_REFUSED;
	}
done:
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

const struct cmd_entry cmd_show_entry = {
    .name = "show",
    .usage = "ID [--json]",
    .summary = "show a referral: client, consent, answers and history",
    .args = {"json", 1, 1, {"which referral? give its ID"}},
    .options = "  --json              print the referral as JSON, form answers decoded\n",
    .notes = "Showing a referral in your inbox for the first time marks it received.\n",
    .exec = cmd_show_exec,
};
