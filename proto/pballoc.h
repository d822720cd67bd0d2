/*
 * A memory budget for protobuf-c's unpack. protobuf-c allocates per field
 * occurrence, so a few wire bytes can cost far more memory than they take on
 * the wire (an empty repeated element is 2 bytes but costs a pointer, a struct
 * and a scan slot). Unpacking untrusted bytes through a struct pballoc makes
 * the unpack fail instead of allocating past the budget.
 *
 * Nesting needs no bound of its own: no message in the .proto files contains
 * itself, directly or through others (tests/unit/test_pballoc.c checks it), so
 * protobuf-c's recursion is as deep as the schema and no deeper; unknown
 * fields are kept as bytes, never parsed. A recursive message would need a
 * depth limit here first.
 */
#ifndef REFEX_PBALLOC_H
#define REFEX_PBALLOC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

/* What one unpack of len wire bytes may allocate: generous for real messages (the densest,
 * e.g. a form of many small household members, need about 12 times their size), small
 * enough that a frame of empty repeated elements is refused long before it costs much. */
#define PBALLOC_PER_BYTE 16
#define PBALLOC_BASE     (64u * 1024u)

/*
 * Pass &a.allocator to protobuf_c_message_unpack (or a generated *_unpack).
 * Memory comes from malloc, so what it unpacks may be freed with a NULL
 * allocator, as usual. One struct pballoc per unpack: spending is not given
 * back on free.
 */
struct pballoc {
	ProtobufCAllocator allocator;
	size_t budget;  /* bytes this unpack may spend */
	size_t spent;   /* bytes spent so far, with an allowance for malloc's own overhead */
	bool exhausted; /* an allocation was refused: the unpack failed for want of budget */
};

/* Set a up for one unpack of len wire bytes (budget PBALLOC_BASE + PBALLOC_PER_BYTE * len). */
void pballoc_init(struct pballoc *a, size_t len);

/* Set a up with an explicit budget in bytes. */
void pballoc_init_budget(struct pballoc *a, size_t budget);

#endif
