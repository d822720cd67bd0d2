/* Listing pages kept ready to send: served until a change to the agency or a due time. */
#include <criterion/criterion.h>
#include <string.h>

#include "page_cache.h"

static struct store_query query(const char *agency, int64_t before)
{
	return (struct store_query){
	    .box = STORE_INBOX, .agency = agency, .limit = 50, .before = before};
}

static bool kept(struct page_cache *pc, const struct store_query *q, int64_t now, const char *want)
{
	size_t len = 0;
	const uint8_t *b = page_cache_get(pc, q, now, &len);

	return b != NULL && len == strlen(want) && memcmp(b, want, len) == 0;
}

Test(page_cache, serves_a_page_until_its_agency_changes)
{
	struct page_cache *pc = page_cache_new();
	struct store_query east = query("eastside-housing", 0), north = query("north-advice", 0);
	struct store_query older = query("eastside-housing", 1234), sent = east;

	sent.box = STORE_SENT;
	cr_assert_not_null(pc);
	cr_expect_not(kept(pc, &east, 100, "east-page"), "nothing kept yet");
	page_cache_put(pc, &east, (const uint8_t *)"east-page", 9, 0);
	page_cache_put(pc, &north, (const uint8_t *)"north-page", 10, 0);
	cr_expect(kept(pc, &east, 100, "east-page"));
	cr_expect_not(kept(pc, &older, 100, "east-page"), "another cursor is another page");
	cr_expect_not(kept(pc, &sent, 100, "east-page"), "the sent list is another page");
	page_cache_bump(pc, "eastside-housing");
	cr_expect_not(kept(pc, &east, 100, "east-page"), "a change to the agency makes it stale");
	cr_expect(kept(pc, &north, 100, "north-page"), "other agencies' pages stay");
	page_cache_bump_all(pc);
	cr_expect_not(kept(pc, &north, 100, "north-page"), "the sweep makes every page stale");
	page_cache_free(pc);
}

Test(page_cache, a_page_expires_when_a_due_time_passes)
{
	struct page_cache *pc = page_cache_new();
	struct store_query east = query("eastside-housing", 0);

	page_cache_put(pc, &east, (const uint8_t *)"page", 4, 500);
	cr_expect(kept(pc, &east, 499, "page"));
	cr_expect_not(kept(pc, &east, 500, "page"), "at the due time an overdue flag turns");
	page_cache_free(pc);
}
