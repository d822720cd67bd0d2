/* The hub: what every connection shares (configuration, TLS context, store, sessions). */
#ifndef REFEX_HUB_H
#define REFEX_HUB_H

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "config.h"
#include "store.h"

struct session;
struct hs_slot;
struct addr_table;
struct form_set;
struct form_versions;
struct web;
struct store_news;
TAILQ_HEAD(session_list, session);
TAILQ_HEAD(hs_slot_list, hs_slot);

/*
 * A reload (SIGHUP) replaces cfg, tls, forms, kept and by_agency between two loop callbacks and
 * frees the old ones. Read them afresh in each callback: never keep a pointer into cfg, a
 * form (form.h) or an agency index across an asynchronous write; copy the agency id or form
 * name and look it up again.
 */
struct hub {
	struct event_base *base;
	struct config *cfg;
	SSL_CTX *tls;
	unsigned char *crl_der; /* tls's CRL, DER-encoded for Hello replies; NULL: it has none */
	size_t crl_der_len;
	struct form_set *forms;     /* the forms in force (form_set_use), from [forms] dir; owned */
	char forms_digest[33];      /* forms_dir_digest of forms, sent in Hello replies */
	struct form_versions *kept; /* every form version the store keeps, loaded; owned */
	struct store *store;
	struct evconnlistener *listener;
	/* The [web] HTTPS door's listener, owned by its evhttp; NULL: none. */
	struct evconnlistener *web_listener;
	/* The HTTPS door (web.h); NULL: none. */
	struct web *web;
	evutil_socket_t metrics_fd;     /* the [metrics] listener's socket, -1 when there is none */
	struct session_list sessions;   /* every connection */
	struct session_list *by_agency; /* greeted sessions, one list per cfg agency */
	size_t n_sessions;
	/* Connections not yet admitted, of both doors, oldest first (addr_table.h): the wire's
	 * handshaking sessions (they count in n_sessions too) and the HTTPS door's connections
	 * before their first request (n_web_waiting of them; not sessions yet). */
	struct hs_slot_list handshakes;
	size_t n_handshakes;
	size_t n_web_waiting;
	struct addr_table *handshake_addrs; /* the same, by source address */
	double shed_logged_at;            /* when a shed handshake was last logged (metrics_now) */
	unsigned long long shed_unlogged; /* handshakes shed since, not logged */
	unsigned accept_burst; /* connections accepted since the loop last served the others */
	uint64_t next_session_id;
	bool stopping;
	bool reloading;    /* a reload waits for the database (reload.c) */
	bool reload_again; /* a SIGHUP came meanwhile: reload once more when it ends */
	struct event *stop_timer;
	struct overdue *overdue;  /* the overdue sweep */
	struct page_cache *pages; /* listing pages ready to send */
	struct retention *retention;
	struct store_news *news; /* the other hubs' commits, the sweeps' lock (hub_news.h) */
	int64_t stop_started_ms; /* monotonic clock when the graceful stop began */
};

/* Make a hub for cfg, tls and store; takes ownership of none of them. */
struct hub *hub_new(struct event_base *base, struct config *cfg, SSL_CTX *tls, struct store *st);

/* Put forms in force (taking ownership) and free the set it replaces. */
void hub_set_forms(struct hub *hub, struct form_set *forms);

/* Put the kept form versions in force (taking ownership) and free those it replaces. */
void hub_set_kept(struct hub *hub, struct form_versions *kept);

/* Free the hub (sessions must already be gone). NULL is fine. */
void hub_free(struct hub *hub);

/* Make n empty per-agency session lists (at least one element, so n may be 0), or NULL. */
struct session_list *hub_agency_lists_new(size_t n);

/* Start a graceful stop: stop accepting, finish in-flight writes and replies, then leave the loop.
 */
void hub_stop(struct hub *hub);

/* Stop at once (a second SIGTERM): log what is abandoned, close every connection, leave the
 * loop. Writes already queued still commit when the store closes; their replies are lost. */
void hub_stop_now(struct hub *hub);

#endif
