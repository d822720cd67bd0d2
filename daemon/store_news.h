/*
 * News from the other hubs sharing this hub's database (issue 18, part 3).
 * On PostgreSQL every commit that adds events sends a NOTIFY naming the
 * agencies whose events grew (ids only), and a client record's change one
 * that makes listings stale. Each hub holds one more connection, driven on
 * the event loop without ever blocking it, that LISTENs and passes each
 * notification on; the same connection holds the advisory lock that makes
 * one hub at a time run the overdue sweep and the retention purge. SQLite has
 * one hub: no news, and it always leads.
 */
#ifndef REFEX_STORE_NEWS_H
#define REFEX_STORE_NEWS_H

#include <event2/event.h>
#include <stdbool.h>

#include "store.h"

/* What a hub does with the news; arg is store_news_start's. */
struct store_news_ops {
	/* agency's events grew (a commit on any hub, this one too). */
	void (*events)(void *arg, const char *agency);
	/* agency's listings changed (NULL: every agency's). */
	void (*pages)(void *arg, const char *agency);
	/* The listening connection is (again) in place: news may have been missed meanwhile. */
	void (*resync)(void *arg);
};

struct store_news;

/* Start listening for st's news on base (PostgreSQL); *out is NULL for a store that has no other
 * hubs (SQLite). Returns 0, or -1 when out of memory. */
int store_news_start(struct store *st, struct event_base *base, const struct store_news_ops *ops,
                     void *arg, struct store_news **out);

/* Say whether this hub runs the sweeps (overdue, retention): it holds the lock, or has no news. */
bool store_news_leads(const struct store_news *n);

/* Stop listening, giving up the lock. NULL is fine. */
void store_news_stop(struct store_news *n);

#endif
