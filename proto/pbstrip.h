/*
 * Unknown fields are never stored: protobuf-c keeps the fields it does not know and packs
 * them again, so bytes a client hid in them would reach the database and the other party.
 */
#ifndef REFEX_PBSTRIP_H
#define REFEX_PBSTRIP_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Re-encode data, which must decode as desc, without its unknown fields at any depth.
 * Returns 0 with *out (malloc'd; free it) and *out_len, or -1 when data does not decode or
 * memory ran out.
 */
int pbstrip_repack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                   uint8_t **out, size_t *out_len);

#endif
