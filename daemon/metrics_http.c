/*
 * The metrics endpoint on libevent's evhttp, on the daemon's own loop: a scrape
 * reads counters, and counts a few store rows through store_read_async (off the
 * loop on PostgreSQL), so it cannot hold up a partner's request for longer than
 * it takes to format.
 */
#include "metrics_http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http_reply.h"
#include "log.h"
#include "metrics.h"
#include "pbenum.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_TEXT_TYPE    "text/plain; charset=utf-8"
#define METRICS_TIMEOUT_S    10 /* a scraper that stalls this long is dropped */

struct metrics_http {
	struct evhttp *http;
	struct hub *hub;
};

static int write_connections(struct evbuffer *out, const struct hub *hub)
{
	return evbuffer_add_printf(
	    out,
	    "# HELP refex_connections_open Partner connections open now, handshaking or not.\n"
	    "# TYPE refex_connections_open gauge\n"
	    "refex_connections_open %zu\n"
	    "# HELP refex_connections_total Partner connections accepted since refexd started.\n"
	    "# TYPE refex_connections_total counter\n"
	    "refex_connections_total %llu\n"
	    "# HELP refex_writes_pending Writes queued or being committed.\n"
	    "# TYPE refex_writes_pending gauge\n"
	    "refex_writes_pending %zu\n",
	    hub->n_sessions, (unsigned long long)hub->next_session_id, store_pending(hub->store));
}

/* A scrape whose referral counts are being read; req is NULL once its connection has gone. */
struct scrape {
	struct evhttp_request *req;
	struct hub *hub;
	uint64_t counts[STORE_STATES], overdue;
};

/* The referral gauges; left out of the scrape (absent, not zero) when the store cannot say. */
static int write_referrals(struct evbuffer *out, enum store_status status, const struct scrape *sc)
{
	int rc;

	if (status != STORE_OK) {
		log_warnx("msg=\"metrics: cannot count referrals\"");
		return 0;
	}
	rc = evbuffer_add_printf(out, "# HELP refex_referrals Referrals stored, by state.\n"
	                              "# TYPE refex_referrals gauge\n");
	for (int s = 1; rc >= 0 && s < STORE_STATES; s++) {
		rc = evbuffer_add_printf(out, "refex_referrals{state=\"%s\"} %llu\n",
		                         pbenum_state_name((Refex__State)s),
		                         (unsigned long long)sc->counts[s]);
	}
	if (rc >= 0) {
		rc = evbuffer_add_printf(
		    out,
		    "# HELP refex_referrals_overdue Referrals sent or received, not yet accepted "
		    "or declined, past their due time.\n"
		    "# TYPE refex_referrals_overdue gauge\n"
		    "refex_referrals_overdue %llu\n",
		    (unsigned long long)sc->overdue);
	}
	return rc;
}

static enum store_status scrape_read(struct store *st, void *arg)
{
	struct scrape *sc = arg;

	return store_count_states(st, sc->counts, &sc->overdue, (int64_t)time(NULL));
}

/* The scraper's connection closed while its counts were read: nothing to answer. */
static void scrape_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	((struct scrape *)arg)->req = NULL;
}

/* Answer the scrape once its counts are read. */
static void scrape_done(enum store_status status, void *arg)
{
	struct scrape *sc = arg;
	struct evbuffer *body = NULL;

	if (sc->req == NULL) {
		free(sc);
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(sc->req), NULL, NULL);
	if ((body = evbuffer_new()) == NULL || write_connections(body, sc->hub) < 0 ||
	    metrics_write(body) < 0 || write_referrals(body, status, sc) < 0) {
		evhttp_send_error(sc->req, HTTP_INTERNAL, NULL);
	} else {
		evhttp_add_header(evhttp_request_get_output_headers(sc->req), "Content-Type",
		                  METRICS_CONTENT_TYPE);
		evhttp_send_reply(sc->req, HTTP_OK, "OK", body);
	}
	if (body != NULL) {
		evbuffer_free(body);
	}
	free(sc);
}

static void metrics_serve(struct evhttp_request *req, void *arg)
{
	struct metrics_http *mh = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct scrape *sc;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		http_reply_text(req, HTTP_NOTFOUND, METRICS_TEXT_TYPE,
		                "not found; metrics are at /metrics\n");
		return;
	}
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		http_reply_text(req, HTTP_BADMETHOD, METRICS_TEXT_TYPE, "only GET and HEAD\n");
		return;
	}
	if ((sc = calloc(1, sizeof(*sc))) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	sc->req = req;
	sc->hub = mh->hub;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), scrape_closed, sc);
	store_read_async(mh->hub->store, scrape_read, scrape_done, sc);
}

static void metrics_log_bound(struct evhttp_bound_socket *bound)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port),
	                NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		log_notice("msg=metrics-listening address=%s port=%s", host, port);
	}
}

/* Serve metrics on hub's loop at the [metrics] listen address. */
struct metrics_http *metrics_http_start(struct hub *hub, char *err, size_t errlen)
{
	const struct config *cfg = hub->cfg;
	struct metrics_http *mh = calloc(1, sizeof(*mh));
	struct evhttp_bound_socket *bound;

	if (mh == NULL || (mh->http = evhttp_new(hub->base)) == NULL) {
		snprintf(err, errlen, "metrics: out of memory");
		goto fail;
	}
	mh->hub = hub;
	/* Every method reaches metrics_serve, which answers 405 rather than evhttp's 501. */
	evhttp_set_allowed_methods(mh->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                         EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_timeout(mh->http, METRICS_TIMEOUT_S);
	evhttp_set_max_headers_size(mh->http, 8192);
	evhttp_set_max_body_size(mh->http, 4096);
	evhttp_set_gencb(mh->http, metrics_serve, mh);
	bound = evhttp_bind_socket_with_handle(mh->http, cfg->metrics_host,
	                                       (ev_uint16_t)cfg->metrics_port);
	if (bound == NULL) {
		snprintf(err, errlen, "cannot serve metrics on %s:%u: %s", cfg->metrics_host,
		         cfg->metrics_port, errno ? strerror(errno) : "cannot bind");
		goto fail;
	}
	metrics_log_bound(bound);
	hub->metrics_fd = evhttp_bound_socket_get_fd(bound);
	return mh;
fail:
	metrics_http_free(mh);
	return NULL;
}

/* Stop serving and close every metrics connection. */
void metrics_http_free(struct metrics_http *mh)
{
	if (mh == NULL) {
		return;
	}
	if (mh->http != NULL) {
		evhttp_free(mh->http);
	}
	if (mh->hub != NULL) {
		mh->hub->metrics_fd = -1;
	}
	free(mh);
}
