/* Watching an agency's events: the Watch request and the pump that feeds watchers. */
#include "watch.h"

#include <inttypes.h>

#include "handlers_private.h"
#include "log.h"

#define WATCH_BATCH 64 /* events read per store query */

/* Send s the events it has not seen yet, while its output has room. */
void watch_pump(struct session *s)
{
	struct hub *hub = session_hub(s);
	Refex__Event **evs;
	uint64_t next;
	size_t n;

	/* Sending may close s (out of memory): hold it until the loop has looked. */
	session_ref(s);
	while (session_watch_next(s, &next) && !session_output_busy(s)) {
		if (store_events(hub->store, session_identity(s)->agency, next - 1, WATCH_BATCH,
		                 &evs, &n) != STORE_OK) {
			log_error("conn=%" PRIu64 " msg=\"events cannot be read\" after=%" PRIu64,
			          session_id(s), next - 1);
			session_close(s, "events cannot be read");
			break;
		}
		for (size_t i = 0; i < n && session_is_open(s); i++) {
			session_send_event(s, evs[i]);
			next = evs[i]->seq + 1;
		}
		store_events_free(evs, n);
		session_watch_from(s, next);
		if (n < WATCH_BATCH) {
			break;
		}
	}
	session_unref(s);
}

static void pump_list(struct session_list *list)
{
	struct session *s, *next;

	/* Watchers lead the list: stop at the first idle session. A pump may close its session
	 * (and take it off the list). */
	for (s = TAILQ_FIRST(list); s != NULL && session_is_watcher(s); s = next) {
		next = session_next_peer(s);
		if (session_watch_next(s, &(uint64_t){0})) {
			watch_pump(s);
		}
	}
}

/* Pump every watching session of agency. */
void watch_notify(struct hub *hub, const char *agency)
{
	int i = config_agency_index(hub->cfg, agency);

	if (i >= 0) {
		pump_list(&hub->by_agency[i]);
	}
}

/* Pump every watching session. */
void watch_notify_all(struct hub *hub)
{
	for (size_t i = 0; i < hub->cfg->n_agencies; i++) {
		pump_list(&hub->by_agency[i]);
	}
}

/* Start (or restart) this connection's watch: reply with the range, then pump. */
void handle_watch(struct request *rq, Refex__Request *msg)
{
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__WatchReply w = REFEX__WATCH_REPLY__INIT;
	uint64_t oldest, newest, since;

	if (store_event_range(rq->hub->store, session_identity(rq->s)->agency, &oldest, &newest) !=
	    STORE_OK) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "events cannot be read right now; please try again");
		return;
	}
	since = msg->watch->has_since ? msg->watch->since : newest;
	if (since > newest) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "watch.since",
		            "there is no event %" PRIu64 " yet: the newest is %" PRIu64, since,
		            newest);
		return;
	}
	w.has_last_seq = w.has_oldest_seq = 1;
	w.last_seq = newest;
	w.oldest_seq = oldest;
	r.body_case = REFEX__RESPONSE__BODY_WATCH;
	r.watch = &w;
	reply(rq, &r);
	session_watch_from(rq->s, since + 1);
	watch_pump(rq->s);
}
