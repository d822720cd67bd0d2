/*
 * Retention: once a second, if a closed referral (declined, completed,
 * withdrawn) was last changed longer ago than [retention] closed_referrals,
 * the store reduces it to a tombstone (see store_purge_closed). A purge that
 * took a full batch is followed by another at once.
 */
#ifndef REFEX_RETENTION_H
#define REFEX_RETENTION_H

#include "hub.h"

struct retention;

/* Start purging hub's store as hub->cfg says (read at every tick: a reload applies). */
struct retention *retention_start(struct hub *hub);

/* Stop purging; a purge already queued finishes harmlessly. NULL is fine. */
void retention_stop(struct retention *r);

#endif
