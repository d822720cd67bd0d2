/* The hub: shared state of the daemon, and its graceful stop. */
#include "hub.h"

#include <stdlib.h>

#include "log.h"
#include "overdue.h"
#include "page_cache.h"
#include "session.h"

#define STOP_POLL_MS  10
#define STOP_GRACE_MS 10000

/* Make a hub for cfg, tls and store. */
struct hub *hub_new(struct event_base *base, struct config *cfg, SSL_CTX *tls, struct store *st)
{
	struct hub *hub = calloc(1, sizeof(*hub));

	if (hub == NULL) {
		return NULL;
	}
	hub->by_agency = calloc(cfg->n_agencies, sizeof(*hub->by_agency));
	if (hub->by_agency == NULL) {
		free(hub);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_agencies; i++) {
		TAILQ_INIT(&hub->by_agency[i]);
	}
	TAILQ_INIT(&hub->sessions);
	hub->base = base;
	hub->cfg = cfg;
	hub->tls = tls;
	hub->store = st;
	if ((hub->pages = page_cache_new()) == NULL ||
	    (hub->overdue = overdue_start(hub)) == NULL) {
		hub_free(hub);
		return NULL;
	}
	return hub;
}

/* Free the hub. */
void hub_free(struct hub *hub)
{
	if (hub == NULL) {
		return;
	}
	if (hub->stop_timer) {
		event_free(hub->stop_timer);
	}
	overdue_stop(hub->overdue);
	page_cache_free(hub->pages);
	if (hub->listener) {
		evconnlistener_free(hub->listener);
	}
	free(hub->by_agency);
	free(hub);
}

static void hub_close_all(struct hub *hub)
{
	while (!TAILQ_EMPTY(&hub->sessions)) {
		session_close(TAILQ_FIRST(&hub->sessions), "server stopping");
	}
}

/* Poll until writes have committed and replies have gone out, or the grace time is up. */
static void hub_stop_poll(evutil_socket_t fd, short what, void *arg)
{
	struct hub *hub = arg;
	struct timeval tv = {.tv_usec = STOP_POLL_MS * 1000};

	(void)fd;
	(void)what;
	hub->stop_waited_ms += STOP_POLL_MS;
	if ((store_pending(hub->store) == 0 && session_all_flushed(hub)) ||
	    hub->stop_waited_ms >= STOP_GRACE_MS) {
		if (hub->stop_waited_ms >= STOP_GRACE_MS) {
			log_warnx("msg=\"stop grace time over\" pending_writes=%zu",
			          store_pending(hub->store));
		}
		hub_close_all(hub);
		event_base_loopexit(hub->base, NULL);
		return;
	}
	evtimer_add(hub->stop_timer, &tv);
}

/* Start a graceful stop. */
void hub_stop(struct hub *hub)
{
	struct timeval now = {0};

	if (hub->stopping) {
		return;
	}
	hub->stopping = true;
	log_notice("msg=stopping connections=%zu pending_writes=%zu", hub->n_sessions,
	           store_pending(hub->store));
	if (hub->listener) {
		evconnlistener_disable(hub->listener);
	}
	session_stop_reading_all(hub);
	hub->stop_timer = evtimer_new(hub->base, hub_stop_poll, hub);
	if (hub->stop_timer == NULL) {
		hub_close_all(hub);
		event_base_loopexit(hub->base, NULL);
		return;
	}
	evtimer_add(hub->stop_timer, &now);
}
