/* The overdue sweep (see overdue.h). */
#include "overdue.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "hub_news.h"
#include "log.h"
#include "page_cache.h"
#include "watch.h"

#define OVERDUE_TICK_S  1    /* how late an overdue event may be */
#define OVERDUE_PRUNE_S 3600 /* sweep at least this often, to prune old idempotency keys */

struct overdue {
	struct hub *hub;
	struct event *tick;
	bool in_flight; /* a read or a sweep is queued: never two at once */
	bool stopped;   /* overdue_stop ran while one was in flight: free on its completion */
	time_t last_sweep;
	int64_t due; /* what the read of the next due time found */
};

static void overdue_done(enum store_status status, const struct store_result *res, void *arg)
{
	struct overdue *o = arg;

	o->in_flight = false;
	if (o->stopped) {
		free(o);
		return;
	}
	if (status != STORE_OK) {
		log_error("msg=\"overdue sweep failed\" store_status=%d", (int)status);
		return;
	}
	if (res->overdue > 0) {
		log_info("msg=overdue referrals=%zu", res->overdue);
		page_cache_bump_all(o->hub->pages);
		watch_notify_all(o->hub);
	}
}

static enum store_status next_due_read(struct store *st, void *arg)
{
	struct overdue *o = arg;

	return store_next_due(st, &o->due);
}

/* Sweep if something fell due (or it is time to prune), once the next due time is read. */
static void next_due_done(enum store_status status, void *arg)
{
	struct overdue *o = arg;
	time_t now = time(NULL);
	int64_t due = o->due;

	o->in_flight = false;
	if (o->stopped) {
		free(o);
		return;
	}
	if (status != STORE_OK || o->hub->stopping || !hub_leads(o->hub)) {
		return; /* try again next tick (the lead may have moved meanwhile) */
	}
	if ((due > 0 && due <= now) || now - o->last_sweep >= OVERDUE_PRUNE_S) {
		if (store_sweep_overdue(o->hub->store, now, overdue_done, o) == 0) {
			o->in_flight = true;
			o->last_sweep = now;
		}
	}
}

static void overdue_tick(evutil_socket_t fd, short what, void *arg)
{
	struct overdue *o = arg;

	(void)fd;
	(void)what;
	if (o->in_flight || o->hub->stopping || !hub_leads(o->hub)) {
		return;
	}
	o->in_flight = true;
	o->due = 0;
	store_read_async(o->hub->store, next_due_read, next_due_done, o);
}

/* Start sweeping hub's store. */
struct overdue *overdue_start(struct hub *hub)
{
	struct overdue *o = calloc(1, sizeof(*o));
	struct timeval tv = {OVERDUE_TICK_S, 0};

	if (o == NULL) {
		return NULL;
	}
	o->hub = hub;
	o->last_sweep = time(NULL);
	o->tick = event_new(hub->base, -1, EV_PERSIST, overdue_tick, o);
	if (o->tick == NULL || event_add(o->tick, &tv) < 0) {
		overdue_stop(o);
		return NULL;
	}
	return o;
}

/* Stop sweeping. */
void overdue_stop(struct overdue *o)
{
	if (o == NULL) {
		return;
	}
	if (o->tick != NULL) {
		event_free(o->tick);
		o->tick = NULL;
	}
	if (o->in_flight) {
		o->stopped = true; /* overdue_done frees it */
		return;
	}
	free(o);
}
