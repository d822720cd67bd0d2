/* Watching an agency's events: the Watch request and the pump that feeds watchers. */
#include "watch.h"

#include <inttypes.h>
#include <stdlib.h>

#include "handlers_private.h"
#include "log.h"

#define WATCH_BATCH 64 /* events read per store query */

/* A read of a watcher's events in flight. */
struct pump {
	struct session *s;
	uint64_t after;
	Refex__Event **evs;
	size_t n;
};

static enum store_status pump_read(struct store *st, void *arg)
{
	struct pump *p = arg;

	return store_events(st, session_identity(p->s)->agency, p->after, WATCH_BATCH, &p->evs,
	                    &p->n);
}

/* Send the events read, if the watch still wants them from there; read on while more may
 * wait. */
static void pump_done(enum store_status status, void *arg)
{
	struct pump *p = arg;
	struct session *s = p->s;
	bool again = session_watch_read_end(s);
	uint64_t next;

	if (status != STORE_OK && session_is_open(s)) {
		log_error("conn=%" PRIu64 " msg=\"events cannot be read\" after=%" PRIu64,
		          session_id(s), p->after);
		session_close(s, "events cannot be read");
	} else if (status == STORE_OK && session_watch_next(s, &next) && next == p->after + 1) {
		for (size_t i = 0; i < p->n && session_is_open(s); i++) {
			session_send_event(s, p->evs[i]);
			next = p->evs[i]->seq + 1;
		}
		session_watch_from(s, next);
		again = again || p->n == WATCH_BATCH;
	} else {
		again = again || status == STORE_OK; /* the watch restarted meanwhile */
	}
	store_events_free(p->evs, p->n);
	if (again) {
		watch_pump(s);
	}
	session_unref(s);
	free(p);
}

/* Send s the events it has not seen yet, while its output has room: read them (one read in
 * flight per session; asked again meanwhile, it reads again after) and send them. */
void watch_pump(struct session *s)
{
	struct pump *p;
	uint64_t next;

	if (!session_watch_next(s, &next) || session_output_busy(s) ||
	    !session_watch_read_begin(s)) {
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		session_watch_read_end(s);
		session_close(s, "out of memory");
		return;
	}
	/* Sending may close s (out of memory): hold it until the read is done. */
	session_ref(s);
	p->s = s;
	p->after = next - 1;
	store_read_async(session_hub(s)->store, pump_read, pump_done, p);
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

/* A Watch request reading its range. */
struct pending_watch {
	struct request rq;
	bool has_since;
	uint64_t since, oldest, newest;
};

static enum store_status range_read(struct store *st, void *arg)
{
	struct pending_watch *p = arg;

	return store_event_range(st, session_identity(p->rq.s)->agency, &p->oldest, &p->newest);
}

/* Reply with the range, then pump. */
static void range_done(enum store_status status, void *arg)
{
	struct pending_watch *p = arg;
	struct request *rq = &p->rq;
	Refex__Response r = REFEX__RESPONSE__INIT;
	Refex__WatchReply w = REFEX__WATCH_REPLY__INIT;
	uint64_t since = p->has_since ? p->since : p->newest;

	if (status != STORE_OK) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_UNAVAILABLE, NULL,
		            "events cannot be read right now; please try again");
	} else if (since > p->newest) {
		reply_error(rq, REFEX__STATUS_CODE__STATUS_INVALID, "watch.since",
		            "there is no event %" PRIu64 " yet: the newest is %" PRIu64, since,
		            p->newest);
	} else {
		w.has_last_seq = w.has_oldest_seq = 1;
		w.last_seq = p->newest;
		w.oldest_seq = p->oldest;
		r.body_case = REFEX__RESPONSE__BODY_WATCH;
		r.watch = &w;
		reply(rq, &r);
		if (session_is_open(rq->s)) {
			session_watch_from(rq->s, since + 1);
			watch_pump(rq->s);
		}
	}
	request_release(rq);
}

/* Start (or restart) this connection's watch: read the range, reply with it, then pump. */
void handle_watch(struct request *rq, Refex__Request *msg)
{
	struct pending_watch *p = request_keep_for_read(rq, sizeof(*p));

	if (p == NULL) {
		return;
	}
	p->has_since = msg->watch->has_since;
	p->since = msg->watch->since;
	store_read_async(rq->hub->store, range_read, range_done, p);
}
