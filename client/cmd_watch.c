/* refex watch: print the agency's referral events as they happen, reconnecting when cut off. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "conn.h"
#include "output.h"
#include "retry.h"
#include "watch_print.h"

#define BACKOFF_FIRST_MS 500u
#define BACKOFF_MAX_MS   30000u

/* How one connection's watch ended. */
enum follow {
	FOLLOW_ON,      /* not over: carry on */
	FOLLOW_LOST,    /* the connection failed: reconnect (err says why) */
	FOLLOW_STOPPED, /* SIGINT or SIGTERM */
	FOLLOW_FAILED,  /* the hub refused the watch, or stdout is gone: exit with rc */
};

struct watch {
	struct cmd_ctx *ctx;
	int json;
	int has_last;         /* last holds the newest event printed, or where the watch began */
	uint64_t last;        /* what the next Watch asks for events after */
	uint64_t id;          /* the Watch request on this connection */
	int keepalive_ms;     /* every half of the hub's idle timeout; 0: none needed */
	int64_t keepalive_at; /* when to send the next one (monotonic ms) */
	uint64_t waiting_id;  /* a request still unanswered (the Watch or a keepalive), or 0 */
	int64_t waiting_since;
	int rc; /* the exit code with FOLLOW_FAILED */
};

static volatile sig_atomic_t stopping;
static int wake_pipe[2] = {-1, -1}; /* the signal handler writes, waits poll the read end */

static void on_signal(int sig)
{
	ssize_t n;

	(void)sig;
	stopping = 1;
	n = write(wake_pipe[1], "", 1);
	(void)n; /* a full pipe already wakes the loop */
}

/* End cleanly on SIGINT and SIGTERM: interrupt blocking calls, wake the loop's waits. */
static int catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: calls return EINTR */

	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		return -1;
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
		return -1;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parse --since SEQ; returns -1 to carry on, else an exit code. */
static int parse_since(struct cmd_ctx *ctx, const char *s, struct watch *w)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || end == s || s[0] == '-') {
		return cmd_usage_error(ctx, "--since wants a sequence number (0 or more), not '%s'",
		                       s);
	}
	w->has_last = 1;
	w->last = v;
	return -1;
}

/* Send the Watch request, asking for what came after the last event printed. */
static int send_watch(struct watch *w, char *err, size_t errlen)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__Watch watch = REFEX__WATCH__INIT;
	const Refex__Limits *lim = conn_limits(w->ctx->conn);

	watch.has_since = w->has_last;
	watch.since = w->last;
	req.body_case = REFEX__REQUEST__BODY_WATCH;
	req.watch = &watch;
	if (conn_send(w->ctx->conn, &req, err, errlen) < 0) {
		return -1;
	}
	w->id = w->waiting_id = req.id;
	w->waiting_since = now_ms();
	w->keepalive_ms =
	    lim && lim->has_idle_timeout_s && lim->idle_timeout_s > 0
	        ? (int)(lim->idle_timeout_s > 86400 ? 86400 : lim->idle_timeout_s) * 500
	        : 0;
	w->keepalive_at = now_ms() + w->keepalive_ms;
	return 0;
}

/* Ask for the form list: cheap, changes nothing, and tells the hub we are still here. */
static int send_keepalive(struct watch *w, char *err, size_t errlen)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListForms lf = REFEX__LIST_FORMS__INIT;

	req.body_case = REFEX__REQUEST__BODY_LIST_FORMS;
	req.list_forms = &lf;
	if (conn_send(w->ctx->conn, &req, err, errlen) < 0) {
		return -1;
	}
	if (!w->waiting_id) {
		w->waiting_id = req.id;
		w->waiting_since = now_ms();
	}
	w->keepalive_at = now_ms() + w->keepalive_ms;
	return 0;
}

/* The hub answered the Watch: say where the watch begins and whether events were lost. */
static enum follow watch_started(struct watch *w, const Refex__Response *resp, char *err,
                                 size_t errlen)
{
	const Refex__WatchReply *wr =
	    resp->body_case == REFEX__RESPONSE__BODY_WATCH ? resp->watch : NULL;
	struct conn_peer peer = conn_peer(w->ctx->conn);

	if (resp->status && resp->status->code == REFEX__STATUS_CODE__STATUS_UNAVAILABLE) {
		snprintf(err, errlen, "the hub is unavailable (%s)",
		         resp->status->message ? resp->status->message : "no reason given");
		return FOLLOW_LOST;
	}
	if (!resp->status || resp->status->code != REFEX__STATUS_CODE__STATUS_OK || !wr) {
		output_refusal(resp->status);
		w->rc = EXIT_REFUSED;
		return FOLLOW_FAILED;
	}
	if (w->has_last && wr->has_oldest_seq && wr->oldest_seq > w->last + 1) {
		fprintf(stderr,
		        "refex: warning: the hub no longer keeps events %" PRIu64 " to %" PRIu64
		        ": they are missed (refex inbox and refex sent show where things stand)\n",
		        w->last + 1, wr->oldest_seq - 1);
	}
	if (!w->has_last) {
		w->has_last = 1;
		w->last = wr->last_seq;
	}
	fputs("refex: watching ", stderr);
	output_text(stderr, peer.agency ? peer.agency : "-");
	fprintf(stderr, " from seq %" PRIu64, w->last);
	if (w->ctx->n_hubs > 1) {
		fputs(" on hub ", stderr);
		output_text(stderr, conn_address(w->ctx->conn));
	}
	fputc('\n', stderr);
	return FOLLOW_ON;
}

/* Print an event unless it was printed already; FOLLOW_FAILED when stdout is gone. */
static int on_event(struct watch *w, const Refex__Event *ev)
{
	if (!ev->has_seq || (w->has_last && ev->seq <= w->last)) {
		return 0; /* a replay overlapping what we printed before a reconnect */
	}
	if (watch_print_event(ev, w->json) < 0) {
		fprintf(stderr, "refex: cannot write to standard output: %s\n", strerror(errno));
		w->rc = EXIT_REFUSED;
		return -1;
	}
	w->has_last = 1;
	w->last = ev->seq;
	return 0;
}

/* Handle one message from the hub. */
static enum follow on_message(struct watch *w, const Refex__ServerMessage *sm, char *err,
                              size_t errlen)
{
	const Refex__Response *resp = sm->response;

	if (sm->body_case == REFEX__SERVER_MESSAGE__BODY_EVENT && sm->event) {
		return on_event(w, sm->event) < 0 ? FOLLOW_FAILED : FOLLOW_ON;
	}
	if (sm->body_case != REFEX__SERVER_MESSAGE__BODY_RESPONSE || !resp) {
		return FOLLOW_ON;
	}
	if (resp->id == w->waiting_id) {
		w->waiting_id = 0;
	}
	if (resp->id == w->id) {
		return watch_started(w, resp, err, errlen);
	}
	if (resp->id == 0) {
		/* The hub could not read a request: it closes the connection after saying so. */
		snprintf(err, errlen, "the hub refused a request: %s",
		         resp->status && resp->status->message ? resp->status->message
		                                               : "no reason");
		return FOLLOW_LOST;
	}
	return FOLLOW_ON; /* a keepalive's answer */
}

/* How long to wait for the next message: until the keepalive is due, at most. */
static int wait_ms(const struct watch *w)
{
	int64_t now = now_ms(), until = now + 3600 * 1000;

	if (w->keepalive_ms > 0 && w->keepalive_at < until) {
		until = w->keepalive_at;
	}
	if (w->waiting_id && w->waiting_since + CONN_REPLY_TIMEOUT_S * 1000 < until) {
		until = w->waiting_since + CONN_REPLY_TIMEOUT_S * 1000;
	}
	return until > now ? (int)(until - now) : 0;
}

/* Nothing came within wait_ms: send the keepalive, or give up on a hub that went quiet. */
static int on_quiet(struct watch *w, char *err, size_t errlen)
{
	int64_t now = now_ms();

	if (w->waiting_id && now >= w->waiting_since + CONN_REPLY_TIMEOUT_S * 1000) {
		snprintf(err, errlen, "the hub did not answer within %d seconds",
		         CONN_REPLY_TIMEOUT_S);
		return -1;
	}
	if (w->keepalive_ms > 0 && now >= w->keepalive_at) {
		return send_keepalive(w, err, errlen);
	}
	return 0;
}

/* Watch on the open connection until it fails or a signal comes. */
static enum follow follow(struct watch *w, char *err, size_t errlen)
{
	Refex__ServerMessage *sm;
	enum follow f;
	int r;

	if (send_watch(w, err, errlen) < 0) {
		return FOLLOW_LOST;
	}
	while (!stopping) {
		r = conn_wait(w->ctx->conn, wait_ms(w), wake_pipe[0], &sm, err, errlen);
		if (r < 0) {
			return stopping ? FOLLOW_STOPPED : FOLLOW_LOST;
		}
		if (r == 0) {
			if (!stopping && on_quiet(w, err, errlen) < 0) {
				return FOLLOW_LOST;
			}
			continue;
		}
		f = on_message(w, sm, err, errlen);
		refex__server_message__free_unpacked(sm, NULL);
		if (f != FOLLOW_ON) {
			return f;
		}
	}
	return FOLLOW_STOPPED;
}

/* Wait out the backoff (a signal cuts it short) and double it for next time; next says the
 * next hub of the list is the first to try. */
static void back_off(unsigned *backoff, const char *what, const char *err, int next)
{
	unsigned ms = retry_jitter(*backoff);
	struct pollfd p = {.fd = wake_pipe[0], .events = POLLIN};

	fprintf(stderr, "refex: %s: %s; reconnecting%s in %.1f s\n", what, err,
	        next ? " to the next hub" : "", ms / 1000.0);
	if (!stopping) {
		poll(&p, 1, (int)ms);
	}
	*backoff = *backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff * 2;
}

/* Connect, watch, and reconnect whenever the connection is lost, until a signal. */
static int run(struct watch *w)
{
	unsigned backoff = BACKOFF_FIRST_MS;
	int connected = 0, network, rc, next;
	char err[4096];
	enum follow f;

	while (!stopping) {
		if ((rc = cmd_connect(w->ctx, err, sizeof(err), &network)) != EXIT_DONE) {
			if (stopping) {
				break;
			}
			/* The first connection must work; after that only the network may fail. */
			if (!connected || !network) {
				fprintf(stderr, "refex: %s\n", err);
				return rc;
			}
			back_off(&backoff, "cannot reconnect", err, 0);
			continue;
		}
		connected = 1;
		backoff = BACKOFF_FIRST_MS;
		w->rc = EXIT_DONE;
		f = follow(w, err, sizeof(err));
		if (f == FOLLOW_LOST && !stopping) {
			/* Resumed on the next hub from the last event printed: they share the
			 * events. */
			next = cmd_move_on(w->ctx, err, sizeof(err));
			back_off(&backoff, "connection lost", err, next);
		}
		cmd_close(w->ctx);
		if (f == FOLLOW_FAILED) {
			return w->rc;
		}
	}
	return EXIT_DONE;
}

/* Print the agency's events as they happen. */
static int cmd_watch_exec(struct cmd_ctx *ctx, const struct args *args)
{
	struct watch w = {.ctx = ctx, .json = args_has(args, "json") > 0};
	const char *since = args_get(args, "since");
	int rc;

	if (since && (rc = parse_since(ctx, since, &w)) >= 0) {
		return rc;
	}
	if (catch_signals() < 0) {
		fprintf(stderr, "refex: cannot set up signal handling: %s\n", strerror(errno));
		return EXIT_REFUSED;
	}
	rc = run(&w);
	fflush(stdout);
	return rc;
}

const struct cmd_entry cmd_watch_entry = {
    .name = "watch",
    .usage = "[--since SEQ] [--json]",
    .summary = "print your agency's referral events as they happen",
    .args = {"since=SEQ json", 0, 0, {NULL}},
    .options = "  --since SEQ         first replay the events after SEQ that the hub still\n"
               "                      keeps (SEQ as printed by an earlier watch)\n"
               "  --json              one JSON object per event and line (canonical\n"
               "                      protobuf mapping of Event)\n",
    .notes = "Prints one line per event: its sequence number, kind (submitted, changed,\n"
             "overdue), the referral, sender -> recipient, form and state; for a change,\n"
             "who made it and why. Runs until interrupted (Ctrl-C or SIGTERM: exit 0).\n"
             "If the connection is lost it reconnects by itself (waiting 0.5 s, doubling\n"
             "to 30 s; with several hubs, to the next hub) and carries on after the last\n"
             "event it printed: nothing is missed or repeated, unless the hub no longer\n"
             "keeps those events (it says so).\n"
             "Every half of the hub's idle timeout it asks for the form list, so the hub\n"
             "does not close a quiet connection.\n",
    .exec = cmd_watch_exec,
};
