/* A protobuf-c allocator that refuses to spend more than a budget on one unpack. */
#include "pballoc.h"

#include <stdint.h>
#include <stdlib.h>

/* malloc keeps a header and rounds up: a 1-byte string costs far more than 1 byte. */
#define PBALLOC_OVERHEAD 16

static void *pballoc_alloc(void *data, size_t size)
{
	struct pballoc *a = data;
	size_t cost = size + PBALLOC_OVERHEAD;

	if (size > SIZE_MAX - PBALLOC_OVERHEAD || cost > a->budget - a->spent) {
		a->exhausted = true;
		return NULL;
	}
	a->spent += cost;
	return malloc(size);
}

static void pballoc_free(void *data, void *ptr)
{
	(void)data;
	free(ptr);
}

/* Set a up with an explicit budget in bytes. */
void pballoc_init_budget(struct pballoc *a, size_t budget)
{
	a->allocator.alloc = pballoc_alloc;
	a->allocator.free = pballoc_free;
	a->allocator.allocator_data = a;
	a->budget = budget;
	a->spent = 0;
	a->exhausted = false;
}

/* Set a up for one unpack of len wire bytes. */
void pballoc_init(struct pballoc *a, size_t len)
{
	size_t budget = SIZE_MAX;

	if (len <= (SIZE_MAX - PBALLOC_BASE) / PBALLOC_PER_BYTE) {
		budget = PBALLOC_BASE + PBALLOC_PER_BYTE * len;
	}
	pballoc_init_budget(a, budget);
}
