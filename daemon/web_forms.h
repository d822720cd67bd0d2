/*
 * Form answers as JSON at the HTTPS door. A browser cannot pack protobuf, so the door takes a
 * submission's or onward referral's formData as a JSON object of answers (JSON names, as in
 * `refex template`) and packs it with the form's schema at the version the request names (its
 * newest kept when none), and adds formAnswers, the answers as JSON, beside the base64 formData
 * of every referral it answers, decoded with the schema of the referral's own form version.
 */
#ifndef REFEX_WEB_FORMS_H
#define REFEX_WEB_FORMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hub.h"
#include "refex.pb-c.h"

/* If body (a SubmitReferral or ForwardReferral as JSON) has formData as an object, replace it by
 * the answers packed as base64; partial: required answers may be missing (forward). Returns 0,
 * or -1 with the offending field's path in field and why in message. */
int web_forms_pack(const struct hub *hub, json_t *body, bool partial, char *field, size_t fieldlen,
                   char *message, size_t messagelen);

/* Add formAnswers to json, referral r as JSON, when its form version is kept and its data
 * decodes; leave json as it is otherwise. */
void web_forms_answers(const struct hub *hub, const Refex__Referral *r, json_t *json);

/*
 * Describe a kept version of form name (version 0: the newest kept) for a page to render:
 * {"form", "version", "title", "help", "retired", "fields": [{"name", "jsonName", "label",
 * "help", "type", "required", "repeated", "choices": [{"name", "number"}], "rules": {...},
 * "fields": [...]}]} (new reference), or NULL when the hub keeps no such version.
 */
json_t *web_forms_describe(const struct hub *hub, const char *name, uint32_t version);

#endif
