/* The agreed forms: which are in force, who accepts each, and each version's schema. */
#include <stdlib.h>
#include <string.h>

#include "handlers_private.h"

#include "form.h"
#include "schema.h"

/* List the agreed forms and who accepts each. */
void handle_list_forms(struct request *rq, Refex__Request *msg)
{
	const struct config *cfg = rq->hub->cfg;
	size_t n = form_count();
	Refex__FormInfo *infos = calloc(n ? n : 1, sizeof(*infos));
	Refex__FormInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	char **accepted = calloc(n * cfg->n_agencies + 1, sizeof(*accepted));
	Refex__FormList list = REFEX__FORM_LIST__INIT;
	Refex__Response r = REFEX__RESPONSE__INIT;
	size_t used = 0;

	(void)msg;
	if (infos == NULL || ptrs == NULL || accepted == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const struct form *f = form_at(i);
		Refex__FormInfo init = REFEX__FORM_INFO__INIT;

		infos[i] = init;
		infos[i].name = (char *)f->name;
		infos[i].has_version = 1;
		infos[i].version = f->version;
		infos[i].title = (char *)f->title;
		infos[i].message_type = (char *)f->desc->name;
		infos[i].accepted_by = &accepted[used];
		for (size_t a = 0; a < cfg->n_agencies; a++) {
			if (agency_accepts(&cfg->agencies[a], f->name)) {
				accepted[used++] = cfg->agencies[a].id;
				infos[i].n_accepted_by++;
			}
		}
		ptrs[i] = &infos[i];
	}
	list.n_forms = n;
	list.forms = ptrs;
	r.body_case = REFEX__RESPONSE__BODY_FORMS;
	r.forms = &list;
	reply(rq, &r);
done:
	free(infos);
	free(ptrs);
	free(accepted);
}

/* Send the schema of a form, the version in force unless another is asked for. */
void handle_get_form_schema(struct request *rq, Refex__Request *msg)
{
	const Refex__GetFormSchema *g = msg->get_form_schema;
	const struct form_set *set = rq->hub->forms;
	const struct schema_form *sf = set ? schema_form_find(set->schema, g->form) : NULL;
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__FormSchema fs = REFEX__FORM_SCHEMA__INIT;
	uint8_t *bytes;
	size_t len;

	if (g->form == NULL || g->form[0] == '\0') {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "form", "form is required");
		return;
	}
	if (sf == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "form",
		            "this hub has no form called that");
		return;
	}
	if (g->has_version && g->version != sf->version) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "version",
		            "this hub has no version %u of %s", g->version, sf->name);
		return;
	}
	if ((bytes = schema_form_export(set->schema, sf, &len)) == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		return;
	}
	fs.form = (char *)sf->name;
	fs.has_version = 1;
	fs.version = sf->version;
	fs.title = (char *)sf->title;
	fs.has_descriptor_set = 1;
	fs.descriptor_set.data = bytes;
	fs.descriptor_set.len = len;
	r.body_case = REFEX__RESPONSE__BODY_FORM_SCHEMA;
	r.form_schema = &fs;
	reply(rq, &r);
	free(bytes);
}
