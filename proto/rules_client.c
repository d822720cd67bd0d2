/*
 * The rules of the client record (client.proto), as a table: protoc-c keeps no field options
 * in the descriptors it generates, and the client record is compiled into refexd and refex,
 * not loaded from a descriptor set, so options written in client.proto would never reach the
 * hub. The rules are the same struct rules the forms' options become, judged by the same
 * code (pbcheck_values).
 */
#include "rules.h"

#include "client.pb-c.h"

#define NAME_MAX_CHARS 200 /* a name, as people write theirs */

struct rules_client_entry {
	const ProtobufCMessageDescriptor *desc;
	uint32_t id;
	struct rules rules;
};

static const struct rules_client_entry rules_client_table[] = {
    {&refex__client_record__descriptor,
     1, /* given_name */
     {.kinds = RULES_TEXT, .non_blank = true, .max_length = NAME_MAX_CHARS}},
    {&refex__client_record__descriptor,
     2, /* family_name */
     {.kinds = RULES_TEXT, .non_blank = true, .max_length = NAME_MAX_CHARS}},
    {&refex__client_record__descriptor,
     3, /* preferred_name */
     {.kinds = RULES_TEXT, .max_length = NAME_MAX_CHARS}},
    {&refex__client_record__descriptor,
     4, /* pronouns */
     {.kinds = RULES_TEXT, .max_length = 40}},
    {&refex__client_record__descriptor,
     5, /* date_of_birth */
     {.kinds = RULES_DATE, .not_future = true}},
    {&refex__client_record__descriptor,
     6, /* phone */
     {.kinds = RULES_TEXT, .max_length = 40}},
    {&refex__client_record__descriptor,
     7, /* email */
     {.kinds = RULES_TEXT, .max_length = 254}},
    {&refex__client_record__descriptor,
     10, /* preferred_language */
     {.kinds = RULES_TEXT, .max_length = 60}},
    {&refex__client_record__descriptor,
     12, /* access_needs, each */
     {.kinds = RULES_TEXT, .non_blank = true, .max_length = 200}},
    {&refex__client_record__descriptor,
     15, /* safety_notes */
     {.kinds = RULES_TEXT, .max_length = 2000}},
    {&refex__address__descriptor, 1, {.kinds = RULES_TEXT, .max_length = NAME_MAX_CHARS}},
    {&refex__address__descriptor, 2, {.kinds = RULES_TEXT, .max_length = NAME_MAX_CHARS}},
    {&refex__address__descriptor, 3, {.kinds = RULES_TEXT, .max_length = NAME_MAX_CHARS}},
    {&refex__address__descriptor, 4, {.kinds = RULES_TEXT, .max_length = 16}},
};

/* Return the rules the hub applies to field f of a client record, or NULL. */
const struct rules *rules_client_record(const void *ctx, const ProtobufCMessageDescriptor *desc,
                                        const ProtobufCFieldDescriptor *f)
{
	(void)ctx;
	for (size_t i = 0; i < sizeof(rules_client_table) / sizeof(rules_client_table[0]); i++)
		if (rules_client_table[i].desc == desc && rules_client_table[i].id == f->id)
			return &rules_client_table[i].rules;
	return NULL;
}
