/* The agreed forms: which are in force, who accepts each, and each version's schema. */
#include <stdlib.h>
#include <string.h>

#include "handlers_private.h"

#include "form.h"
#include "form_versions.h"
#include "schema.h"

/* The newest kept version of each retired form, in turn: start with i = 0; NULL at the end. */
static const struct form_kept *next_retired(const struct form_versions *k, size_t *i)
{
	for (; k != NULL && *i < k->n; (*i)++) {
		const struct form_kept *v = &k->v[*i];

		if (v->retired && (*i + 1 == k->n || strcmp(k->v[*i + 1].name, v->name) != 0)) {
			(*i)++;
			return v;
		}
	}
	return NULL;
}

/* Describe f in info, with the agencies of cfg that accept it (in *accepted, used so far). */
static void form_info(Refex__FormInfo *info, const struct form *f, bool retired,
                      const struct config *cfg, char **accepted, size_t *used)
{
	Refex__FormInfo init = REFEX__FORM_INFO__INIT;

	*info = init;
	info->name = (char *)f->name;
	info->has_version = 1;
	info->version = f->version;
	info->title = (char *)f->title;
	info->message_type = (char *)f->desc->name;
	info->has_retired = retired;
	info->retired = retired;
	info->accepted_by = &accepted[*used];
	for (size_t a = 0; !retired && a < cfg->n_agencies; a++) {
		if (agency_accepts(&cfg->agencies[a], f->name)) {
			accepted[(*used)++] = cfg->agencies[a].id;
			info->n_accepted_by++;
		}
	}
}

/* List the agreed forms and who accepts each (and, if asked, the retired ones). */
void handle_list_forms(struct request *rq, Refex__Request *msg)
{
	const struct config *cfg = rq->hub->cfg;
	const struct form_versions *kept = msg->list_forms->include_retired ? rq->hub->kept : NULL;
	size_t n = form_count() + (kept ? kept->n : 0);
	Refex__FormInfo *infos = calloc(n ? n : 1, sizeof(*infos));
	Refex__FormInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	char **accepted = calloc(form_count() * cfg->n_agencies + 1, sizeof(*accepted));
	Refex__FormList list = REFEX__FORM_LIST__INIT;
	Refex__Response r = REFEX__RESPONSE__INIT;
	const struct form_kept *k;
	size_t used = 0, i = 0;

	if (infos == NULL || ptrs == NULL || accepted == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL, "out of memory");
		goto done;
	}
	for (; list.n_forms < form_count(); list.n_forms++) {
		form_info(&infos[list.n_forms], form_at(list.n_forms), false, cfg, accepted, &used);
		ptrs[list.n_forms] = &infos[list.n_forms];
	}
	while ((k = next_retired(kept, &i)) != NULL) {
		form_info(&infos[list.n_forms], &k->form, true, cfg, accepted, &used);
		ptrs[list.n_forms] = &infos[list.n_forms];
		list.n_forms++;
	}
	list.forms = ptrs;
	r.body_case = REFEX__RESPONSE__BODY_FORMS;
	r.forms = &list;
	reply(rq, &r);
done:
	free(infos);
	free(ptrs);
	free(accepted);
}

/* Return the form in force called name, or answer why there is none. */
const struct form *request_live_form(struct request *rq, const char *name, const char *field)
{
	const struct form *f = is_blank(name) ? NULL : form_find(name);

	if (f == NULL && !is_blank(name) && form_versions_is_retired(rq->hub->kept, name)) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, field,
		            "form %s is retired: it takes no new referrals (those made on it stay "
		            "readable); choose a form in force (refex forms)",
		            name);
	} else if (f == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, field, "unknown form \"%s\"",
		            name ? name : "");
	}
	return f;
}

/* The kept version a GetFormSchema asks for: the one asked, else the one in force, else (a
 * retired form) its newest. */
static const struct form_kept *schema_asked(const struct hub *hub, const Refex__GetFormSchema *g)
{
	const struct form *live = form_find(g->form);

	if (g->has_version) {
		return form_versions_find(hub->kept, g->form, g->version);
	}
	if (live != NULL) {
		return form_versions_find(hub->kept, live->name, live->version);
	}
	return form_versions_newest(hub->kept, g->form);
}

/* Send the schema of a form, the version in force unless another is asked for. */
void handle_get_form_schema(struct request *rq, Refex__Request *msg)
{
	const Refex__GetFormSchema *g = msg->get_form_schema;
	const struct form_kept *k;
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__FormSchema fs = REFEX__FORM_SCHEMA__INIT;

	if (g->form == NULL || g->form[0] == '\0') {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "form", "form is required");
		return;
	}
	if (form_versions_newest(rq->hub->kept, g->form) == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "form",
		            "this hub has no form called that");
		return;
	}
	if ((k = schema_asked(rq->hub, g)) == NULL) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_NOT_FOUND, "version",
		            "this hub has no version %u of %s", g->version, g->form);
		return;
	}
	/* Every version is kept as exported (schema_form_export): what a client cached for it. */
	fs.form = k->name;
	fs.has_version = 1;
	fs.version = k->version;
	fs.title = (char *)k->form.title;
	fs.has_descriptor_set = 1;
	fs.descriptor_set.data = k->bytes;
	fs.descriptor_set.len = k->len;
	fs.has_retired = k->retired;
	fs.retired = k->retired;
	r.body_case = REFEX__RESPONSE__BODY_FORM_SCHEMA;
	r.form_schema = &fs;
	reply(rq, &r);
}
