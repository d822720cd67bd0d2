/* refexd: the refex hub daemon. */
#include <event2/event.h>
#include <getopt.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "hub.h"
#include "listener.h"
#include "log.h"
#include "metrics_http.h"
#include "session.h"
#include "store.h"
#include "tls.h"

#ifndef REFEX_VERSION
#define REFEX_VERSION "0.1.0"
#endif

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: refexd --config FILE [--check-config]\n"
	        "\n"
	        "The refex hub: partner agencies connect over mutual TLS to exchange referrals.\n"
	        "\n"
	        "  -c, --config FILE    configuration file (INI; see the README)\n"
	        "  -t, --check-config   check the configuration and TLS files, then exit\n"
	        "  -h, --help           show this help\n"
	        "  -V, --version        show the version\n"
	        "\n"
	        "Signals: SIGTERM or SIGINT stop gracefully (in-flight writes finish);\n"
	        "SIGHUP reloads the certificate, key, CA and CRL.\n");
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("msg=signal signal=%s", sig == SIGTERM ? "TERM" : "INT");
	hub_stop(arg);
}

static SSL_CTX *load_tls(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_paths paths = {
	    .cert = cfg->cert, .key = cfg->key, .ca = cfg->ca, .crl = cfg->crl};

	return tls_server_ctx_new(&paths, err, errlen);
}

/* Warn while there is time to act: our own certificate within 30 days of its end, the CRL
 * within 7 days of its next update (after that every partner would be refused). */
static void warn_expiry(SSL_CTX *tls)
{
	time_t now = time(NULL), cert_end, crl_next;

	if (tls_ctx_expiry(tls, &cert_end, &crl_next) < 0) {
		return;
	}
	if (cert_end - now < 30 * 86400) {
		log_warnx("msg=\"server certificate expires soon\" days_left=%lld",
		          (long long)((cert_end - now) / 86400));
	}
	if (crl_next != 0 && crl_next - now < 7 * 86400) {
		log_warnx(
		    "msg=\"CRL must be re-signed soon (refex-ca crl), or every partner will be "
		    "refused\" days_left=%lld",
		    (long long)((crl_next - now) / 86400));
	}
}

static void on_expiry_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	warn_expiry(((struct hub *)arg)->tls);
}

/* SIGHUP: build a new TLS context (certificate, CA, CRL) beside the old one and swap it in;
 * then close the connections whose certificate the new one refuses (a revoked holder). */
static void on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
	struct hub *hub = arg;
	char err[512];
	SSL_CTX *tls;

	(void)sig;
	(void)what;
	if ((tls = load_tls(hub->cfg, err, sizeof(err))) == NULL) {
		log_error("msg=\"reload refused; the old TLS files stay in force\" reason=\"%s\"",
		          err);
		return;
	}
	/* Live connections hold their own reference to the context they were accepted with. */
	SSL_CTX_free(hub->tls);
	hub->tls = tls;
	warn_expiry(tls);
	log_notice("msg=reloaded what=\"certificate, CA and CRL\" closed=%zu",
	           session_recheck_all(hub));
}

/* An event loop that batches epoll changes: a reply that is written at once adds and removes
 * its write event within one callback, and the changelist turns that into no syscall at all. */
static struct event_base *loop_new(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (ec == NULL) {
		return NULL;
	}
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

/* Raise the open-file limit to what the system allows: every connection is a descriptor. */
static void raise_fd_limit(const struct config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)cfg->limits.max_connections + 64) {
		log_warnx("msg=\"open-file limit below max_connections\" limit=%llu "
		          "max_connections=%u",
		          (unsigned long long)rl.rlim_cur, cfg->limits.max_connections);
	}
}

static int run(struct config *cfg)
{
	char err[512];
	struct event_base *base = NULL;
	struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL, *expiry = NULL;
	struct timeval twice_a_day = {.tv_sec = 12 * 3600};
	struct store *st = NULL;
	struct hub *hub = NULL;
	struct metrics_http *metrics = NULL;
	SSL_CTX *tls = load_tls(cfg, err, sizeof(err));
	int rc = 1;

	if (tls == NULL) {
		log_error("msg=\"cannot set up TLS\" reason=\"%s\"", err);
		return 1;
	}
	warn_expiry(tls);
	raise_fd_limit(cfg);
	if ((base = loop_new()) == NULL) {
		log_error("msg=\"cannot create the event loop\"");
		goto done;
	}
	if ((st = store_open(cfg->database, base, err, sizeof(err))) == NULL) {
		log_error("msg=\"cannot open the database\" path=%s reason=\"%s\"", cfg->database,
		          err);
		goto done;
	}
	if ((hub = hub_new(base, cfg, tls, st)) == NULL) {
		log_error("msg=\"cannot start\" reason=\"out of memory\"");
		goto done;
	}
	/* Signals first: once the listening line is out, a SIGTERM must already be graceful. */
	sigterm = evsignal_new(base, SIGTERM, on_stop_signal, hub);
	sigint = evsignal_new(base, SIGINT, on_stop_signal, hub);
	sighup = evsignal_new(base, SIGHUP, on_reload_signal, hub);
	if (!sigterm || !sigint || !sighup || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0 || evsignal_add(sighup, NULL) < 0) {
		log_error("msg=\"cannot install signal handlers\"");
		goto done;
	}
	/* Twice a day, so a daemon that runs for months still says when its files age. */
	expiry = event_new(base, -1, EV_PERSIST, on_expiry_timer, hub);
	if (expiry == NULL || event_add(expiry, &twice_a_day) < 0) {
		log_error("msg=\"cannot start the expiry timer\"");
		goto done;
	}
	/* Before the partners' listener: once msg=listening is out, metrics are served too. */
	if (cfg->metrics_host != NULL &&
	    (metrics = metrics_http_start(hub, err, sizeof(err))) == NULL) {
		log_error("msg=\"cannot start\" reason=\"%s\"", err);
		goto done;
	}
	if (listener_start(hub, err, sizeof(err)) < 0) {
		log_error("msg=\"cannot start\" reason=\"%s\"", err);
		goto done;
	}
	log_notice("msg=started version=%s agencies=%zu database=%s", REFEX_VERSION,
	           cfg->n_agencies, cfg->database);
	event_base_dispatch(base);
	rc = 0;
done:
	metrics_http_free(metrics);
	if (st != NULL) {
		log_info("msg=\"store closing\" commits=%zu", store_commit_count(st));
	}
	/* Closing the store runs the callbacks of any write still in flight. */
	store_close(st);
	if (sigterm) {
		event_free(sigterm);
	}
	if (sigint) {
		event_free(sigint);
	}
	if (sighup) {
		event_free(sighup);
	}
	if (expiry) {
		event_free(expiry);
	}
	if (hub) {
		tls = hub->tls; /* a reload may have replaced it */
	}
	hub_free(hub);
	if (base) {
		event_base_free(base);
	}
	SSL_CTX_free(tls);
	if (rc == 0) {
		log_notice("msg=stopped");
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	bool check = false;
	struct config *cfg;
	char err[768];
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:thV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("refexd %s\n", REFEX_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		fprintf(stderr, "refexd: %s\n",
		        path == NULL ? "--config FILE is required" : "unexpected argument");
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "refexd: %s\n", err);
		return 1;
	}
	log_set_level((enum log_level)cfg->log_level);
	if (check) {
		SSL_CTX *tls = load_tls(cfg, err, sizeof(err));

		if (tls == NULL) {
			fprintf(stderr, "refexd: %s\n", err);
		} else {
			printf("refexd: configuration ok (%zu agencies)\n", cfg->n_agencies);
		}
		SSL_CTX_free(tls);
		config_free(cfg);
		return tls ? 0 : 1;
	}
	rc = run(cfg);
	config_free(cfg);
	return rc;
}
