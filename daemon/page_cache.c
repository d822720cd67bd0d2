/* Listing pages kept ready to send (see page_cache.h). */
#include "page_cache.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"

#define PC_SLOTS     1024        /* pages kept: direct-mapped, a collision replaces */
#define PC_GENS      4096        /* agency generations, by hash: a collision only over-expires */
#define PC_BYTES_MAX (64 * 1024) /* larger pages are not kept */

struct page {
	bool used;
	char agency[IDENTITY_AGENCY_MAX + 1];
	struct store_query q; /* agency points into the struct above */
	uint64_t gen;
	int64_t valid_until;
	uint8_t *bytes;
	size_t len;
};

struct page_cache {
	struct page slots[PC_SLOTS];
	uint64_t gens[PC_GENS];
	uint64_t epoch; /* bumped by page_cache_bump_all */
};

/* FNV-1a over the bytes of s, then the numbers of the query. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	}
	return h;
}

static uint64_t hash_query(const struct store_query *q)
{
	uint64_t h = hash_str(q->agency);

	h = (h ^ (uint64_t)q->box) * 1099511628211ULL;
	h = (h ^ (uint64_t)q->state) * 1099511628211ULL;
	h = (h ^ (uint64_t)q->overdue_only) * 1099511628211ULL;
	h = (h ^ (uint64_t)q->limit) * 1099511628211ULL;
	return (h ^ (uint64_t)q->before) * 1099511628211ULL;
}

static uint64_t gen_of(const struct page_cache *pc, const char *agency)
{
	return pc->gens[hash_str(agency) % PC_GENS] + pc->epoch;
}

static bool same_query(const struct store_query *a, const struct store_query *b)
{
	return a->box == b->box && a->state == b->state && a->overdue_only == b->overdue_only &&
	       a->limit == b->limit && a->before == b->before && strcmp(a->agency, b->agency) == 0;
}

/* Make an empty cache. */
struct page_cache *page_cache_new(void)
{
	return calloc(1, sizeof(struct page_cache));
}

/* Free the cache. */
void page_cache_free(struct page_cache *pc)
{
	if (pc == NULL) {
		return;
	}
	for (size_t i = 0; i < PC_SLOTS; i++) {
		free(pc->slots[i].bytes);
	}
	free(pc);
}

/* Return the packed page kept for q, or NULL. */
const uint8_t *page_cache_get(struct page_cache *pc, const struct store_query *q, int64_t now,
                              size_t *len)
{
	struct page *p = &pc->slots[hash_query(q) % PC_SLOTS];

	if (!p->used || !same_query(&p->q, q) || p->gen != gen_of(pc, q->agency) ||
	    (p->valid_until > 0 && now >= p->valid_until)) {
		return NULL;
	}
	*len = p->len;
	return p->bytes;
}

/* Keep a packed page for q. */
void page_cache_put(struct page_cache *pc, const struct store_query *q, const uint8_t *bytes,
                    size_t len, int64_t valid_until)
{
	page_cache_put_as_of(pc, q, gen_of(pc, q->agency), bytes, len, valid_until);
}

/* Return agency's generation now, for a page read from now on (page_cache_put_as_of). */
uint64_t page_cache_gen(const struct page_cache *pc, const char *agency)
{
	return gen_of(pc, agency);
}

/* Keep a packed page for q read when agency's generation was gen: stale at once if a commit
 * bumped it while the page was being read. */
void page_cache_put_as_of(struct page_cache *pc, const struct store_query *q, uint64_t gen,
                          const uint8_t *bytes, size_t len, int64_t valid_until)
{
	struct page *p = &pc->slots[hash_query(q) % PC_SLOTS];
	uint8_t *copy;

	if (len > PC_BYTES_MAX || strlen(q->agency) > IDENTITY_AGENCY_MAX ||
	    (copy = malloc(len ? len : 1)) == NULL) {
		return;
	}
	memcpy(copy, bytes, len);
	free(p->bytes);
	p->used = true;
	snprintf(p->agency, sizeof(p->agency), "%s", q->agency);
	p->q = *q;
	p->q.agency = p->agency;
	p->gen = gen;
	p->valid_until = valid_until;
	p->bytes = copy;
	p->len = len;
}

/* Make every page of agency stale. */
void page_cache_bump(struct page_cache *pc, const char *agency)
{
	pc->gens[hash_str(agency) % PC_GENS]++;
}

/* Make every page stale. */
void page_cache_bump_all(struct page_cache *pc)
{
	pc->epoch++;
}
