/* The agreed forms as the hub holds them: its list and each version's schema, cached per hub. */
#include "hubforms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "formcache.h"
#include "output.h"

#define LOADED_MAX 64 /* form versions one run loads: a show, a forward, a template --from */

struct loaded {
	struct form_set *set; /* owns the schema */
	struct hubform hf;
};

struct hubforms {
	struct formcache cache;
	int cached;  /* the cache is usable */
	int offline; /* the hub could not be reached: the cache is all there is */
	Refex__FormList *list;
	struct loaded loaded[LOADED_MAX];
	size_t n;
};

/* Open the cache of the first hub of the server list that refex cached forms from, and read
 * its list of forms (the time it was written in *when). Returns 0, or -1 when none has one. */
static int open_last(struct cmd_ctx *ctx, const struct hub_list *hubs, time_t *when)
{
	for (size_t k = 0; k < hubs->n; k++) {
		const char *addr = hubs->addr[(ctx->hub + k) % hubs->n];

		if (formcache_open_last(&ctx->forms->cache, addr) == 0 &&
		    (ctx->forms->list = formcache_list_read(&ctx->forms->cache, NULL, when))) {
			return 0;
		}
	}
	return -1;
}

/* Say, when no hub can be reached, that refex works from what it cached of one. */
static int go_offline(struct cmd_ctx *ctx, const char *why)
{
	struct client_config cfg;
	char err[512], when[32];
	time_t written = 0;
	int ok;

	ok = client_config_load(&cfg, &ctx->opt, err, sizeof(err)) == 0 &&
	     open_last(ctx, &cfg.hubs, &written) == 0;
	client_config_clear(&cfg);
	fprintf(stderr, "refex: %s\n", why);
	if (!ok) {
		fprintf(stderr,
		        "refex: and no forms of this hub are cached: refex learns the forms "
		        "from the hub, so it must reach it once\n");
		return EXIT_CONNECT;
	}
	fprintf(stderr, "refex: working offline, with the hub's forms as cached on %s\n",
	        output_time(written, when, sizeof(when)));
	ctx->forms->cached = ctx->forms->offline = 1;
	return EXIT_DONE;
}

/* Connect (unless connected) and open this hub's cache. Returns an exit code. */
static int setup(struct cmd_ctx *ctx, enum hubforms_mode mode)
{
	char err[4096], fp[80];
	int network = 0, rc = EXIT_DONE;

	if (ctx->forms) {
		return EXIT_DONE;
	}
	if (!(ctx->forms = calloc(1, sizeof(*ctx->forms)))) {
		fprintf(stderr, "refex: out of memory\n");
		return EXIT_REFUSED;
	}
	if (!ctx->conn && mode != HUBFORMS_OFFLINE_OK) {
		/* Nothing is sent yet: a hub unreachable now is tried again, as a change is. */
		rc = cmd_connect_retrying(ctx);
	} else if (!ctx->conn && (rc = cmd_connect(ctx, err, sizeof(err), &network)) != EXIT_DONE) {
		if (network && (rc = go_offline(ctx, err)) == EXIT_DONE) {
			return rc;
		}
		if (!network) {
			fprintf(stderr, "refex: %s\n", err);
		}
	}
	if (rc != EXIT_DONE) {
		hubforms_free(ctx);
		return rc;
	}
	ctx->forms->cached = conn_hub_fingerprint(ctx->conn, fp, sizeof(fp)) == 0 &&
	                     formcache_open(&ctx->forms->cache, conn_address(ctx->conn), fp) == 0;
	return EXIT_DONE;
}

/* Ask the hub for its list of forms in force; NULL after saying why, with *rc set. */
static Refex__FormList *fetch_list(struct cmd_ctx *ctx, int *rc)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListForms lf = REFEX__LIST_FORMS__INIT;
	Refex__Response *resp;
	Refex__FormList *list;

	req.body_case = REFEX__REQUEST__BODY_LIST_FORMS;
	req.list_forms = &lf;
	if ((*rc = cmd_call_expect(ctx, &req, REFEX__RESPONSE__BODY_FORMS, "list of forms",
	                           &resp)) != EXIT_DONE) {
		return NULL;
	}
	/* Keep the list, free the rest: both were unpacked with the default allocator. */
	list = resp->forms;
	resp->forms = NULL;
	resp->body_case = REFEX__RESPONSE__BODY__NOT_SET;
	refex__response__free_unpacked(resp, NULL);
	return list;
}

/* Return the hub's list of forms in force. */
const Refex__FormList *hubforms_list(struct cmd_ctx *ctx, int *rc)
{
	struct hubforms *h;
	const char *digest;

	if ((*rc = setup(ctx, HUBFORMS_ONLINE)) != EXIT_DONE) {
		return NULL;
	}
	h = ctx->forms;
	if (h->list) {
		return h->list;
	}
	/* The digest changes whenever the forms in force do: while it does not, the list
	 * cached under it is the hub's. */
	digest = conn_forms_digest(ctx->conn);
	if (digest && h->cached && (h->list = formcache_list_read(&h->cache, digest, NULL))) {
		return h->list;
	}
	if ((h->list = fetch_list(ctx, rc)) != NULL && digest && h->cached) {
		formcache_list_write(&h->cache, digest, h->list);
	}
	return h->list;
}

/* Say which forms the hub has, for a name it does not. */
static int unknown_form(const char *name, const Refex__FormList *list)
{
	fputs("refex: unknown form '", stderr);
	output_text(stderr, name);
	fputs("'; this hub's forms:", stderr);
	for (size_t i = 0; i < list->n_forms; i++) {
		fputs(i ? ", " : " ", stderr);
		output_text(stderr, list->forms[i]->name);
	}
	fputs(list->n_forms ? "\n" : " none\n", stderr);
	return EXIT_USAGE;
}

/* Find the version in force of form name in the hub's list into *version. */
static int version_in_force(struct cmd_ctx *ctx, const char *name, uint32_t *version)
{
	const Refex__FormList *list;
	int rc;

	if (!(list = hubforms_list(ctx, &rc))) {
		return rc;
	}
	for (size_t i = 0; i < list->n_forms; i++) {
		const Refex__FormInfo *fi = list->forms[i];

		if (fi->name && strcmp(fi->name, name) == 0) {
			*version = fi->has_version ? fi->version : 1;
			return EXIT_DONE;
		}
	}
	return unknown_form(name, list);
}

/* Return the form version loaded in this run, or NULL. */
static const struct hubform *loaded(const struct hubforms *h, const char *name, uint32_t version)
{
	for (size_t i = 0; i < h->n; i++) {
		const struct form *f = h->loaded[i].hf.form;

		if (f->version == version && strcmp(f->name, name) == 0) {
			return &h->loaded[i].hf;
		}
	}
	return NULL;
}

/* Load a descriptor set as version of form name and keep it for this run; NULL with err
 * filled when it is not that form, or refused by schema_load. */
static const struct hubform *load(struct hubforms *h, const char *name, uint32_t version,
                                  const uint8_t *data, size_t len, struct schema_error *err)
{
	struct schema *s = schema_load(data, len, err);
	const struct schema_form *sf = s ? schema_form_find(s, name) : NULL;
	struct loaded *l = &h->loaded[h->n];

	if (s && (!sf || sf->version != version)) {
		snprintf(err->message, sizeof(err->message), "it holds no version %u of the form",
		         version);
	}
	if (!sf || sf->version != version || h->n == LOADED_MAX) {
		if (s && h->n == LOADED_MAX) {
			snprintf(err->message, sizeof(err->message), "too many forms in one run");
		}
		schema_free(s);
		return NULL;
	}
	if (!(l->set = form_set_new(s))) {
		snprintf(err->message, sizeof(err->message), "out of memory");
		return NULL;
	}
	l->hf.form = form_set_find(l->set, name);
	l->hf.schema = s;
	h->n++;
	return &l->hf;
}

/* Load version of form name from the cache, dropping a cached file that does not load. */
static const struct hubform *load_cached(struct hubforms *h, const char *name, uint32_t version)
{
	struct schema_error err;
	const struct hubform *hf = NULL;
	uint8_t *data;
	size_t len = 0;

	if (!h->cached || !(data = formcache_schema_read(&h->cache, name, version, &len))) {
		return NULL;
	}
	if (!(hf = load(h, name, version, data, len, &err))) {
		formcache_schema_drop(&h->cache, name, version); /* fetched again, never trusted */
	}
	free(data);
	return hf;
}

/* Say why the hub did not send a schema. Returns the exit code. */
static int schema_refused(const char *name, uint32_t version, const Refex__Status *st)
{
	if (st && st->code == REFEX__STATUS_CODE__STATUS_UNSUPPORTED) {
		fprintf(stderr,
		        "refex: this hub does not send the schemas of its forms (its refexd "
		        "is older than this refex): ask its operator to upgrade it\n");
		return EXIT_REFUSED;
	}
	fputs("refex: form '", stderr);
	output_text(stderr, name);
	fprintf(stderr, "' version %u: ", version);
	output_text(stderr, st && st->message ? st->message : "the hub sent no schema");
	fputc('\n', stderr);
	return EXIT_REFUSED;
}

/* Ask the hub for the schema of version of form name and load it; keep it in the cache. */
static int fetch_schema(struct cmd_ctx *ctx, const char *name, uint32_t version,
                        const struct hubform **out)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__GetFormSchema g = REFEX__GET_FORM_SCHEMA__INIT;
	struct schema_error err = {.message = "the hub's answer holds no schema of it"};
	const Refex__FormSchema *fs;
	Refex__Response *resp;
	int rc;

	g.form = (char *)name;
	g.has_version = 1;
	g.version = version;
	req.body_case = REFEX__REQUEST__BODY_GET_FORM_SCHEMA;
	req.get_form_schema = &g;
	if ((rc = cmd_call_any(ctx, &req, &resp)) != EXIT_DONE) {
		return rc;
	}
	if (!resp->status || resp->status->code != REFEX__STATUS_CODE__STATUS_OK) {
		rc = schema_refused(name, version, resp->status);
	} else if (resp->body_case != REFEX__RESPONSE__BODY_FORM_SCHEMA ||
	           !(fs = resp->form_schema)->has_descriptor_set || !fs->form ||
	           strcmp(fs->form, name) != 0 ||
	           !(*out = load(ctx->forms, name, version, fs->descriptor_set.data,
	                         fs->descriptor_set.len, &err))) {
		fputs("refex: the hub sent a schema of form '", stderr);
		output_text(stderr, name);
		fprintf(stderr, "' (version %u) that refex cannot use: ", version);
		output_text(stderr, err.message);
		fputc('\n', stderr);
		rc = EXIT_REFUSED;
	} else if (ctx->forms->cached) {
		formcache_schema_write(&ctx->forms->cache, name, version, fs->descriptor_set.data,
		                       fs->descriptor_set.len);
	}
	refex__response__free_unpacked(resp, NULL);
	return rc;
}

/* Find form name as the hub holds it. */
int hubforms_get(struct cmd_ctx *ctx, const char *name, uint32_t version, enum hubforms_mode mode,
                 const struct hubform **out)
{
	int rc;

	*out = NULL;
	if ((rc = setup(ctx, mode)) != EXIT_DONE ||
	    (version == 0 && (rc = version_in_force(ctx, name, &version)) != EXIT_DONE)) {
		return rc;
	}
	if (!formcache_name_is_valid(name)) { /* a hub's list can name anything */
		fputs("refex: the hub lists a form refex cannot use: '", stderr);
		output_text(stderr, name);
		fputs("'\n", stderr);
		return EXIT_REFUSED;
	}
	if ((*out = loaded(ctx->forms, name, version)) ||
	    (*out = load_cached(ctx->forms, name, version))) {
		return EXIT_DONE;
	}
	if (ctx->forms->offline) {
		fputs("refex: form '", stderr);
		output_text(stderr, name);
		fprintf(stderr, "' version %u is not cached: reach the hub once to learn it\n",
		        version);
		return EXIT_CONNECT;
	}
	return fetch_schema(ctx, name, version, out);
}

/* Find version of form name in this run's forms or the cache, saying nothing. */
const struct hubform *hubforms_find_quiet(struct cmd_ctx *ctx, const char *name, uint32_t version)
{
	const struct hubform *hf;

	if (!ctx->forms || !formcache_name_is_valid(name)) {
		return NULL;
	}
	return (hf = loaded(ctx->forms, name, version)) ? hf
	                                                : load_cached(ctx->forms, name, version);
}

/* Return the label and help of field f of desc. */
const struct schema_field *hubforms_field(const struct hubform *hf,
                                          const ProtobufCMessageDescriptor *desc,
                                          const ProtobufCFieldDescriptor *f)
{
	return hf ? schema_field(hf->schema, desc, f) : NULL;
}

/* Free what ctx learnt of the hub's forms. */
void hubforms_free(struct cmd_ctx *ctx)
{
	struct hubforms *h = ctx->forms;

	if (!h) {
		return;
	}
	for (size_t i = 0; i < h->n; i++) {
		form_set_free(h->loaded[i].set);
	}
	if (h->list) {
		refex__form_list__free_unpacked(h->list, NULL);
	}
	free(h);
	ctx->forms = NULL;
}
