/*
 * News between hubs sharing one PostgreSQL database (store_news.h).
 *
 * The sending side is in the writer's SQL: the statement that adds an event
 * (store_pg_write.c, PW_EVENT) also calls pg_notify('refex_events', agency),
 * and a client write pg_notify('refex_pages', '') (store_pg_news_pages). A
 * NOTIFY is delivered only when its transaction commits (never for a job undone
 * to its savepoint), and PostgreSQL folds the same agency named twice in one
 * transaction into one notification.
 *
 * The listening side is one more connection per hub, driven on the loop:
 * PQconnectStartParams / PQconnectPoll on its socket's readiness, then LISTEN,
 * PQconsumeInput / PQnotifies on each read. The same connection tries
 * pg_try_advisory_lock every second until it holds it; the session holds it
 * until the connection ends, so when the holding hub dies the server drops
 * its connection and another hub takes the lock at its next try. A lost
 * connection gives up the lead at once and reconnects after a backoff; once
 * it LISTENs again, resync tells the hub news may have been missed.
 */
#include <event2/dns.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_news.h"
#include "store_pg_private.h"

/* The server's side of this connection holds the sweeps' lock: its keepalives (ignored on a
 * unix socket) let the server end the session, and free the lock for another hub, within about
 * 30 s when this hub's host dies or is cut off, not the operating system's two hours. */
#define NEWS_LISTEN                                                                                \
	"SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;"                           \
	" SET tcp_keepalives_count = 3; SET tcp_user_timeout = 30000;"                             \
	" LISTEN refex_events; LISTEN refex_pages"
#define NEWS_LOCK         "SELECT pg_try_advisory_lock(7310582981234)" /* the sweeps' lock */
#define NEWS_LEAD_TRY_S   1   /* how often a hub that does not lead tries the lock */
#define NEWS_CONNECT_S    10  /* the most a connection attempt may take */
#define NEWS_BACKOFF_MIN  0.1 /* seconds before the first reconnect attempt, doubling */
#define NEWS_BACKOFF_MAX  5.0
#define NEWS_KEEPALIVE_S  "10" /* a silent network is noticed in about 25 s */
#define NEWS_KEEPALIVE_N  "3"
#define NEWS_KEEPALIVE_IN "5"

/* What the connection is waiting for an answer to. */
enum news_query { NQ_NONE, NQ_LISTEN, NQ_LOCK };

struct store_news {
	struct event_base *base;
	char *url;
	struct store_news_ops ops;
	void *arg;
	PGconn *c;              /* NULL between a loss and the next attempt */
	bool connected;         /* past PQconnectPoll */
	enum news_query query;  /* in flight */
	struct event *io;       /* on c's socket: a connect step, then every read */
	struct event *flush;    /* on c's socket: the rest of a query to send */
	struct event *retry;    /* the next connection attempt */
	struct event *lead_try; /* every NEWS_LEAD_TRY_S: the lock, unless held */

	struct evdns_base *dns;   /* looks the URL's host names up (store_pg_lookup.c) */
	struct pg_lookup *lookup; /* under way: the attempt connects once it answers */

	double backoff;
	bool leads;
	bool failed; /* a statement of the LISTEN failed */
	bool lost;   /* the loss is logged; the reconnection will be */
};

static void news_connect(struct store_news *n);

static void news_drop_io(struct store_news *n)
{
	if (n->io != NULL) {
		event_free(n->io);
		n->io = NULL;
	}
	if (n->flush != NULL) {
		event_del(n->flush);
	}
}

/* The connection failed or went: give up the lead, log once, try again after the backoff. */
static void news_lost(struct store_news *n)
{
	struct timeval tv = {(time_t)n->backoff,
	                     (suseconds_t)((n->backoff - (time_t)n->backoff) * 1e6)};

	if (n->leads) {
		n->leads = false;
		log_warnx("msg=\"no longer sweeping\" reason=\"the database connection is lost\"");
	}
	if (!n->lost) {
		n->lost = true;
		log_error(
		    "msg=\"database connection lost\" connection=listener hint=\"live news from"
		    " other hubs waits until refexd has reconnected, which it tries by"
		    " itself\"");
	}
	news_drop_io(n);
	pg_lookup_free(n->lookup);
	n->lookup = NULL;
	PQfinish(n->c);
	n->c = NULL;
	n->connected = false;
	n->failed = false;
	n->query = NQ_NONE;
	n->backoff = n->backoff * 2 < NEWS_BACKOFF_MAX ? n->backoff * 2 : NEWS_BACKOFF_MAX;
	evtimer_add(n->retry, &tv);
}

/* Send sql without waiting; what the socket does not take now goes when it can. */
static void news_send(struct store_news *n, enum news_query q, const char *sql)
{
	int left;

	if (!PQsendQuery(n->c, sql) || (left = PQflush(n->c)) < 0) {
		news_lost(n);
		return;
	}
	n->query = q;
	if (left == 1) {
		event_add(n->flush, NULL);
	}
}

static void news_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct store_news *n = arg;
	int left = PQflush(n->c);

	(void)fd, (void)what;
	if (left < 0) {
		news_lost(n);
	} else if (left == 1) {
		event_add(n->flush, NULL);
	}
}

/* One result of the query in flight. */
static void news_answer(struct store_news *n, PGresult *res)
{
	if (n->query == NQ_LISTEN) {
		n->failed = n->failed || PQresultStatus(res) != PGRES_COMMAND_OK;
	} else if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	           strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		n->leads = true;
		log_notice("msg=\"sweeping here\" what=\"overdue sweep, retention purge\"");
	}
}

/* Every statement of the LISTEN is in force: whatever committed before may have been missed. */
static void news_listening(struct store_news *n)
{
	if (n->lost) {
		n->lost = false;
		log_notice("msg=\"database reconnected\" connection=listener");
	}
	n->backoff = NEWS_BACKOFF_MIN;
	n->ops.resync(n->arg);
	news_send(n, NQ_LOCK, NEWS_LOCK); /* at once: no hub waits a second to sweep */
}

/* Take the results of the query in flight that have come, without waiting for the rest. */
static void news_results(struct store_news *n)
{
	enum news_query was = n->query;
	PGresult *res;

	while (n->query != NQ_NONE && !PQisBusy(n->c)) {
		if ((res = PQgetResult(n->c)) == NULL) {
			n->query = NQ_NONE;
			break;
		}
		news_answer(n, res);
		PQclear(res);
	}
	if (was == NQ_LISTEN && n->query == NQ_NONE) {
		if (n->failed) {
			news_lost(n);
			return;
		}
		news_listening(n);
	}
}

/* Pass each notification on: agency ids only. */
static void news_dispatch(struct store_news *n)
{
	PGnotify *note;

	while ((note = PQnotifies(n->c)) != NULL) {
		if (strcmp(note->relname, "refex_events") == 0) {
			n->ops.events(n->arg, note->extra);
		} else if (strcmp(note->relname, "refex_pages") == 0) {
			n->ops.pages(n->arg, note->extra[0] != '\0' ? note->extra : NULL);
		}
		PQfreemem(note);
	}
}

static void news_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct store_news *n = arg;

	(void)fd, (void)what;
	if (!PQconsumeInput(n->c) || PQstatus(n->c) != CONNECTION_OK) {
		news_lost(n);
		return;
	}
	news_results(n);
	if (n->c != NULL) { /* not lost meanwhile */
		news_dispatch(n);
	}
}

/* Connected: read whatever comes from now on, and LISTEN. */
static void news_connected(struct store_news *n)
{
	news_drop_io(n);
	n->connected = true;
	if (PQsetnonblocking(n->c, 1) < 0 ||
	    (n->io = event_new(n->base, PQsocket(n->c), EV_READ | EV_PERSIST, news_on_read, n)) ==
	        NULL ||
	    event_add(n->io, NULL) < 0 ||
	    event_assign(n->flush, n->base, PQsocket(n->c), EV_WRITE, news_on_flush, n) < 0) {
		news_lost(n);
		return;
	}
	news_send(n, NQ_LISTEN, NEWS_LISTEN);
}

static void news_on_connect(evutil_socket_t fd, short what, void *arg);

/* Wait until c's socket (which may change between steps) is ready for what. */
static void news_wait(struct store_news *n, short what)
{
	struct timeval tv = {NEWS_CONNECT_S, 0};

	news_drop_io(n);
	if ((n->io = event_new(n->base, PQsocket(n->c), what, news_on_connect, n)) == NULL ||
	    event_add(n->io, &tv) < 0) {
		news_lost(n);
	}
}

static void news_on_connect(evutil_socket_t fd, short what, void *arg)
{
	struct store_news *n = arg;

	(void)fd;
	if (what & EV_TIMEOUT) {
		news_lost(n);
		return;
	}
	switch (PQconnectPoll(n->c)) {
	case PGRES_POLLING_READING:
		news_wait(n, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		news_wait(n, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		news_connected(n);
		break;
	default:
		news_lost(n);
	}
}

/* Drop the server's notices: refexd logs its own lines. */
static void news_notice_quiet(void *arg, const char *message)
{
	(void)arg, (void)message;
}

/* Start a connection attempt to the URL, with host, hostaddr and port lists after it (NULL:
 * the URL's own); it goes on as the socket gets ready. */
static void news_connect_to(struct store_news *n, const char *host, const char *hostaddr,
                            const char *port)
{
	/* Keywords before dbname are defaults the URL may override; after it, they override it. */
	const char *const keys[] = {"application_name",
	                            "keepalives_idle",
	                            "keepalives_interval",
	                            "keepalives_count",
	                            "dbname",
	                            "host",
	                            "hostaddr",
	                            "port",
	                            NULL};
	const char *const vals[] = {"refexd-news",
	                            NEWS_KEEPALIVE_S,
	                            NEWS_KEEPALIVE_IN,
	                            NEWS_KEEPALIVE_N,
	                            n->url,
	                            host,
	                            hostaddr,
	                            port,
	                            NULL};

	n->c = PQconnectStartParams(keys, vals, 1);
	if (n->c == NULL || PQstatus(n->c) == CONNECTION_BAD) {
		news_lost(n);
		return;
	}
	PQsetNoticeProcessor(n->c, news_notice_quiet, NULL);
	news_wait(n, EV_WRITE); /* libpq: start as if PQconnectPoll said PGRES_POLLING_WRITING */
}

/* The URL's host names are looked up: connect to their addresses, or try again later. */
static void news_on_lookup(void *arg, const char *host, const char *hostaddr, const char *port)
{
	struct store_news *n = arg;
	struct pg_lookup *lk = n->lookup; /* host, hostaddr and port are its own: freed last */

	n->lookup = NULL;
	if (host == NULL) {
		news_lost(n);
	} else {
		news_connect_to(n, host, hostaddr, port);
	}
	pg_lookup_free(lk);
}

/* Start a connection attempt: first, off libpq's blocking resolver, the URL's host names. */
static void news_connect(struct store_news *n)
{
	int rc = pg_lookup_start(n->base, n->dns, n->url, news_on_lookup, n, &n->lookup);

	if (rc < 0) {
		news_lost(n);
	} else if (rc == 1) {
		news_connect_to(n, NULL, NULL, NULL);
	}
}

static void news_on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	news_connect(arg);
}

static void news_on_lead_try(evutil_socket_t fd, short what, void *arg)
{
	struct store_news *n = arg;

	(void)fd, (void)what;
	if (n->connected && !n->leads && n->query == NQ_NONE) {
		news_send(n, NQ_LOCK, NEWS_LOCK);
	}
}

/* Start listening for st's news on base; none on SQLite. */
int store_news_start(struct store *st, struct event_base *base, const struct store_news_ops *ops,
                     void *arg, struct store_news **out)
{
	struct timeval tv = {NEWS_LEAD_TRY_S, 0};
	struct store_news *n;

	*out = NULL;
	if (st == NULL || st->pg == NULL) {
		return 0;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL) {
		return -1;
	}
	n->base = base;
	n->ops = *ops;
	n->arg = arg;
	n->backoff = NEWS_BACKOFF_MIN;
	if ((n->url = strdup(st->pg->url)) == NULL ||
	    (n->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	                                       EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL ||
	    (n->flush = event_new(base, -1, 0, news_on_flush, n)) == NULL ||
	    (n->retry = evtimer_new(base, news_on_retry, n)) == NULL ||
	    (n->lead_try = event_new(base, -1, EV_PERSIST, news_on_lead_try, n)) == NULL ||
	    event_add(n->lead_try, &tv) < 0) {
		store_news_stop(n);
		return -1;
	}
	news_connect(n);
	*out = n;
	return 0;
}

/* Say whether this hub runs the sweeps. */
bool store_news_leads(const struct store_news *n)
{
	return n == NULL || n->leads;
}

/* Stop listening, giving up the lock (it goes with the connection). */
void store_news_stop(struct store_news *n)
{
	if (n == NULL) {
		return;
	}
	news_drop_io(n);
	pg_lookup_free(n->lookup);
	PQfinish(n->c);
	if (n->dns != NULL) {
		evdns_base_free(n->dns, 0);
	}
	if (n->flush != NULL) {
		event_free(n->flush);
	}
	if (n->retry != NULL) {
		event_free(n->retry);
	}
	if (n->lead_try != NULL) {
		event_free(n->lead_try);
	}
	free(n->url);
	free(n);
}

/* Tell every hub, once st's transaction commits, that the sent pages of the sender of
 * referral parent_id changed (they show its onward referrals' state). */
enum store_status store_pg_news_origin(struct store *st, const char *parent_id)
{
	const char *params[] = {parent_id};
	PGresult *res = PQexecParams(
	    st->pg->w, "SELECT pg_notify('refex_pages', sender) FROM referrals WHERE id = $1", 1,
	    NULL, params, NULL, NULL, 0);
	enum store_status status = pg_ok(res) ? STORE_OK : STORE_UNAVAILABLE;

	PQclear(res);
	return status;
}

/* Tell every hub, once st's transaction commits, that listings may have changed (a client
 * record's name or erasure: every agency that lists it). */
enum store_status store_pg_news_pages(struct store *st)
{
	PGresult *res = PQexec(st->pg->w, "SELECT pg_notify('refex_pages', '')");
	enum store_status status = pg_ok(res) ? STORE_OK : STORE_UNAVAILABLE;

	PQclear(res);
	return status;
}
