/*
 * What the storage thread says when commits fail (a full disk, an I/O error)
 * and when they work again: one line when it starts, one every
 * STORE_HEALTH_EVERY seconds while it lasts, one when it ends. Each refused
 * request is logged by its handler as well; these lines say why, once.
 * The backend's generic error text only: never what was being written.
 */
#include "log.h"
#include "metrics.h"
#include "store_private.h"

#define STORE_HEALTH_EVERY 10.0 /* seconds between "still failing" lines */

/* Note a batch of n writes that could not commit (code: the backend's error); log when it
 * starts. */
void store_health_failed(struct store *st, int rc, size_t n)
{
	double now = metrics_now();

	st->refused += n;
	if (!st->failing) {
		st->failing = true;
		st->fail_since = st->fail_told = now;
		log_error("msg=\"storage failing\" error=\"%s\" %s_code=%d refused=%zu"
		          " hint=\"writes are refused (UNAVAILABLE) and resume by themselves once"
		          " the disk has space and works; reads go on\"",
		          st->be->errstr(rc), st->be->name, rc, st->refused);
	} else if (now - st->fail_told >= STORE_HEALTH_EVERY) {
		st->fail_told = now;
		log_error("msg=\"storage still failing\" error=\"%s\" %s_code=%d refused=%zu"
		          " seconds=%.0f",
		          st->be->errstr(rc), st->be->name, rc, st->refused, now - st->fail_since);
	}
}

/* Note a commit that worked; log the recovery if commits had been failing. */
void store_health_ok(struct store *st)
{
	if (!st->failing) {
		return;
	}
	log_notice("msg=\"storage recovered\" refused=%zu seconds=%.1f", st->refused,
	           metrics_now() - st->fail_since);
	st->failing = false;
	st->refused = 0;
}
