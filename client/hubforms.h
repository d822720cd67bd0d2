/*
 * The agreed forms as the hub refex talks to holds them. No form is compiled into refex: it
 * asks the hub for the list of forms in force (ListForms) and for each form version's schema
 * (GetFormSchema), loads each schema with schema_load (its caps: a hub cannot crash or exhaust
 * refex), and keeps both in its cache (formcache.h): the list while the hub's forms digest is
 * unchanged, each version for good.
 */
#ifndef REFEX_HUBFORMS_H
#define REFEX_HUBFORMS_H

#include <stdint.h>

#include "cmd.h"
#include "form.h"
#include "schema.h"

/* One form version, loaded; valid until hubforms_free. */
struct hubform {
	const struct form *form;     /* name, version, title, descriptor */
	const struct schema *schema; /* for labels and help (schema_field) */
};

/* How hubforms_get may find a form. */
enum hubforms_mode {
	HUBFORMS_ONLINE = 0, /* ask the hub (what is cached for it is used when still valid) */
	HUBFORMS_OFFLINE_OK, /* as online; when the hub cannot be reached, use what is cached */
};

/*
 * Find form name as the hub holds it: version 0 is the version in force (from the hub's form
 * list), another the version a referral recorded. Returns EXIT_DONE with *out set, or an exit
 * code after saying why on stderr (an unknown form names the hub's forms: EXIT_USAGE).
 */
int hubforms_get(struct cmd_ctx *ctx, const char *name, uint32_t version, enum hubforms_mode mode,
                 const struct hubform **out);

/* Find version of form name as hubforms_get does, saying nothing when it cannot: for what is
 * only shown (a title), NULL then. */
const struct hubform *hubforms_find_quiet(struct cmd_ctx *ctx, const char *name, uint32_t version);

/* Return the hub's list of forms in force (from the cache while the hub's forms digest is
 * unchanged), or NULL after saying why on stderr with the exit code in *rc. */
const Refex__FormList *hubforms_list(struct cmd_ctx *ctx, int *rc);

/* Return the label and help of field f of desc (a message of form hf). */
const struct schema_field *hubforms_field(const struct hubform *hf,
                                          const ProtobufCMessageDescriptor *desc,
                                          const ProtobufCFieldDescriptor *f);

/* Free what ctx learnt of the hub's forms (nothing is fine). */
void hubforms_free(struct cmd_ctx *ctx);

#endif
