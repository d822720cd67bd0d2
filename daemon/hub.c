/* The hub: shared state of the daemon, and its graceful stop. */
#include "hub.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <time.h>

#include "addr_table.h"
#include "crl_keep.h"
#include "form.h"
#include "form_versions.h"
#include "forms_dir.h"
#include "log.h"
#include "overdue.h"
#include "page_cache.h"
#include "retention.h"
#include "session.h"
#include "store_news.h"

#define STOP_POLL_MS  10
#define STOP_GRACE_MS 10000

static int64_t hub_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Make n empty per-agency session lists. */
struct session_list *hub_agency_lists_new(size_t n)
{
	struct session_list *lists = calloc(n ? n : 1, sizeof(*lists));

	for (size_t i = 0; lists != NULL && i < n; i++) {
		TAILQ_INIT(&lists[i]);
	}
	return lists;
}

/* Make a hub for cfg, tls and store. */
struct hub *hub_new(struct event_base *base, struct config *cfg, SSL_CTX *tls, struct store *st)
{
	struct hub *hub = calloc(1, sizeof(*hub));
	int crl_len;

	if (hub == NULL) {
		return NULL;
	}
	hub->by_agency = hub_agency_lists_new(cfg->n_agencies);
	if (hub->by_agency == NULL) {
		free(hub);
		return NULL;
	}
	TAILQ_INIT(&hub->sessions);
	TAILQ_INIT(&hub->handshakes);
	hub->base = base;
	hub->cfg = cfg;
	hub->tls = tls;
	hub->store = st;
	if ((crl_len = crl_keep_ctx_der(tls, &hub->crl_der)) < 0) {
		hub_free(hub);
		return NULL;
	}
	hub->crl_der_len = (size_t)crl_len;
	hub->metrics_fd = -1;
	if ((hub->handshake_addrs = addr_table_new()) == NULL ||
	    (hub->pages = page_cache_new()) == NULL ||
	    (hub->overdue = overdue_start(hub)) == NULL ||
	    (hub->retention = retention_start(hub)) == NULL) {
		hub_free(hub);
		return NULL;
	}
	return hub;
}

/* Put forms in force and free the set it replaces. */
void hub_set_forms(struct hub *hub, struct form_set *forms)
{
	/* No request holds a form across a callback (form.h): the old set goes at once. */
	form_set_use(forms);
	form_set_free(hub->forms);
	hub->forms = forms;
	forms_dir_digest(forms, hub->forms_digest);
}

/* Put the kept form versions in force and free those it replaces. */
void hub_set_kept(struct hub *hub, struct form_versions *kept)
{
	/* Like the forms: no request holds a kept version across a callback. */
	form_versions_free(hub->kept);
	hub->kept = kept;
}

/* Free the hub. */
void hub_free(struct hub *hub)
{
	if (hub == NULL) {
		return;
	}
	if (hub->stop_timer) {
		event_free(hub->stop_timer);
	}
	overdue_stop(hub->overdue);
	retention_stop(hub->retention);
	store_news_stop(hub->news);
	page_cache_free(hub->pages);
	if (hub->forms) {
		hub_set_forms(hub, NULL);
	}
	hub_set_kept(hub, NULL);
	OPENSSL_free(hub->crl_der);
	addr_table_free(hub->handshake_addrs);
	if (hub->listener) {
		evconnlistener_free(hub->listener);
	}
	free(hub->by_agency);
	free(hub);
}

static void hub_close_all(struct hub *hub)
{
	while (!TAILQ_EMPTY(&hub->sessions)) {
		session_close(TAILQ_FIRST(&hub->sessions), "server stopping");
	}
}

static void hub_leave(struct hub *hub)
{
	hub_close_all(hub);
	if (hub->stop_timer != NULL) {
		evtimer_del(hub->stop_timer);
	}
	event_base_loopexit(hub->base, NULL);
}

/* Poll until writes have committed, reads have been answered and replies have gone out, or the
 * grace time is up. The
 * grace is measured on the clock: a loop busy with callbacks runs its timers late. */
static void hub_stop_poll(evutil_socket_t fd, short what, void *arg)
{
	struct hub *hub = arg;
	struct timeval tv = {.tv_usec = STOP_POLL_MS * 1000};
	bool over = hub_now_ms() - hub->stop_started_ms >= STOP_GRACE_MS;

	(void)fd;
	(void)what;
	if ((store_pending(hub->store) == 0 && store_reads_pending(hub->store) == 0 &&
	     session_all_flushed(hub)) ||
	    over) {
		if (over) {
			log_warnx("msg=\"stop grace time over\" grace_ms=%d pending_writes=%zu "
			          "pending_reads=%zu",
			          STOP_GRACE_MS, store_pending(hub->store),
			          store_reads_pending(hub->store));
		}
		hub_leave(hub);
		return;
	}
	evtimer_add(hub->stop_timer, &tv);
}

static void hub_stop_accepting(struct hub *hub)
{
	if (hub->listener) {
		evconnlistener_disable(hub->listener);
	}
	if (hub->web_listener) {
		evconnlistener_disable(hub->web_listener);
	}
}

/* Start a graceful stop. */
void hub_stop(struct hub *hub)
{
	struct timeval now = {0};

	if (hub->stopping) {
		return;
	}
	hub->stopping = true;
	hub->stop_started_ms = hub_now_ms();
	log_notice("msg=stopping connections=%zu pending_writes=%zu", hub->n_sessions,
	           store_pending(hub->store));
	hub_stop_accepting(hub);
	session_stop_reading_all(hub);
	hub->stop_timer = evtimer_new(hub->base, hub_stop_poll, hub);
	if (hub->stop_timer == NULL) {
		hub_leave(hub);
		return;
	}
	evtimer_add(hub->stop_timer, &now);
}

/* Stop at once, saying what is abandoned. */
void hub_stop_now(struct hub *hub)
{
	size_t unsent, unanswered = session_unanswered_all(hub, &unsent);

	hub->stopping = true;
	hub_stop_accepting(hub);
	log_warnx("msg=\"stopping now\" abandoned_replies=%zu unsent_bytes=%zu pending_writes=%zu "
	          "connections=%zu",
	          unanswered, unsent, store_pending(hub->store), hub->n_sessions);
	hub_leave(hub);
}
