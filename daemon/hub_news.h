/* What a hub does with news from the other hubs sharing its database (store_news.h). */
#ifndef REFEX_HUB_NEWS_H
#define REFEX_HUB_NEWS_H

#include <stdbool.h>

#include "hub.h"

/* Start hearing the other hubs' commits on hub's store (none on SQLite). Returns 0 or -1. */
int hub_news_start(struct hub *hub);

/* Say whether this hub runs the sweeps (overdue, retention): one hub at a time. */
bool hub_leads(const struct hub *hub);

#endif
