/*
 * Form versions in the SQLite store: every version of every agreed form the hub has accepted,
 * with the schema clients get for it, and which forms are retired. Read and written only at
 * start, on a reload and by refexd --check-forms/--check-config: the statements are prepared
 * per call, not at open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_sqlite_private.h"

#define FORMS_SELECT                                                                               \
	"SELECT form, version, schema, accepted_at, coalesce(retired_at, 0) FROM form_versions"    \
	" ORDER BY form, version"

/* Copy the row s is on into v; -1 when out of memory. */
static int row_copy(sqlite3_stmt *s, struct store_form_version *v)
{
	const void *blob = sqlite3_column_blob(s, 2);
	bool oom = false;

	v->form = store_col_str(s, 0, &oom);
	v->version = (uint32_t)sqlite3_column_int64(s, 1);
	v->schema_len = (size_t)sqlite3_column_bytes(s, 2);
	v->schema = malloc(v->schema_len ? v->schema_len : 1);
	v->accepted_at = sqlite3_column_int64(s, 3);
	v->retired_at = sqlite3_column_int64(s, 4);
	if (v->schema != NULL && blob != NULL) {
		memcpy(v->schema, blob, v->schema_len);
	}
	return oom || v->form == NULL || v->schema == NULL ? -1 : 0;
}

/* Read every row of db's form_versions; SQLITE_DONE, or the error. */
static int rows_read(sqlite3 *db, struct store_form_version **out, size_t *n)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	int rc = sqlite3_prepare_v2(db, FORMS_SELECT, -1, &s, NULL);

	*out = NULL;
	*n = 0;
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			struct store_form_version *grown;

			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(*out, cap * sizeof(*grown))) == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			*out = grown;
		}
		memset(&(*out)[*n], 0, sizeof(**out));
		if (row_copy(s, &(*out)[(*n)++]) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_form_versions_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* Read every stored form version, by form then version. */
enum store_status store_sqlite_form_versions(struct store *st, struct store_form_version **out,
                                             size_t *n)
{
	return rows_read(st->sq->rdb, out, n) == SQLITE_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Say whether db has a form_versions table (a database from before migration 11 has none). */
static bool has_table(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	bool found = sqlite3_prepare_v2(db,
	                                "SELECT 1 FROM sqlite_schema WHERE type = 'table'"
	                                " AND name = 'form_versions'",
	                                -1, &s, NULL) == SQLITE_OK &&
	             sqlite3_step(s) == SQLITE_ROW;

	sqlite3_finalize(s);
	return found;
}

/* Read the form versions of the database at path (a SQLite file, read-only, or a URL). */
int store_form_versions_at(const char *path, struct store_form_version **out, size_t *n, char *err,
                           size_t errlen)
{
	struct stat sb;
	sqlite3 *db = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_location_is_url(path)) {
		return store_pg_form_versions_at(path, out, n, err, errlen);
	}
	if (stat(path, &sb) < 0) {
		return 0; /* no database yet: nothing is stored */
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = has_table(db) ? rows_read(db, out, n) : SQLITE_DONE;
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
	}
	sqlite3_close(db);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Free what store_form_versions returned. */
void store_form_versions_free(struct store_form_version *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++) {
		free(v[i].form);
		free(v[i].schema);
	}
	free(v);
}

/* Record form version v, accepted at `at`, inside the writer's open transaction. */
enum store_status store_forms_add(struct store *st, const struct store_form_version *v, int64_t at)
{
	sqlite3_stmt *s = st->sq->w[W_FORM_ADD];
	bool ok;

	sqlite3_bind_int64(s, 2, v->version);
	sqlite3_bind_int64(s, 4, at);
	ok = (store_bind_text(s, 1, v->form) |
	      sqlite3_bind_blob64(s, 3, v->schema, v->schema_len, SQLITE_STATIC)) == SQLITE_OK &&
	     store_step_done(s) == 0;
	store_stmt_end(s);
	return ok ? STORE_OK : STORE_UNAVAILABLE;
}

/* Run s for form (bound to ?1, with at to ?2 where s has it). */
static enum store_status form_mark(sqlite3_stmt *s, const char *form, int64_t at)
{
	bool ok;

	if (sqlite3_bind_parameter_count(s) >= 2) {
		sqlite3_bind_int64(s, 2, at);
	}
	ok = store_bind_text(s, 1, form) == SQLITE_OK && store_step_done(s) == 0;
	store_stmt_end(s);
	return ok ? STORE_OK : STORE_UNAVAILABLE;
}

/* Retire form at `at`, inside the writer's open transaction. */
enum store_status store_forms_retire(struct store *st, const char *form, int64_t at)
{
	return form_mark(st->sq->w[W_FORM_RETIRE], form, at);
}

/* Bring retired form back, inside the writer's open transaction. */
enum store_status store_forms_revive(struct store *st, const char *form, int64_t at)
{
	return form_mark(st->sq->w[W_FORM_REVIVE], form, at);
}

/* Record c in one transaction and wait for its commit. */
enum store_status store_forms_record(struct store *st, const struct store_forms_change *c)
{
	if (c->n_add == 0 && c->n_retire == 0 && c->n_revive == 0) {
		return STORE_OK;
	}
	return store_job_run_forms(st, c);
}

/* Record c in one transaction through the queue; cb runs once it has committed or failed. */
void store_forms_record_async(struct store *st, const struct store_forms_change *c,
                              store_done_cb cb, void *arg)
{
	static const struct store_result none = {0};

	if (c->n_add == 0 && c->n_retire == 0 && c->n_revive == 0) {
		cb(STORE_OK, &none, arg);
	} else if (store_job_queue_forms(st, c, cb, arg) < 0) {
		cb(STORE_UNAVAILABLE, &none, arg);
	}
}
