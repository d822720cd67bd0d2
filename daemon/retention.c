/* Retention: closed referrals reduced to tombstones when their time is up (see retention.h). */
#include "retention.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "hub_news.h"
#include "log.h"
#include "page_cache.h"

#define RETENTION_TICK_S   1
#define RETENTION_MARGIN_S 3600 /* clients' window: look again at the last hour (or retention) */

struct retention {
	struct hub *hub;
	struct event *tick;
	bool in_flight; /* a read or a purge is queued: never two at once */
	bool stopped;   /* retention_stop ran while one was in flight: free on its completion */
	/* Clients last changed before this were found held when last checked; only purging their
	 * referrals (which checks those clients) can free them. Checking them all every second
	 * would grow with the store. */
	int64_t clients_since;
	int64_t pass_before;  /* the queued purge's `before` */
	int64_t check_before; /* the due check's `before` */
	bool due;             /* what the due check found */
};

static void retention_queue(struct retention *r);

/* Every client last changed before `before` was found held (or erased): later checks start
 * there, less a margin for rows committed a while after their time was taken (or a clock
 * stepped back), which they look at again. (After a reload that lengthens retention this moves
 * the window back: it only ever looks at more.) */
static void clients_checked_to(struct retention *r, int64_t before)
{
	long long keep = r->hub->cfg->retention_closed;

	r->clients_since = before - (keep < RETENTION_MARGIN_S ? keep : RETENTION_MARGIN_S);
}

static void retention_done(enum store_status status, const struct store_result *res, void *arg)
{
	struct retention *r = arg;

	r->in_flight = false;
	if (r->stopped) {
		free(r);
		return;
	}
	if (status != STORE_OK) {
		log_error("msg=\"retention purge failed\" store_status=%d", (int)status);
		return;
	}
	if (res->clients_checked) {
		/* Every client last changed before pass_before is held or erased. With referrals
		 * coming due every second the due check never says "not due": the window moves on
		 * here too. */
		clients_checked_to(r, r->pass_before);
	}
	if (res->purged > 0 || res->purged_clients > 0) {
		log_info("msg=purged referrals=%zu clients=%zu", res->purged, res->purged_clients);
		page_cache_bump_all(r->hub->pages); /* listings lose the client's name */
		retention_queue(r);                 /* there may be more */
	}
}

static void retention_queue(struct retention *r)
{
	long long keep = r->hub->cfg->retention_closed;
	time_t now = time(NULL);

	r->pass_before = (int64_t)now - keep;
	/* Every chunk asks again: the lead may have moved to another hub meanwhile. */
	if (keep > 0 && !r->hub->stopping && hub_leads(r->hub) &&
	    store_purge_closed(r->hub->store, r->pass_before, r->clients_since, now, retention_done,
	                       r) == 0) {
		r->in_flight = true;
	}
}

static enum store_status purge_due_read(struct store *st, void *arg)
{
	struct retention *r = arg;

	return store_purge_due(st, r->check_before, r->clients_since, &r->due);
}

/* Queue a purge if one is due, once the store has said. */
static void purge_due_done(enum store_status status, void *arg)
{
	struct retention *r = arg;

	r->in_flight = false;
	if (r->stopped) {
		free(r);
		return;
	}
	if (status != STORE_OK || r->hub->stopping) {
		return;
	}
	if (!r->due) {
		clients_checked_to(r, r->check_before);
		return;
	}
	retention_queue(r);
}

static void retention_tick(evutil_socket_t fd, short what, void *arg)
{
	struct retention *r = arg;
	long long keep = r->hub->cfg->retention_closed;

	(void)fd;
	(void)what;
	if (r->in_flight || keep <= 0 || r->hub->stopping || !hub_leads(r->hub)) {
		return;
	}
	r->check_before = (int64_t)time(NULL) - keep;
	r->due = false;
	r->in_flight = true;
	store_read_async(r->hub->store, purge_due_read, purge_due_done, r);
}

/* Start purging hub's store. */
struct retention *retention_start(struct hub *hub)
{
	struct retention *r = calloc(1, sizeof(*r));
	struct timeval tv = {RETENTION_TICK_S, 0};

	if (r == NULL) {
		return NULL;
	}
	r->hub = hub;
	r->tick = event_new(hub->base, -1, EV_PERSIST, retention_tick, r);
	if (r->tick == NULL || event_add(r->tick, &tv) < 0) {
		retention_stop(r);
		return NULL;
	}
	return r;
}

/* Stop purging. */
void retention_stop(struct retention *r)
{
	if (r == NULL) {
		return;
	}
	if (r->tick != NULL) {
		event_free(r->tick);
		r->tick = NULL;
	}
	if (r->in_flight) {
		r->stopped = true; /* retention_done frees it */
		return;
	}
	free(r);
}
