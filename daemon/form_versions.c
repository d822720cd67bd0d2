/* Form versions kept: load them, compare the forms directory with them, record what changed. */
#include "form_versions.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forms_dir.h"
#include "schema.h"
#include "schema_compat.h"

static int kept_order(const void *a, const void *b)
{
	const struct form_kept *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : (x->version > y->version) - (x->version < y->version);
}

/* Load one stored row into kv; -1 with err naming it. */
static int kept_load(struct form_kept *kv, const struct store_form_version *r, char *err,
                     size_t errlen)
{
	struct schema_error serr;

	kv->version = r->version;
	kv->retired = r->retired_at != 0;
	kv->len = r->schema_len;
	if (!(kv->name = strdup(r->form)) ||
	    !(kv->bytes = malloc(r->schema_len ? r->schema_len : 1))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(kv->bytes, r->schema, r->schema_len);
	if (!(kv->schema = schema_load(kv->bytes, kv->len, &serr))) {
		snprintf(err, errlen, "version %u of form %s in the database does not load: %s",
		         r->version, r->form, serr.message);
		return -1;
	}
	kv->sf = schema_form_find(kv->schema, r->form);
	if (kv->sf == NULL || kv->sf->version != r->version) {
		snprintf(err, errlen, "version %u of form %s in the database holds no such form",
		         r->version, r->form);
		return -1;
	}
	kv->form =
	    (struct form){kv->sf->name, kv->sf->version, kv->sf->title, kv->sf->desc, kv->schema};
	return 0;
}

/* Load the stored rows into a kept set. */
struct form_versions *form_versions_load(const struct store_form_version *rows, size_t n, char *err,
                                         size_t errlen)
{
	struct form_versions *k = calloc(1, sizeof(*k));

	if (k == NULL || (k->v = calloc(n ? n : 1, sizeof(*k->v))) == NULL) {
		free(k);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (; k->n < n; k->n++) {
		if (kept_load(&k->v[k->n], &rows[k->n], err, errlen) < 0) {
			k->n++;
			form_versions_free(k);
			return NULL;
		}
	}
	qsort(k->v, k->n, sizeof(*k->v), kept_order);
	return k;
}

/* Free a kept set. */
void form_versions_free(struct form_versions *k)
{
	for (size_t i = 0; k != NULL && i < k->n; i++) {
		free(k->v[i].name);
		free(k->v[i].bytes);
		schema_free(k->v[i].schema);
	}
	if (k != NULL) {
		free(k->v);
	}
	free(k);
}

/* Return version `version` of form name as k keeps it. */
const struct form_kept *form_versions_find(const struct form_versions *k, const char *name,
                                           uint32_t version)
{
	for (size_t i = 0; k != NULL && name != NULL && i < k->n; i++) {
		if (k->v[i].version == version && strcmp(k->v[i].name, name) == 0) {
			return &k->v[i];
		}
	}
	return NULL;
}

/* Return the newest kept version of form name. */
const struct form_kept *form_versions_newest(const struct form_versions *k, const char *name)
{
	const struct form_kept *newest = NULL;

	for (size_t i = 0; k != NULL && name != NULL && i < k->n; i++) {
		if (strcmp(k->v[i].name, name) == 0) {
			newest = &k->v[i]; /* in version order */
		}
	}
	return newest;
}

/* Say whether form name is kept and retired. */
bool form_versions_is_retired(const struct form_versions *k, const char *name)
{
	const struct form_kept *newest = form_versions_newest(k, name);

	return newest != NULL && newest->retired;
}

/* ---- the plan ---- */

static struct form_plan_item *plan_add(struct form_plan *plan, enum form_change change,
                                       const char *name, uint32_t version, uint32_t kept)
{
	struct form_plan_item *it = &plan->items[plan->n++];

	memset(it, 0, sizeof(*it));
	it->change = change;
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->version = version;
	it->kept = kept;
	return it;
}

static void plan_refuse(struct form_plan *plan, struct form_plan_item *it, const char *field,
                        const char *reason)
{
	it->change = FORM_REFUSED;
	snprintf(it->field, sizeof(it->field), "%s", field);
	snprintf(it->reason, sizeof(it->reason), "%s", reason);
	plan->refused++;
}

/* The directory holds the newest kept version again: it must be the same schema. */
static void plan_same_version(struct form_plan *plan, struct form_plan_item *it,
                              const struct form_kept *kn, const struct schema *s,
                              const struct schema_form *sf, const uint8_t *bytes, size_t len)
{
	struct schema_compat_problem p;
	char reason[sizeof(it->reason)];

	if (len == kn->len && memcmp(bytes, kn->bytes, len) == 0) {
		it->change = kn->retired ? FORM_REVIVED : FORM_UNCHANGED;
		return;
	}
	schema_compat_diff(kn->schema, kn->sf, s, sf, &p);
	snprintf(reason, sizeof(reason),
	         "%.300s, but version %u was accepted before and a version never changes: number "
	         "this one %u",
	         p.reason, kn->version, kn->version + 1);
	plan_refuse(plan, it, p.field, reason);
}

/* A version above the newest kept: check it against every kept version of the form. */
static void plan_new_version(struct form_plan *plan, struct form_plan_item *it,
                             const struct form_versions *k, const struct form_kept *kn,
                             const struct schema *s, const struct schema_form *sf)
{
	struct schema_compat_problem p;

	for (size_t i = 0; i < k->n; i++) {
		if (strcmp(k->v[i].name, sf->name) == 0 &&
		    schema_compat_check(k->v[i].schema, k->v[i].sf, s, sf, &p) < 0) {
			plan_refuse(plan, it, p.field, p.reason);
			return;
		}
	}
	it->change = kn->retired ? FORM_REVIVED : FORM_NEW_VERSION;
	it->also_new_version = kn->retired;
}

/* Plan one form of the directory. */
static int plan_form(struct form_plan *plan, const struct form_versions *k, const struct schema *s,
                     const struct schema_form *sf)
{
	const struct form_kept *kn = form_versions_newest(k, sf->name);
	struct form_plan_item *it =
	    plan_add(plan, FORM_NEW, sf->name, sf->version, kn ? kn->version : 0);
	char reason[sizeof(it->reason)];
	uint8_t *bytes;
	size_t len;

	if (kn == NULL) {
		return 0;
	}
	if (sf->version < kn->version) {
		snprintf(reason, sizeof(reason),
		         "version %u is below version %u, which was accepted before: versions only "
		         "go up; number this one %u",
		         sf->version, kn->version, kn->version + 1);
		plan_refuse(plan, it, "", reason);
		return 0;
	}
	if (sf->version > kn->version) {
		plan_new_version(plan, it, k, kn, s, sf);
		return 0;
	}
	if ((bytes = schema_form_export(s, sf, &len)) == NULL) {
		return -1;
	}
	plan_same_version(plan, it, kn, s, sf, bytes, len);
	free(bytes);
	return 0;
}

/* Compare set (the forms directory) with k into plan. */
int form_versions_plan(const struct form_versions *k, const struct form_set *set,
                       struct form_plan *plan)
{
	const struct schema *s = set->schema;
	size_t n = schema_form_count(s);

	memset(plan, 0, sizeof(*plan));
	if ((plan->items = calloc(n + (k ? k->n : 0) + 1, sizeof(*plan->items))) == NULL) {
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (plan_form(plan, k, s, schema_form_at(s, i)) < 0) {
			form_plan_free(plan);
			return -1;
		}
	}
	for (size_t i = 0; k != NULL && i < k->n; i++) {
		const struct form_kept *kv = &k->v[i];

		/* Once per form: its newest version, the last of its run. */
		if ((i + 1 < k->n && strcmp(k->v[i + 1].name, kv->name) == 0) ||
		    schema_form_find(s, kv->name) != NULL) {
			continue;
		}
		plan_add(plan, kv->retired ? FORM_RETIRED : FORM_RETIRING, kv->name, kv->version,
		         kv->version);
	}
	return 0;
}

/* Free what form_versions_plan put in plan. */
void form_plan_free(struct form_plan *plan)
{
	free(plan->items);
	memset(plan, 0, sizeof(*plan));
}

/* Write one refusal as "form F version V: field X: reason" into out. */
static void refusal_text(const struct form_plan_item *it, char *out, size_t len)
{
	snprintf(out, len, "form %s version %u: %s%s%s%s", it->name, it->version,
	         it->field[0] ? "field " : "", it->field, it->field[0] ? ": " : "", it->reason);
}

/* Write plan to out, one line per form. */
void form_plan_print(const struct form_plan *plan, FILE *out)
{
	char text[1024];

	for (size_t i = 0; i < plan->n; i++) {
		const struct form_plan_item *it = &plan->items[i];

		switch (it->change) {
		case FORM_UNCHANGED:
			fprintf(out, "unchanged: form %s version %u\n", it->name, it->version);
			break;
		case FORM_NEW:
			fprintf(out, "new form: %s version %u\n", it->name, it->version);
			break;
		case FORM_NEW_VERSION:
			fprintf(out, "new version: form %s version %u (was %u)\n", it->name,
			        it->version, it->kept);
			break;
		case FORM_REVIVED:
			fprintf(out, "back in force: form %s version %u%s (retired until now)\n",
			        it->name, it->version,
			        it->also_new_version ? ", a new version" : "");
			break;
		case FORM_RETIRING:
			fprintf(
			    out,
			    "would be retired: form %s (no longer in the directory: no new "
			    "referrals; its referrals and its versions up to %u stay readable)\n",
			    it->name, it->version);
			break;
		case FORM_RETIRED:
			fprintf(out, "retired: form %s (versions up to %u stay readable)\n",
			        it->name, it->version);
			break;
		case FORM_REFUSED:
			refusal_text(it, text, sizeof(text));
			fprintf(out, "refused: %s\n", text);
			break;
		}
	}
}

/* Put the first refusal of plan in err. */
int form_plan_refusal(const struct form_plan *plan, char *err, size_t errlen)
{
	for (size_t i = 0; i < plan->n; i++) {
		if (plan->items[i].change == FORM_REFUSED) {
			refusal_text(&plan->items[i], err, errlen);
			return -1;
		}
	}
	return 0;
}

/* ---- recording ---- */

/* What a sync records, and the rows of the kept set it leads to. */
struct sync_work {
	struct store_form_version *rows; /* the stored ones, then the added ones */
	size_t n_rows, n_stored;
	const char **retire, **revive;
	struct store_forms_change change;
	struct form_plan plan; /* retire and revive point at its names until the write is done */
};

static void sync_work_free(struct sync_work *w)
{
	for (size_t i = w->n_stored; i < w->n_rows; i++) {
		free(w->rows[i].schema); /* exported here; form names belong to the set */
	}
	for (size_t i = w->n_stored; i < w->n_rows; i++) {
		w->rows[i].schema = NULL;
		w->rows[i].form = NULL;
	}
	store_form_versions_free(w->rows, w->n_stored);
	free(w->retire);
	free(w->revive);
	form_plan_free(&w->plan);
}

/* Turn plan into rows to add and forms to retire or revive; -1: out of memory. */
static int sync_work_fill(struct sync_work *w, const struct form_plan *plan,
                          const struct form_set *set, int64_t now)
{
	struct store_form_version *grown =
	    realloc(w->rows, (w->n_rows + plan->n + 1) * sizeof(*grown));

	w->rows = grown ? grown : w->rows;
	w->retire = calloc(plan->n + 1, sizeof(*w->retire));
	w->revive = calloc(plan->n + 1, sizeof(*w->revive));
	if (!grown || !w->retire || !w->revive) {
		return -1;
	}
	w->change.add = &w->rows[w->n_stored];
	w->change.retire = w->retire;
	w->change.revive = w->revive;
	w->change.at = now;
	for (size_t i = 0; i < plan->n; i++) {
		const struct form_plan_item *it = &plan->items[i];
		const struct schema_form *sf = schema_form_find(set->schema, it->name);
		struct store_form_version *r = &w->rows[w->n_rows];

		if (it->change == FORM_RETIRING) {
			w->retire[w->change.n_retire++] = it->name;
		}
		if (it->change == FORM_REVIVED) {
			w->revive[w->change.n_revive++] = it->name;
		}
		if (it->change != FORM_NEW && it->change != FORM_NEW_VERSION &&
		    !it->also_new_version) {
			continue;
		}
		*r = (struct store_form_version){
		    .form = (char *)sf->name, .version = sf->version, .accepted_at = now};
		if ((r->schema = schema_form_export(set->schema, sf, &r->schema_len)) == NULL) {
			return -1;
		}
		w->n_rows++;
		w->change.n_add++;
	}
	/* The kept set to come: what retires is retired, what comes back is not. */
	for (size_t i = 0; i < w->n_stored; i++) {
		for (size_t j = 0; j < w->change.n_retire; j++)
			if (strcmp(w->rows[i].form, w->retire[j]) == 0)
				w->rows[i].retired_at = now;
		for (size_t j = 0; j < w->change.n_revive; j++)
			if (strcmp(w->rows[i].form, w->revive[j]) == 0)
				w->rows[i].retired_at = 0;
	}
	return 0;
}

static enum store_status sync_work_read(struct store *st, void *arg)
{
	struct sync_work *w = arg;

	return store_form_versions(st, &w->rows, &w->n_stored);
}

/* Plan what w's stored rows (just read) and set make, and build the kept set to come; NULL with
 * err when set is refused or memory runs out. */
static struct form_versions *sync_work_plan(struct sync_work *w, const struct form_set *set,
                                            char *err, size_t errlen)
{
	struct form_versions *k, *next = NULL;

	w->n_rows = w->n_stored;
	if ((k = form_versions_load(w->rows, w->n_stored, err, errlen)) == NULL) {
		return NULL;
	}
	if (form_versions_plan(k, set, &w->plan) < 0 ||
	    sync_work_fill(w, &w->plan, set, time(NULL)) < 0) {
		snprintf(err, errlen, "out of memory");
	} else if (form_plan_refusal(&w->plan, err, errlen) == 0) {
		/* Built before the write: once it has committed, nothing may fail. */
		next = form_versions_load(w->rows, w->n_rows, err, errlen);
	}
	form_versions_free(k);
	return next;
}

/* Compare set with what st keeps and record what changed, all or nothing. */
struct form_versions *form_versions_sync(struct store *st, const struct form_set *set, char *err,
                                         size_t errlen)
{
	struct sync_work w = {0};
	struct form_versions *next;

	/* Waited for on the loop (on the reader thread where there is one): only at start, before
	 * the loop serves anyone (a reload uses form_versions_sync_async). */
	if (store_read_wait(st, sync_work_read, &w) != STORE_OK) {
		snprintf(err, errlen, "cannot read the form versions from the database");
		return NULL;
	}
	if ((next = sync_work_plan(&w, set, err, errlen)) != NULL &&
	    store_forms_record(st, &w.change) != STORE_OK) {
		snprintf(err, errlen, "cannot record the form versions in the database");
		form_versions_free(next);
		next = NULL;
	}
	sync_work_free(&w);
	return next;
}

/* form_versions_sync_async under way: the read, then the write, then done. */
struct sync_op {
	struct store *st;
	const struct form_set *set;
	struct sync_work w;
	struct form_versions *next; /* the kept set to come, once planned */
	form_versions_done_fn done;
	void *arg;
	char err[FORMS_DIR_ERR];
};

static void sync_op_finish(struct sync_op *op)
{
	sync_work_free(&op->w);
	op->done(op->next, op->err, op->arg);
	free(op);
}

static enum store_status sync_op_work(struct store *st, void *arg)
{
	return sync_work_read(st, &((struct sync_op *)arg)->w);
}

static void sync_op_written(enum store_status status, const struct store_result *res, void *arg)
{
	struct sync_op *op = arg;

	(void)res;
	if (status != STORE_OK) {
		snprintf(op->err, sizeof(op->err),
		         "cannot record the form versions in the database");
		form_versions_free(op->next);
		op->next = NULL;
	}
	sync_op_finish(op);
}

static void sync_op_read(enum store_status status, void *arg)
{
	struct sync_op *op = arg;

	if (status != STORE_OK) {
		snprintf(op->err, sizeof(op->err),
		         "cannot read the form versions from the database");
	} else if ((op->next = sync_work_plan(&op->w, op->set, op->err, sizeof(op->err))) != NULL) {
		store_forms_record_async(op->st, &op->w.change, sync_op_written, op);
		return;
	}
	sync_op_finish(op);
}

/* Do what form_versions_sync does without holding the loop; done runs once, on the loop. */
void form_versions_sync_async(struct store *st, const struct form_set *set,
                              form_versions_done_fn done, void *arg)
{
	struct sync_op *op = calloc(1, sizeof(*op));

	if (op == NULL) {
		done(NULL, "out of memory", arg);
		return;
	}
	op->st = st;
	op->set = set;
	op->done = done;
	op->arg = arg;
	store_read_async(st, sync_op_work, sync_op_read, op);
}

/* Check dir, then what the hub on database would make of it. */
int form_versions_check_dir(const char *dir, const char *database, FILE *out)
{
	char err[FORMS_DIR_ERR], where[512];
	struct form_plan plan = {0};
	struct form_set *set;
	int rc = forms_dir_check(dir, out);

	if (rc != 0) {
		return rc;
	}
	store_location_safe(database, where, sizeof(where)); /* a URL may hold a password */
	if ((set = forms_dir_load(dir, err, sizeof(err))) == NULL ||
	    form_versions_plan_at(database, set, &plan, err, sizeof(err)) < 0) {
		fprintf(out, "refused: %s\n", err);
		form_set_free(set);
		return 1;
	}
	form_plan_print(&plan, out);
	if (plan.refused > 0) {
		fprintf(out,
		        "refexd: %zu form%s refused against the versions kept in %s: fix them; the "
		        "hub keeps the forms it has\n",
		        plan.refused, plan.refused == 1 ? "" : "s", where);
	} else {
		fprintf(out, "refexd: the hub on %s would take these forms\n", where);
	}
	rc = plan.refused > 0 ? 1 : 0;
	form_plan_free(&plan);
	form_set_free(set);
	return rc;
}

/* Compare set with the versions the database at path keeps. */
int form_versions_plan_at(const char *path, const struct form_set *set, struct form_plan *plan,
                          char *err, size_t errlen)
{
	struct store_form_version *rows;
	struct form_versions *k;
	size_t n;
	int rc = -1;

	memset(plan, 0, sizeof(*plan));
	if (store_form_versions_at(path, &rows, &n, err, errlen) < 0) {
		return -1;
	}
	if ((k = form_versions_load(rows, n, err, errlen)) != NULL) {
		rc = form_versions_plan(k, set, plan);
		if (rc < 0) {
			snprintf(err, errlen, "out of memory");
		}
	}
	form_versions_free(k);
	store_form_versions_free(rows, n);
	return rc;
}
