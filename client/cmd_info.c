/* refex forms and refex partners: what the partnership has agreed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "pbjson.h"

/* Parse [--json] and no arguments; returns -1 to carry on, else an exit code. */
static int parse_json_flag(struct cmd_ctx *ctx, int argc, char **argv, int *json)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    CMD_GLOBAL_OPTIONS,
	    {0},
	};
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j')
			*json = 1;
		else if ((rc = cmd_common_option(ctx, c, optarg)) >= 0)
			return rc;
	}
	if (optind < argc)
		return cmd_usage_error(ctx, "unexpected argument '%s'", argv[optind]);
	return -1;
}

/* Join a repeated string field with ", " into a new string ("" when empty). */
static char *join_list(char *const *items, size_t n)
{
	size_t i, len = 1;
	char *out;

	for (i = 0; i < n; i++)
		len += strlen(items[i]) + 2;
	if (!(out = malloc(len)))
		return NULL;
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i)
			strcat(out, ", ");
		strcat(out, items[i]);
	}
	return out;
}

/* Print a JSON object of msg with an empty array for an empty list called key. */
static int print_json(const ProtobufCMessage *msg, const char *key)
{
	json_t *json = pbjson_encode(msg);

	if (!json)
		return -1;
	if (!json_object_get(json, key))
		json_object_set_new(json, key, json_array());
	return output_json(json);
}

static int print_forms(const Refex__FormList *fl)
{
	static const char *const headers[] = {"NAME", "VERSION", "TITLE", "ACCEPTED BY"};
	struct table *t = table_new(4, headers);
	char version[16];
	size_t i;
	int rc = 0;

	for (i = 0; t && rc == 0 && i < fl->n_forms; i++) {
		const Refex__FormInfo *f = fl->forms[i];
		char *by = join_list(f->accepted_by, f->n_accepted_by);
		const char *row[4] = {f->name, version, f->title, by && *by ? by : NULL};

		snprintf(version, sizeof(version), "%u", f->version);
		rc = by ? table_add(t, row) : -1;
		free(by);
	}
	if (!t || rc < 0) {
		table_free(t);
		return -1;
	}
	table_print(t, stdout, NULL);
	table_free(t);
	return 0;
}

static int print_partners(const Refex__PartnerList *pl)
{
	static const char *const headers[] = {"ID", "NAME", "ACCEPTS"};
	struct table *t = table_new(3, headers);
	size_t i;
	int rc = 0;

	for (i = 0; t && rc == 0 && i < pl->n_partners; i++) {
		const Refex__Partner *p = pl->partners[i];
		char *forms = join_list(p->forms, p->n_forms);
		const char *row[3] = {p->id, p->name, forms && *forms ? forms : NULL};

		rc = forms ? table_add(t, row) : -1;
		free(forms);
	}
	if (!t || rc < 0) {
		table_free(t);
		return -1;
	}
	table_print(t, stdout, NULL);
	table_free(t);
	return 0;
}

/* Ask for one list and print it; body says which. */
static int run_info(struct cmd_ctx *ctx, int argc, char **argv, Refex__Request__BodyCase body)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListForms lf = REFEX__LIST_FORMS__INIT;
	Refex__ListPartners lp = REFEX__LIST_PARTNERS__INIT;
	Refex__Response *resp = NULL;
	int rc, json = 0, printed;

	if ((rc = parse_json_flag(ctx, argc, argv, &json)) >= 0)
		return rc;
	req.body_case = body;
	if (body == REFEX__REQUEST__BODY_LIST_FORMS)
		req.list_forms = &lf;
	else
		req.list_partners = &lp;
	if ((rc = cmd_call(ctx, &req, &resp)) != EXIT_DONE)
		return rc;
	if (resp->body_case == REFEX__RESPONSE__BODY_FORMS)
		printed = json ? print_json(&resp->forms->base, "forms") : print_forms(resp->forms);
	else if (resp->body_case == REFEX__RESPONSE__BODY_PARTNERS)
		printed = json ? print_json(&resp->partners->base, "partners")
		               : print_partners(resp->partners);
	else
		printed = -2;
	if (printed == -2) {
		fprintf(stderr, "refex: the server's reply has no list\n");
		rc = EXIT_CONNECT;
	} else if (printed < 0) {
		fprintf(stderr, "refex: out of memory\n");
		rc = EXIT_REFUSED;
	}
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

/* List the agreed forms and who accepts each. */
int cmd_forms(struct cmd_ctx *ctx, int argc, char **argv)
{
	return run_info(ctx, argc, argv, REFEX__REQUEST__BODY_LIST_FORMS);
}

/* List the partner agencies and the forms each accepts. */
int cmd_partners(struct cmd_ctx *ctx, int argc, char **argv)
{
	return run_info(ctx, argc, argv, REFEX__REQUEST__BODY_LIST_PARTNERS);
}
