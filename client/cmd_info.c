/* refex forms and refex partners: what the partnership has agreed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "hubforms.h"
#include "output.h"

/* Join a repeated string field with ", " into a new string ("" when empty). */
static char *join_list(char *const *items, size_t n)
{
	size_t i, len = 1;
	char *out;

	for (i = 0; i < n; i++) {
		len += strlen(items[i]) + 2;
	}
	if (!(out = malloc(len))) {
		return NULL;
	}
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i) {
			strcat(out, ", ");
		}
		strcat(out, items[i]);
	}
	return out;
}

/* Add row to t, its cell at last being items joined with ", " ("-" when there are none). */
static int add_row_with_list(struct table *t, const char **row, size_t last, char *const *items,
                             size_t n)
{
	char *joined = join_list(items, n);
	int rc;

	if (!joined) {
		return -1;
	}
	row[last] = *joined ? joined : NULL;
	rc = table_add(t, row);
	free(joined);
	return rc;
}

/* Print t and free it; a NULL t or rc < 0 means memory ran out while it was filled. */
static int print_and_free(struct table *t, int rc)
{
	if (!t || rc < 0) {
		table_free(t);
		return -1;
	}
	table_print(t, stdout, NULL);
	table_free(t);
	return 0;
}

/* Print the agreed forms as a table. */
static int print_forms(const Refex__FormList *fl)
{
	static const char *const headers[] = {"NAME", "VERSION", "TITLE", "ACCEPTED BY"};
	struct table *t = table_new(4, headers);
	char version[16];
	size_t i;
	int rc = 0;

	for (i = 0; t && rc == 0 && i < fl->n_forms; i++) {
		const Refex__FormInfo *f = fl->forms[i];
		const char *row[4] = {f->name, version, f->title, NULL};

		snprintf(version, sizeof(version), "%u", f->version);
		rc = add_row_with_list(t, row, 3, f->accepted_by, f->n_accepted_by);
	}
	return print_and_free(t, rc);
}

/* Print the partner agencies as a table. */
static int print_partners(const Refex__PartnerList *pl)
{
	static const char *const headers[] = {"ID", "NAME", "ACCEPTS"};
	struct table *t = table_new(3, headers);
	size_t i;
	int rc = 0;

	for (i = 0; t && rc == 0 && i < pl->n_partners; i++) {
		const Refex__Partner *p = pl->partners[i];
		const char *row[3] = {p->id, p->name, NULL};

		rc = add_row_with_list(t, row, 2, p->forms, p->n_forms);
	}
	return print_and_free(t, rc);
}

/* Say why a list could not be printed (printed: what the printer returned); returns rc. */
static int printed_or_say(int printed, int rc)
{
	if (printed < 0) {
		output_print_failure();
		return EXIT_REFUSED;
	}
	return rc;
}

/* List the agreed forms and who accepts each: the hub's list, cached while it is unchanged. */
static int cmd_forms_exec(struct cmd_ctx *ctx, const struct args *args)
{
	const Refex__FormList *list;
	int rc, json = args_has(args, "json") > 0;

	if (!(list = hubforms_list(ctx, &rc))) {
		return rc;
	}
	return printed_or_say(json ? output_message_json(&list->base, "forms") : print_forms(list),
	                      EXIT_DONE);
}

/* List the partner agencies and the forms each accepts. */
static int cmd_partners_exec(struct cmd_ctx *ctx, const struct args *args)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListPartners lp = REFEX__LIST_PARTNERS__INIT;
	Refex__Response *resp = NULL;
	int rc, json = args_has(args, "json") > 0;

	req.body_case = REFEX__REQUEST__BODY_LIST_PARTNERS;
	req.list_partners = &lp;
	if ((rc = cmd_call_expect(ctx, &req, REFEX__RESPONSE__BODY_PARTNERS, "list", &resp)) !=
	    EXIT_DONE) {
		return rc;
	}
	rc = printed_or_say(json ? output_message_json(&resp->partners->base, "partners")
	                         : print_partners(resp->partners),
	                    EXIT_DONE);
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

const struct cmd_entry cmd_forms_entry = {
    .name = "forms",
    .usage = "[--json]",
    .summary = "list the agreed forms and who accepts them",
    .args = {"json", 0, 0, {NULL}},
    .options = "  --json              print the list as JSON\n",
    .notes = "The forms are the hub's: refex learns each from the hub and caches it (see\n"
             "'refex template --help').\n",
    .exec = cmd_forms_exec,
};

const struct cmd_entry cmd_partners_entry = {
    .name = "partners",
    .usage = "[--json]",
    .summary = "list the partner agencies and the forms they accept",
    .args = {"json", 0, 0, {NULL}},
    .options = "  --json              print the list as JSON\n",
    .exec = cmd_partners_exec,
};
