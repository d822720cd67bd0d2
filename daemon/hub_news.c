/* News from the other hubs: what a commit on another hub means here (see hub_news.h). */
#include "hub_news.h"

#include "page_cache.h"
#include "store_news.h"
#include "watch.h"

/* agency's events grew: as after a local commit, its pages go and its watchers catch up (from
 * their next sequence number, so a hub's own news sends nothing twice). */
static void news_events(void *arg, const char *agency)
{
	struct hub *hub = arg;

	page_cache_bump(hub->pages, agency);
	watch_notify(hub, agency);
}

static void news_pages(void *arg, const char *agency)
{
	struct hub *hub = arg;

	if (agency != NULL) {
		page_cache_bump(hub->pages, agency);
	} else {
		page_cache_bump_all(hub->pages);
	}
}

/* News may have been missed: every page goes, every watcher catches up. */
static void news_resync(void *arg)
{
	struct hub *hub = arg;

	page_cache_bump_all(hub->pages);
	watch_notify_all(hub);
}

static const struct store_news_ops hub_news_ops = {
    .events = news_events,
    .pages = news_pages,
    .resync = news_resync,
};

/* Start hearing the other hubs' commits. */
int hub_news_start(struct hub *hub)
{
	return store_news_start(hub->store, hub->base, &hub_news_ops, hub, &hub->news);
}

/* Say whether this hub runs the sweeps. */
bool hub_leads(const struct hub *hub)
{
	return store_news_leads(hub->news);
}
