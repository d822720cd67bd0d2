/*
 * Form versions kept: every version of every agreed form the hub has accepted, as the store
 * holds it (store_form_versions), loaded so that a referral made on any of them can be decoded
 * with its own version's schema, and GetFormSchema can send any of them.
 *
 * At start and on each reload the forms directory (a form_set) is compared with what is kept
 * (form_versions_plan): a form not kept yet is new; a version above the newest kept is a new
 * version, checked against every kept one (proto/schema_compat.h); the newest version again
 * must be the same schema byte for byte (what clients cached for it); a lower version is
 * refused (versions only go up). A form kept but no longer in the directory is retired: it
 * takes no new referrals, and its referrals stay readable. Any refusal refuses the whole
 * start or reload.
 *
 * Ownership: the hub owns the kept set in force and swaps it like its forms (hub.h): use a
 * form from it within one callback only.
 */
#ifndef REFEX_FORM_VERSIONS_H
#define REFEX_FORM_VERSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "form.h"
#include "store.h"

/* One kept version of one form. */
struct form_kept {
	char *name;
	uint32_t version;
	uint8_t *bytes; /* the exported schema (schema_form_export), as clients get it */
	size_t len;
	bool retired;                 /* the form (every version of it) takes no new referrals */
	struct schema *schema;        /* loaded from bytes */
	const struct schema_form *sf; /* the form in schema */
	struct form form;             /* name, version, title and descriptor, from sf */
};

/* The kept versions, by name then version. */
struct form_versions {
	size_t n;
	struct form_kept *v;
};

/* What a start or reload would do to one form. */
enum form_change {
	FORM_UNCHANGED,   /* its newest kept version, the same schema */
	FORM_NEW,         /* no version kept yet */
	FORM_NEW_VERSION, /* above the newest kept, compatible with every kept one */
	FORM_RETIRING,    /* kept, in force, no longer in the directory */
	FORM_RETIRED,     /* kept, already retired, still not in the directory */
	FORM_REVIVED,     /* retired, back in the directory */
	FORM_REFUSED,     /* field and reason say why */
};

struct form_plan_item {
	enum form_change change;
	char name[SCHEMA_MAX_NAME + 1];
	uint32_t version;      /* in the directory (retiring: the newest kept) */
	uint32_t kept;         /* the newest version kept (0: none) */
	bool also_new_version; /* FORM_REVIVED with a new version */
	char field[256];
	char reason[512];
};

struct form_plan {
	size_t n, refused;
	struct form_plan_item *items; /* by name */
};

/* Load the stored rows into a kept set (NULL with err: out of memory or a schema that no
 * longer loads, naming it). */
struct form_versions *form_versions_load(const struct store_form_version *rows, size_t n, char *err,
                                         size_t errlen);

/* Free a kept set (NULL is fine); it must not be in force. */
void form_versions_free(struct form_versions *k);

/* Compare set (the forms directory) with k (NULL: nothing kept) into plan; -1: out of memory. */
int form_versions_plan(const struct form_versions *k, const struct form_set *set,
                       struct form_plan *plan);

/* Free what form_versions_plan put in plan. */
void form_plan_free(struct form_plan *plan);

/* Write plan to out, one line per form, each refusal naming the form, the field and why. */
void form_plan_print(const struct form_plan *plan, FILE *out);

/* Put the first refusal of plan in err ("form F version V: field X: reason"); -1 if any. */
int form_plan_refusal(const struct form_plan *plan, char *err, size_t errlen);

/*
 * Compare set with what st keeps, refuse an incompatible change (err), record new versions,
 * retirements and revivals in one transaction, and return the kept set to put in force with
 * set. NULL with err: nothing was recorded.
 */
struct form_versions *form_versions_sync(struct store *st, const struct form_set *set, char *err,
                                         size_t errlen);

/* What form_versions_sync_async ends with: kept as form_versions_sync returns it (owned by the
 * callee), or NULL with err (nothing was recorded). */
typedef void (*form_versions_done_fn)(struct form_versions *kept, const char *err, void *arg);

/*
 * Do what form_versions_sync does without holding the loop: read the stored versions on the
 * reader thread (store_read_async), plan, and record the change through the commit queue.
 * done runs once, on the loop thread (before this returns when everything can be done at
 * once). set must stay until then.
 */
void form_versions_sync_async(struct store *st, const struct form_set *set,
                              form_versions_done_fn done, void *arg);

/* Compare set with the versions the database at path keeps (read-only; none when there is no
 * database yet) into plan; -1 with err when the database cannot be read. */
int form_versions_plan_at(const char *path, const struct form_set *set, struct form_plan *plan,
                          char *err, size_t errlen);

/*
 * refexd --check-forms DIR --config FILE: check DIR as forms_dir_check does, then say what the
 * hub on database (read-only) would make of it: new forms, new versions, unchanged forms,
 * forms it would retire, and every refused change (form, field, reason). Return 0 when the hub
 * would take it, 1 otherwise.
 */
int form_versions_check_dir(const char *dir, const char *database, FILE *out);

/* Return version `version` of form name as k keeps it, or NULL. */
const struct form_kept *form_versions_find(const struct form_versions *k, const char *name,
                                           uint32_t version);

/* Return the newest kept version of form name, or NULL. */
const struct form_kept *form_versions_newest(const struct form_versions *k, const char *name);

/* Say whether form name is kept and retired (no new referrals). */
bool form_versions_is_retired(const struct form_versions *k, const char *name);

#endif
