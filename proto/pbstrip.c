/* Re-encode a message without the fields its schema does not know. */
#include "pbstrip.h"

#include <stdlib.h>

static void strip_message(ProtobufCMessage *m);

/* The nested messages a field of m holds: *n of them at the returned array. */
static ProtobufCMessage **field_messages(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                                         size_t *n)
{
	uint8_t *base = (uint8_t *)m;

	*n = 0;
	if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
		return NULL;
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		*n = *(size_t *)(base + f->quantifier_offset);
		return *(ProtobufCMessage ***)(base + f->offset);
	}
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    *(uint32_t *)(base + f->quantifier_offset) != f->id) {
		return NULL; /* another member of the oneof is set */
	}
	*n = *(ProtobufCMessage **)(base + f->offset) != NULL;
	return (ProtobufCMessage **)(base + f->offset);
}

/* Free m's unknown fields and those of every message below it (system allocator). */
static void strip_message(ProtobufCMessage *m)
{
	unsigned i;
	size_t j, n;

	for (i = 0; i < m->n_unknown_fields; i++) {
		free(m->unknown_fields[i].data);
	}
	free(m->unknown_fields);
	m->unknown_fields = NULL;
	m->n_unknown_fields = 0;
	for (i = 0; i < m->descriptor->n_fields; i++) {
		ProtobufCMessage **sub = field_messages(m, &m->descriptor->fields[i], &n);

		for (j = 0; j < n; j++) {
			strip_message(sub[j]);
		}
	}
}

/* Re-encode data as desc without unknown fields at any depth. */
int pbstrip_repack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                   uint8_t **out, size_t *out_len)
{
	/* Our own decode with the system allocator: the caller's copy may come from another. */
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);

	*out = NULL;
	*out_len = 0;
	if (m == NULL) {
		return -1;
	}
	strip_message(m);
	/* +1: malloc(0) may return NULL for an empty message. */
	if ((*out = malloc(protobuf_c_message_get_packed_size(m) + 1)) != NULL) {
		*out_len = protobuf_c_message_pack(m, *out);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return *out != NULL ? 0 : -1;
}
