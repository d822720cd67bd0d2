/*
 * Listing pages kept ready to send. An inbox or sent page is read, built and
 * packed once, then served from here until something changes it: every commit
 * bumps the generation of both parties' agencies (and the overdue sweep every
 * agency's), which makes their pages stale. A page that holds an open referral
 * due later than now also expires at that due time, when its overdue flag turns.
 */
#ifndef REFEX_PAGE_CACHE_H
#define REFEX_PAGE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct page_cache;

/* Make an empty cache. Returns NULL when out of memory. */
struct page_cache *page_cache_new(void);

/* Free the cache. NULL is fine. */
void page_cache_free(struct page_cache *pc);

/* Return the packed page kept for q (and its length), or NULL if there is none fresh at now. */
const uint8_t *page_cache_get(struct page_cache *pc, const struct store_query *q, int64_t now,
                              size_t *len);

/* Keep a packed page for q, fresh until the agency changes or valid_until (0: no expiry). */
void page_cache_put(struct page_cache *pc, const struct store_query *q, const uint8_t *bytes,
                    size_t len, int64_t valid_until);

/* Return agency's generation now, for a page read from now on (page_cache_put_as_of). */
uint64_t page_cache_gen(const struct page_cache *pc, const char *agency);

/* Keep a packed page for q read when agency's generation was gen: stale at once if a commit
 * bumped it while the page was being read (store_read_async). */
void page_cache_put_as_of(struct page_cache *pc, const struct store_query *q, uint64_t gen,
                          const uint8_t *bytes, size_t len, int64_t valid_until);

/* Make every page of agency stale (a commit touched its referrals). */
void page_cache_bump(struct page_cache *pc, const char *agency);

/* Make every page stale. */
void page_cache_bump_all(struct page_cache *pc);

#endif
