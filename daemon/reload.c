/* Reload the partnership configuration and TLS files into a running hub, all or nothing. */
#include "reload.h"

#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "crl_keep.h"
#include "form.h"
#include "form_versions.h"
#include "forms_dir.h"
#include "log.h"
#include "session.h"
#include "tls.h"
#include "web.h"

/* Build the server TLS context from cfg's files. */
SSL_CTX *reload_tls_ctx(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_paths paths = {
	    .cert = cfg->cert, .key = cfg->key, .ca = cfg->ca, .crl = cfg->crl};

	return tls_server_ctx_new(&paths, err, errlen);
}

static bool same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Say whether the address a holds is b's, and a's port b's or 0 (any port). */
static bool same_bound(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	if (a->sa_family != b->sa_family) {
		return false;
	}
	if (a->sa_family == AF_INET) {
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr &&
		       (a4->sin_port == 0 || a4->sin_port == b4->sin_port);
	}
	return a->sa_family == AF_INET6 &&
	       memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0 &&
	       (a6->sin6_port == 0 || a6->sin6_port == b6->sin6_port);
}

/* Say whether host:port names what fd is bound to: "port 0" in the file the hub started from,
 * then the port it picked written in, is no change. */
static bool reload_bound_unchanged(evutil_socket_t fd, const char *host, const char *port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	struct sockaddr_storage bound;
	socklen_t len = sizeof(bound);
	bool same_addr;

	/* Resolved as the listeners do at start: the first address is the one bound. */
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&bound, &len) < 0 ||
	    getaddrinfo(host, port, &hints, &res) != 0) {
		return false;
	}
	same_addr = same_bound(res->ai_addr, (const struct sockaddr *)&bound);
	freeaddrinfo(res);
	return same_addr;
}

/* Say whether cfg's [server] listen names what the hub's partners' listener is bound to. */
static bool reload_listen_unchanged(const struct hub *hub, const struct config *cfg)
{
	if (same(hub->cfg->listen_host, cfg->listen_host) &&
	    same(hub->cfg->listen_port, cfg->listen_port)) {
		return true;
	}
	return hub->listener != NULL && reload_bound_unchanged(evconnlistener_get_fd(hub->listener),
	                                                       cfg->listen_host, cfg->listen_port);
}

/* Say whether cfg's [metrics] listen names what the hub's metrics listener is bound to. */
static bool reload_metrics_unchanged(const struct hub *hub, const struct config *cfg)
{
	char port[8];

	if (same(hub->cfg->metrics_host, cfg->metrics_host) &&
	    hub->cfg->metrics_port == cfg->metrics_port) {
		return true;
	}
	if (hub->cfg->metrics_host == NULL || cfg->metrics_host == NULL) {
		return false;
	}
	snprintf(port, sizeof(port), "%u", cfg->metrics_port);
	return reload_bound_unchanged(hub->metrics_fd, cfg->metrics_host, port);
}

/* Say whether cfg's [web] listen names what the hub's HTTPS listener is bound to (or both have
 * none). */
static bool reload_web_unchanged(const struct hub *hub, const struct config *cfg)
{
	if (same(hub->cfg->web_host, cfg->web_host) && same(hub->cfg->web_port, cfg->web_port)) {
		return true;
	}
	return hub->web_listener != NULL && cfg->web_host != NULL &&
	       reload_bound_unchanged(evconnlistener_get_fd(hub->web_listener), cfg->web_host,
	                              cfg->web_port);
}

/* Refuse what a running daemon cannot take: its sockets, its open database and its user were
 * set up once at start. Certificate, key, CA and CRL paths may change: TLS is rebuilt. */
static int reload_check_live(const struct hub *hub, const struct config *cfg, char *err,
                             size_t errlen)
{
	const struct config *old = hub->cfg;
	const char *key = NULL;

	if (!reload_listen_unchanged(hub, cfg)) {
		key = "listen";
	} else if (!same(old->database, cfg->database)) {
		key = "database";
	} else if (!same(old->user, cfg->user)) {
		key = "user";
	} else if (!reload_metrics_unchanged(hub, cfg)) {
		snprintf(err, errlen, "restart refexd to change [metrics] listen");
		return -1;
	} else if (!reload_web_unchanged(hub, cfg)) {
		snprintf(err, errlen, "restart refexd to change [web] listen");
		return -1;
	}
	if (key != NULL) {
		snprintf(err, errlen, "restart refexd to change [server] %s", key);
		return -1;
	}
	return 0;
}

/* Log values sit inside double quotes: a quote in a config error must not end them early. */
static void reload_log_refused(char *err)
{
	log_unquote(err);
	log_error("msg=reload-refused reason=\"%s\" note=\"the old configuration stays in force\"",
	          err);
}

/* Put cfg, tls (with crl, its CRL DER-encoded) and lists in force and free what they replace.
 * Cannot fail. */
static void reload_swap(struct hub *hub, struct config *cfg, SSL_CTX *tls, unsigned char *crl,
                        size_t crl_len, struct session_list *lists, struct form_set *forms,
                        struct form_versions *kept)
{
	session_rebind_all(hub, cfg, lists);
	free(hub->by_agency);
	hub->by_agency = lists;
	/* Nothing keeps a pointer into the old configuration across a callback (hub.h). */
	config_free(hub->cfg);
	hub->cfg = cfg;
	/* Live connections hold their own reference to the context they were accepted with. */
	SSL_CTX_free(hub->tls);
	hub->tls = tls;
	OPENSSL_free(hub->crl_der);
	hub->crl_der = crl;
	hub->crl_der_len = crl_len;
	log_set_level((enum log_level)cfg->log_level);
	hub_set_forms(hub, forms);
	hub_set_kept(hub, kept);
	web_apply_limits(hub->web); /* the wire door reads cfg's limits afresh */
}

/* A reload under way: what was prepared, waiting for the forms' versions to be recorded. */
struct reload_op {
	struct hub *hub;
	struct config *cfg;
	SSL_CTX *tls;
	unsigned char *crl;
	int crl_len;
	struct session_list *lists;
	struct form_set *forms;
	reload_done_fn done;
};

/* Free what op prepared, log the refusal (err) and tell its caller. */
static void reload_refuse(struct reload_op *op, const char *err)
{
	char why[FORMS_DIR_ERR];

	snprintf(why, sizeof(why), "%s", err);
	free(op->lists);
	form_set_free(op->forms);
	OPENSSL_free(op->crl);
	SSL_CTX_free(op->tls);
	config_free(op->cfg);
	reload_log_refused(why);
	op->done(op->hub, -1);
	free(op);
}

/* Put what op prepared in force, with kept, and close what the new configuration refuses. */
static void reload_commit(struct reload_op *op, struct form_versions *kept)
{
	struct hub *hub = op->hub;
	size_t removed, revoked;

	reload_swap(hub, op->cfg, op->tls, op->crl, (size_t)op->crl_len, op->lists, op->forms,
	            kept);
	removed = session_close_unpartnered(hub);
	revoked = session_recheck_all(hub);
	log_notice("msg=reloaded agencies=%zu forms=%zu form_rules=%zu closed_removed=%zu "
	           "closed_revoked=%zu",
	           hub->cfg->n_agencies, form_count(), hub->cfg->n_forms, removed, revoked);
	op->done(hub, 0);
	free(op);
}

/* The forms' versions are recorded (kept) or not (err): finish op, then a reload asked for
 * meanwhile. */
static void reload_synced(struct form_versions *kept, const char *err, void *arg)
{
	struct reload_op *op = arg;
	struct hub *hub = op->hub;
	reload_done_fn done = op->done;

	hub->reloading = false;
	if (kept != NULL && hub->stopping) {
		form_versions_free(kept);
		kept = NULL;
		err = "the hub is stopping";
	}
	if (kept == NULL) {
		reload_refuse(op, err);
	} else {
		reload_commit(op, kept);
	}
	if (hub->reload_again && !hub->stopping) {
		hub->reload_again = false;
		reload_apply(hub, done);
	}
}

/* Build op's configuration, TLS context, CRL, forms and lists; -1 with err. */
static int reload_prepare(struct reload_op *op, char *err, size_t errlen)
{
	struct hub *hub = op->hub;

	if ((op->cfg = config_load(hub->cfg->path, err, errlen)) == NULL ||
	    reload_check_live(hub, op->cfg, err, errlen) < 0 ||
	    (op->tls = reload_tls_ctx(op->cfg, err, errlen)) == NULL ||
	    (op->forms = forms_dir_load_for(op->cfg, err, errlen)) == NULL) {
		return -1;
	}
	if ((op->crl_len = crl_keep_ctx_der(op->tls, &op->crl)) < 0 ||
	    (op->lists = hub_agency_lists_new(op->cfg->n_agencies)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Re-read the configuration and TLS files and apply them all or not at all, without holding
 * the loop while the database records the forms' versions. */
void reload_apply(struct hub *hub, reload_done_fn done)
{
	char err[FORMS_DIR_ERR];
	struct reload_op *op;

	if (hub->reloading) {
		hub->reload_again =
		    true; /* one more, once this one ends: it reads the files then */
		log_info("msg=\"reload queued\" reason=\"a reload is under way\"");
		return;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		reload_log_refused(err);
		done(hub, -1);
		return;
	}
	op->hub = hub;
	op->done = done;
	if (reload_prepare(op, err, sizeof(err)) < 0) {
		reload_refuse(op, err);
		return;
	}
	/* Last: it records the new form versions, so nothing after it may fail. */
	hub->reloading = true;
	form_versions_sync_async(hub->store, op->forms, reload_synced, op);
}
