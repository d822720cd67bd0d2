/*
 * After an erasure (a retention purge, a client's erasure) has committed on
 * PostgreSQL, the old versions of the rows it updated or deleted are dead
 * tuples, still in the tables' pages until a VACUUM removes them. The commit
 * queue's scrub asks for one here; a thread of its own runs it on a connection
 * of its own, so that neither the loop nor the storage thread waits for it,
 * and requests made while one runs are served by one more VACUUM after it.
 * A VACUUM cannot remove a version a transaction begun before the erasure
 * may still see (a read of the hub's own, a few milliseconds long, that was
 * running when the erasure committed): each is followed by one more, a
 * little later (docs/STORAGE.md says what stays in the WAL and in backups).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "store_pg_private.h"

/* Every table an erasure writes personal data out of. INDEX_CLEANUP ON: the index entries of
 * the dead rows go too (clients_dup holds a duplicate key made of the client's details).
 * FREEZE makes it wait for a page another backend has pinned rather than skip its dead rows
 * (a plain VACUUM prunes only the pages it gets a cleanup lock on at once). */
#define VACUUM_SQL                                                                                 \
	"VACUUM (FREEZE, INDEX_CLEANUP ON) referrals, referral_data, history, clients,"            \
	" client_versions, consents, report_reasons"

#define VACUUM_AGAIN_S 2 /* the second VACUUM, after the reads that began before the first */

struct pg_vacuum {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool wanted;   /* an erasure committed since the last VACUUM began */
	bool again;    /* the last VACUUM's second pass is owed */
	bool stopping; /* store_pg_vacuum_stop: run what is wanted, then end */
	PGconn *c;
	struct pg_cancel cancel; /* of c: a VACUUM waiting for a lock at stop is cancelled */
};

#define VACUUM_STOP_WAIT_MS   1000 /* what a VACUUM under way at stop gets before it is cancelled */
#define VACUUM_STOP_CANCEL_MS 5000

/* Vacuum once on v's connection, reconnecting first if it was lost; log a failure. */
static void vacuum_run(struct pg_vacuum *v)
{
	PGresult *res;

	if (PQstatus(v->c) != CONNECTION_OK) {
		PQreset(v->c);
		pg_cancel_keep(&v->cancel, v->c);
	}
	res = PQexec(v->c, VACUUM_SQL);
	if (pg_ok(res)) {
		log_debug("msg=\"vacuumed after an erasure\"");
	} else {
		log_error(
		    "msg=\"vacuum after an erasure failed\" hint=\"the erased rows' old versions"
		    " stay in the tables until a VACUUM (autovacuum, or the next erasure)\"");
	}
	PQclear(res);
}

/* Wait (v->mu held) for a request, a stop, or the time of an owed second pass. */
static void vacuum_wait(struct pg_vacuum *v)
{
	struct timespec at;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &at);
	at.tv_sec += VACUUM_AGAIN_S;
	while (!v->wanted && !v->stopping && rc == 0) {
		rc = v->again ? pthread_cond_timedwait(&v->cv, &v->mu, &at)
		              : pthread_cond_wait(&v->cv, &v->mu);
	}
}

static void *vacuum_main(void *arg)
{
	struct pg_vacuum *v = arg;

	pthread_mutex_lock(&v->mu);
	for (;;) {
		vacuum_wait(v);
		if (!v->wanted && !v->again) {
			break; /* stopping, nothing owed */
		}
		v->again = v->wanted; /* a request's VACUUM is followed by a second pass */
		v->wanted = false;
		pthread_mutex_unlock(&v->mu);
		vacuum_run(v);
		pthread_mutex_lock(&v->mu);
	}
	pthread_mutex_unlock(&v->mu);
	return NULL;
}

/* Start the thread that vacuums after erasures, on a connection of its own to url. */
int store_pg_vacuum_start(struct store_pg *pg, const char *url, char *err, size_t errlen)
{
	struct pg_vacuum *v = calloc(1, sizeof(*v));

	if (v == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv, NULL);
	pg_cancel_init(&v->cancel);
	if ((v->c = pg_connect(url, err, errlen)) != NULL) {
		pg_cancel_keep(&v->cancel, v->c);
	}
	if (v->c == NULL || pthread_create(&v->thread, NULL, vacuum_main, v) != 0) {
		if (v->c != NULL) {
			snprintf(err, errlen, "cannot start the vacuum thread");
		}
		PQfinish(v->c);
		pg_cancel_free(&v->cancel);
		pthread_cond_destroy(&v->cv);
		pthread_mutex_destroy(&v->mu);
		free(v);
		return -1;
	}
	pg->vacuum = v;
	return 0;
}

/* Have the vacuum thread vacuum the tables erasures write, soon. */
void store_pg_vacuum_request(struct store_pg *pg)
{
	struct pg_vacuum *v = pg->vacuum;

	if (v == NULL) {
		return;
	}
	pthread_mutex_lock(&v->mu);
	v->wanted = true;
	pthread_cond_signal(&v->cv);
	pthread_mutex_unlock(&v->mu);
}

/* Join v's thread; a VACUUM still running after VACUUM_STOP_WAIT_MS (waiting for a lock) is
 * cancelled. Say whether the thread, and the cancelling, have ended. */
static bool vacuum_join(struct pg_vacuum *v)
{
	struct pg_cancel *slot = &v->cancel;
	struct pg_canceller *cc;
	bool ended;

	if (store_join_within(v->thread, VACUUM_STOP_WAIT_MS)) {
		return true;
	}
	log_warnx("msg=\"vacuum cancelled at stop\" hint=\"the next erasure's vacuum, or"
	          " autovacuum, removes the erased rows' old versions\"");
	cc = pg_canceller_start(&slot, 1);
	ended = store_join_within(v->thread, VACUUM_STOP_CANCEL_MS);
	return pg_canceller_stop(cc) && ended;
}

/* Stop the vacuum thread after the vacuum it owes, and close its connection. */
void store_pg_vacuum_stop(struct store_pg *pg)
{
	struct pg_vacuum *v = pg ? pg->vacuum : NULL;

	if (v == NULL) {
		return;
	}
	pthread_mutex_lock(&v->mu);
	v->stopping = true;
	pthread_cond_signal(&v->cv);
	pthread_mutex_unlock(&v->mu);
	pg->vacuum = NULL;
	if (!vacuum_join(v)) {
		return; /* it waits for a server that does not answer: left to the exit */
	}
	PQfinish(v->c);
	pg_cancel_free(&v->cancel);
	pthread_cond_destroy(&v->cv);
	pthread_mutex_destroy(&v->mu);
	free(v);
}
