/* Harness helpers for forms learnt from the hub: schemas fetched, answers packed, referrals
 * submitted and read on them, over a raw client (harness.h). */
#ifndef REFEX_HARNESS_FORMS_H
#define REFEX_HARNESS_FORMS_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "schema.h"

/* A form the partnership agrees after the hub started (not compiled into anything), with a
 * title, a label and help text: forms/tenancy_help.proto. */
#define TENANCY_HELP                                                                               \
	"syntax = \"proto2\";\n"                                                                   \
	"package partnership;\n"                                                                   \
	"// Tenancy help\n"                                                                        \
	"message TenancyHelp {\n"                                                                  \
	"  // Rooms needed\n"                                                                      \
	"  // Bedrooms, not counting the kitchen.\n"                                               \
	"  required uint32 rooms = 1;\n"                                                           \
	"  optional string landlord_contacted = 2;\n"                                              \
	"}\n"

/* Ask the hub for the schema of form name (version 0: the one in force); return the status
 * code, and in *out the schema loaded from what the hub sent (NULL unless OK). Fails the test
 * if the hub does not answer or sends a schema that does not load. */
int raw_fetch_schema(struct raw *c, const char *name, uint32_t version, struct schema **out);

/* Pack json as form name of s into out (64 bytes); return its length. */
size_t form_pack_json(const struct schema *s, const char *name, const char *json, uint8_t *out);

/* Submit data on form from the caller to `to` for Dana Lee; return the status code, the new
 * referral's id in id (when OK; may be NULL) and the hub's message in msg (may be NULL). */
int raw_submit_on(struct raw *c, const char *form, const char *to, const uint8_t *data, size_t len,
                  char id[REFEX_ID_LEN + 1], char msg[256]);

/* Read referral id (NULL when the hub refuses). Free with refex__server_message__free_unpacked
 * on the returned message's parent: *holder gets the message to free. */
Refex__Referral *raw_get_referral(struct raw *c, const char *id, Refex__ServerMessage **holder);

#endif
