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
#include <unistd.h>

#include "config.h"
#include "form.h"
#include "form_versions.h"
#include "forms_dir.h"
#include "hub.h"
#include "hub_news.h"
#include "listener.h"
#include "log.h"
#include "metrics_http.h"
#include "privdrop.h"
#include "reload.h"
#include "report_cli.h"
#include "session.h"
#include "store.h"
#include "tls.h"
#include "web.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: refexd --config FILE [--user NAME] [--check-config | --verify-audit]\n"
	        "       refexd --config FILE --report [--from DATE] [--to DATE]\n"
	        "              [--by pathway|form|month] [--csv | --json]\n"
	        "       refexd --check-forms DIR [--config FILE]\n"
	        "\n"
	        "The refex hub: partner agencies connect over mutual TLS to exchange referrals.\n"
	        "\n"
	        "  -c, --config FILE    configuration file (INI; see the README)\n"
	        "  -u, --user NAME      after binding and reading the keys as root, run as NAME\n"
	        "                       (overrides [server] user)\n"
	        "  -t, --check-config   check the configuration, its TLS files and forms, then exit\n"
	        "      --verify-audit   check the audit trail's hash chain in the database, name\n"
	        "                       its first broken entry, then exit (1 if broken)\n"
	        "      --report         print the partnership's outcomes report (every pathway, no\n"
	        "                       client data, counts under [report] min_count withheld)\n"
	        "                       from the database, then exit; refexd need not be running\n"
	        "      --from DATE, --to DATE\n"
	        "                       the report's period, YYYY-MM-DD (UTC), both days included\n"
	        "                       (default: the 90 days up to today)\n"
	        "      --by GROUPING    group the report by pathway (default), form or month\n"
	        "      --csv, --json    print the report as CSV or JSON, not as a table\n"
	        "      --check-forms DIR\n"
	        "                       compile DIR's .proto files with protoc and check them as\n"
	        "                       agreed forms: list each form, name each refused field and\n"
	        "                       why, then exit (1 if any is refused); with --config, also\n"
	        "                       compare them with the form versions the hub's database\n"
	        "                       keeps: new forms and versions, unchanged ones, those that\n"
	        "                       would be retired, and every refused change\n"
	        "  -h, --help           show this help\n"
	        "  -V, --version        show the version\n"
	        "\n"
	        "Signals: SIGTERM or SIGINT stop gracefully (in-flight writes and replies finish,\n"
	        "for at most 10 s); a second one stops at once. SIGHUP reloads the configuration\n"
	        "file (agencies, forms, limits) with the certificate, key, CA, CRL and the forms\n"
	        "directory: all or nothing, a broken file leaves the old ones in force.\n");
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct hub *hub = arg;

	(void)what;
	log_info("msg=signal signal=%s", sig == SIGTERM ? "TERM" : "INT");
	if (hub->stopping) {
		hub_stop_now(hub); /* the operator asked twice: do not wait any longer */
	} else {
		hub_stop(hub);
	}
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

/* A reload has ended: say when the files now in force age. */
static void on_reloaded(struct hub *hub, int rc)
{
	if (rc == 0) {
		warn_expiry(hub->tls);
	}
}

/* SIGHUP: re-read the configuration and TLS files and swap them in, all or nothing
 * (reload.c); the reason for a refusal is logged there. */
static void on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
	struct hub *hub = arg;

	(void)sig;
	(void)what;
	if (hub->stopping) {
		log_warnx("msg=\"reload ignored\" reason=\"stopping\"");
		return;
	}
	reload_apply(hub, on_reloaded);
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

/* Become the configured user once the socket is bound and the keys are read; running on as
 * root is allowed but said. */
static int drop_privileges(const struct privdrop *pd)
{
	char err[512];

	if (pd == NULL) {
		if (geteuid() == 0) {
			log_warnx("msg=\"running as root\" hint=\"use --user or [server] user\"");
		}
		return 0;
	}
	if (privdrop_apply(pd, err, sizeof(err)) < 0) {
		log_error("msg=\"cannot drop privileges\" reason=\"%s\"", err);
		return -1;
	}
	log_info("msg=\"running as\" user=%s uid=%lu gid=%lu", pd->name, (unsigned long)pd->uid,
	         (unsigned long)pd->gid);
	return 0;
}

static int install_events(struct hub *hub, struct event *ev[4])
{
	struct timeval twice_a_day = {.tv_sec = 12 * 3600};

	/* Signals first: once the listening line is out, a SIGTERM must already be graceful. */
	ev[0] = evsignal_new(hub->base, SIGTERM, on_stop_signal, hub);
	ev[1] = evsignal_new(hub->base, SIGINT, on_stop_signal, hub);
	ev[2] = evsignal_new(hub->base, SIGHUP, on_reload_signal, hub);
	/* Twice a day, so a daemon that runs for months still says when its files age. */
	ev[3] = event_new(hub->base, -1, EV_PERSIST, on_expiry_timer, hub);
	for (int i = 0; i < 4; i++) {
		if (ev[i] == NULL || event_add(ev[i], i == 3 ? &twice_a_day : NULL) < 0) {
			log_error("msg=\"cannot install signal handlers and timers\"");
			return -1;
		}
	}
	return 0;
}

/* Run the hub on cfg (owned: a reload may replace it) as pd's user (NULL: stay). */
static int run(struct config *cfg, const struct privdrop *pd)
{
	char err[FORMS_DIR_ERR], where[512];
	struct event_base *base = NULL;
	struct event *ev[4] = {NULL};
	struct store *st = NULL;
	struct hub *hub = NULL;
	struct metrics_http *metrics = NULL;
	struct form_set *forms;
	struct form_versions *kept;
	struct web *web = NULL;
	SSL_CTX *tls = reload_tls_ctx(cfg, err, sizeof(err));
	int rc = 1;

	if (tls == NULL) {
		log_error("msg=\"cannot set up TLS\" reason=\"%s\"", err);
		config_free(cfg);
		return 1;
	}
	warn_expiry(tls);
	raise_fd_limit(cfg);
	if ((base = loop_new()) == NULL) {
		log_error("msg=\"cannot create the event loop\"");
		goto done;
	}
	if ((hub = hub_new(base, cfg, tls, NULL)) == NULL) {
		log_error("msg=\"cannot start\" reason=\"out of memory\"");
		goto done;
	}
	if ((forms = forms_dir_load_for(cfg, err, sizeof(err))) == NULL) {
		log_unquote(err);
		log_error("msg=\"cannot start\" reason=\"%s\"", err);
		goto done;
	}
	hub_set_forms(hub, forms);
	if (install_events(hub, ev) < 0) {
		goto done;
	}
	/* Before the partners' listener: once msg=listening is out, metrics are served too. */
	if (cfg->metrics_host != NULL &&
	    (metrics = metrics_http_start(hub, err, sizeof(err))) == NULL) {
		log_error("msg=\"cannot start\" reason=\"%s\"", err);
		goto done;
	}
	if (cfg->web_host != NULL && (web = web_start(hub, err, sizeof(err))) == NULL) {
		log_error("msg=\"cannot start\" reason=\"%s\"", err);
		goto done;
	}
	if (listener_start(hub, err, sizeof(err)) < 0) {
		log_error("msg=\"cannot start\" reason=\"%s\"", err);
		goto done;
	}
	/* The database is opened as the user it runs as, so every file SQLite creates (the
	 * database, its -wal and -shm) belongs to that user and survives a restart. */
	if (drop_privileges(pd) < 0) {
		goto done;
	}
	store_location_safe(cfg->database, where, sizeof(where));
	if ((st = store_open(cfg->database, base, err, sizeof(err))) == NULL) {
		log_error("msg=\"cannot open the database\" path=%s reason=\"%s\"", where, err);
		goto done;
	}
	hub->store = st;
	/* The forms in force must be the versions kept, or compatible with them. */
	if ((kept = form_versions_sync(st, hub->forms, err, sizeof(err))) == NULL) {
		log_unquote(err);
		log_error("msg=\"cannot start\" reason=\"%s\"", err);
		goto done;
	}
	hub_set_kept(hub, kept);
	if (hub_news_start(hub) < 0) {
		log_error("msg=\"cannot start\" reason=\"out of memory\"");
		goto done;
	}
	log_notice("msg=started version=%s agencies=%zu forms=%zu database=%s", REFEX_VERSION,
	           cfg->n_agencies, form_count(), where);
	event_base_dispatch(base);
	rc = 0;
done:
	metrics_http_free(metrics);
	web_free(web);
	if (st != NULL) {
		log_info("msg=\"store closing\" commits=%zu", store_commit_count(st));
	}
	/* Closing the store runs the callbacks of any write still in flight. */
	store_close(st);
	for (int i = 0; i < 4; i++) {
		if (ev[i]) {
			event_free(ev[i]);
		}
	}
	if (hub) {
		tls = hub->tls; /* a reload may have replaced them */
		cfg = hub->cfg;
	}
	hub_free(hub);
	if (base) {
		event_base_free(base);
	}
	SSL_CTX_free(tls);
	config_free(cfg);
	if (rc == 0) {
		log_notice("msg=stopped");
	}
	return rc;
}

/* --check-config: the file, the TLS files and the forms it names and the user must all be
 * right. */
static int check_config(struct config *cfg)
{
	char err[FORMS_DIR_ERR];
	SSL_CTX *tls = reload_tls_ctx(cfg, err, sizeof(err));
	struct form_set *forms = tls ? forms_dir_load_for(cfg, err, sizeof(err)) : NULL;
	struct form_plan plan = {0};

	/* A PostgreSQL database must answer, with a schema this refexd can run. */
	if (forms != NULL && store_location_is_url(cfg->database) &&
	    store_pg_check(cfg->database, err, sizeof(err)) < 0) {
		char where[512], cause[512];

		store_location_safe(cfg->database, where, sizeof(where));
		snprintf(cause, sizeof(cause), "%.500s", err);
		snprintf(err, sizeof(err), "cannot use the database %s: %s", where, cause);
		form_set_free(forms);
		forms = NULL;
	}

	/* The forms must also be the versions the database keeps, or compatible with them. */
	if (forms != NULL &&
	    (form_versions_plan_at(cfg->database, forms, &plan, err, sizeof(err)) < 0 ||
	     form_plan_refusal(&plan, err, sizeof(err)) < 0)) {
		form_set_free(forms);
		forms = NULL;
	}
	form_plan_free(&plan);
	if (forms == NULL) {
		fprintf(stderr, "refexd: %s\n", err);
	} else {
		printf("refexd: configuration ok (%zu agencies, %zu forms)\n", cfg->n_agencies,
		       form_set_count(forms));
	}
	form_set_free(forms);
	SSL_CTX_free(tls);
	config_free(cfg);
	return forms ? 0 : 1;
}

/* --verify-audit: recompute the audit trail's hash chain and name its first broken entry. */
static int verify_audit(struct config *cfg)
{
	uint64_t entries, first_bad;
	char err[768];
	int rc = store_audit_verify(cfg->database, &entries, &first_bad, err, sizeof(err));

	if (rc < 0) {
		fprintf(stderr, "refexd: cannot read the audit trail: %s\n", err);
	} else if (first_bad > 0) {
		fprintf(stderr,
		        "refexd: the audit trail is broken at entry %llu: it was altered, removed "
		        "or reordered (%llu entries before it verify)\n",
		        (unsigned long long)first_bad, (unsigned long long)entries);
	} else {
		printf("refexd: audit trail ok (%llu entries)\n", (unsigned long long)entries);
	}
	config_free(cfg);
	return rc < 0 ? 1 : first_bad > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"user", required_argument, NULL, 'u'},
	    {"check-config", no_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"verify-audit", no_argument, NULL, 'A'},
	    {"check-forms", required_argument, NULL, 'F'},
	    {"report", no_argument, NULL, 'R'},
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 'T'},
	    {"by", required_argument, NULL, 'b'},
	    {"csv", no_argument, NULL, 'C'},
	    {"json", no_argument, NULL, 'J'},
	    {NULL, 0, NULL, 0},
	};
	struct report_cli rep = {0};
	bool report = false;
	const char *path = NULL, *user = NULL, *forms = NULL;
	bool check = false, verify = false;
	struct config *cfg;
	struct privdrop pd;
	char err[768];
	int c;

	while ((c = getopt_long(argc, argv, "c:u:thV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'A':
			verify = true;
			break;
		case 'F':
			forms = optarg;
			break;
		case 'R':
			report = true;
			break;
		case 'f':
			rep.from = optarg;
			break;
		case 'T':
			rep.to = optarg;
			break;
		case 'b':
			rep.by = optarg;
			break;
		case 'C':
		case 'J':
			if (rep.format != NULL) {
				fprintf(stderr, "refexd: --csv and --json do not go together\n");
				return 2;
			}
			rep.format = c == 'C' ? "csv" : "json";
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
	/* --check-forms needs no configuration: an admin checks a form before installing it.
	 * With one, it also says what the hub would make of it against the versions it keeps. */
	if (forms != NULL && path == NULL && optind == argc) {
		return forms_dir_check(forms, stdout);
	}
	if (path == NULL || optind != argc) {
		fprintf(stderr, "refexd: %s\n",
		        path == NULL && forms == NULL ? "--config FILE is required"
		                                        : "unexpected argument");
		usage(stderr);
		return 2;
	}
	if (!report && (rep.from || rep.to || rep.by || rep.format)) {
		fprintf(stderr, "refexd: --from, --to, --by, --csv and --json go with --report\n");
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "refexd: %s\n", err);
		return 1;
	}
	log_set_level((enum log_level)cfg->log_level);
	if (user == NULL) {
		user = cfg->user;
	}
	/* An unknown user is a start-up error, found before anything is bound or opened. */
	if (user != NULL && privdrop_lookup(user, &pd, err, sizeof(err)) < 0) {
		fprintf(stderr, "refexd: %s\n", err);
		config_free(cfg);
		return 1;
	}
	if (forms != NULL) {
		c = form_versions_check_dir(forms, cfg->database, stdout);
		config_free(cfg);
		return c;
	}
	if (check) {
		return check_config(cfg);
	}
	if (verify) {
		return verify_audit(cfg);
	}
	if (report) {
		c = report_cli_run(cfg, &rep);
		config_free(cfg);
		return c;
	}
	return run(cfg, user ? &pd : NULL);
}
