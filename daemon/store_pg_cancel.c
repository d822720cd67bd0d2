/*
 * Cancelling at stop what the PostgreSQL connections run (docs/STORAGE.md). A
 * statement waiting for a lock another session holds keeps the thread that runs
 * it, and so refexd's exit, waiting for as long as that lock is held. Each
 * connection's owner keeps a cancel handle (PQgetCancel) after each connection
 * it makes; at stop, a thread of its own sends PQcancel on every handle, again
 * every PG_CANCEL_EVERY_MS (a statement begun after a cancel is cancelled too),
 * until told to end. PQcancel waits for the server's answer, and libpq 15 bounds
 * that wait by nothing (a frozen server never answers): so it runs neither on the
 * loop nor on the thread that stops, which waits a bounded time and then leaves
 * the canceller behind for the process's exit.
 */
#include <pthread.h>
#include <stdlib.h>

#include "store_pg_private.h"

#define PG_CANCEL_EVERY_MS 200
#define PG_CANCEL_STOP_MS  1000 /* the most the stopping thread waits for the canceller */

struct pg_canceller {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop; /* under mu: pg_canceller_stop was called */
	bool done; /* under mu: the thread is past its last PQcancel */
	size_t n;
	struct pg_cancel *slots[];
};

/* Make k, holding no handle. */
void pg_cancel_init(struct pg_cancel *k)
{
	pthread_mutex_init(&k->mu, NULL);
	k->c = NULL;
}

/* Keep c's cancel handle in k (the owner of c, after each connection it makes). */
void pg_cancel_keep(struct pg_cancel *k, PGconn *c)
{
	PGcancel *fresh = PQstatus(c) == CONNECTION_OK ? PQgetCancel(c) : NULL;

	pthread_mutex_lock(&k->mu);
	PQfreeCancel(k->c);
	k->c = fresh;
	pthread_mutex_unlock(&k->mu);
}

/* Free what k holds (no canceller may use it any more). */
void pg_cancel_free(struct pg_cancel *k)
{
	PQfreeCancel(k->c);
	k->c = NULL;
	pthread_mutex_destroy(&k->mu);
}

/* Ask the server to cancel what k's connection runs; nothing if it runs nothing. */
static void pg_cancel_send(struct pg_cancel *k)
{
	char err[256];

	pthread_mutex_lock(&k->mu);
	if (k->c != NULL) {
		PQcancel(k->c, err,
		         sizeof(err)); /* a failure is the server's: the exit is bounded */
	}
	pthread_mutex_unlock(&k->mu);
}

static void *canceller_main(void *arg)
{
	struct pg_canceller *cc = arg;
	struct timespec at;

	pthread_mutex_lock(&cc->mu);
	while (!cc->stop) {
		pthread_mutex_unlock(&cc->mu);
		for (size_t i = 0; i < cc->n; i++) {
			pg_cancel_send(cc->slots[i]);
		}
		pthread_mutex_lock(&cc->mu);
		at = store_realtime_in(PG_CANCEL_EVERY_MS);
		while (!cc->stop && pthread_cond_timedwait(&cc->cv, &cc->mu, &at) == 0) {
		}
	}
	cc->done = true;
	pthread_cond_broadcast(&cc->cv);
	pthread_mutex_unlock(&cc->mu);
	return NULL;
}

/* Start cancelling what the connections of the n slots run, until pg_canceller_stop; NULL if
 * it cannot start. */
struct pg_canceller *pg_canceller_start(struct pg_cancel *const *slots, size_t n)
{
	struct pg_canceller *cc = calloc(1, sizeof(*cc) + n * sizeof(cc->slots[0]));

	if (cc == NULL) {
		return NULL;
	}
	pthread_mutex_init(&cc->mu, NULL);
	pthread_cond_init(&cc->cv, NULL);
	cc->n = n;
	for (size_t i = 0; i < n; i++) {
		cc->slots[i] = slots[i];
	}
	if (pthread_create(&cc->thread, NULL, canceller_main, cc) != 0) {
		pthread_cond_destroy(&cc->cv);
		pthread_mutex_destroy(&cc->mu);
		free(cc);
		return NULL;
	}
	return cc;
}

/* Stop cancelling (NULL is fine). False if the canceller still waits for a server that does not
 * answer: it is left running, and its slots must stay. */
bool pg_canceller_stop(struct pg_canceller *cc)
{
	struct timespec at = store_realtime_in(PG_CANCEL_STOP_MS);
	bool done;

	if (cc == NULL) {
		return true;
	}
	pthread_mutex_lock(&cc->mu);
	cc->stop = true;
	pthread_cond_broadcast(&cc->cv);
	while (!cc->done && pthread_cond_timedwait(&cc->cv, &cc->mu, &at) == 0) {
	}
	done = cc->done;
	pthread_mutex_unlock(&cc->mu);
	if (!done) {
		pthread_detach(cc->thread);
		return false;
	}
	pthread_join(cc->thread, NULL);
	pthread_cond_destroy(&cc->cv);
	pthread_mutex_destroy(&cc->mu);
	free(cc);
	return true;
}
