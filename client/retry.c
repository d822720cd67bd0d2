/* Requests that change something: an idempotency key each, and retries after a lost connection. */
#include "retry.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "conn.h"
#include "output.h"

/* The pauses before each retry: about ten seconds in all before refex gives up. */
static const unsigned retry_delays_ms[] = {1000, 3000, 6000};

#define RETRY_ATTEMPTS (1 + sizeof(retry_delays_ms) / sizeof(retry_delays_ms[0]))

/* Say whether key is 1-64 printable ASCII characters. */
int retry_key_is_valid(const char *key)
{
	size_t n = strlen(key), i;

	if (n < 1 || n > RETRY_KEY_MAX) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (key[i] < 0x20 || key[i] > 0x7e) {
			return 0;
		}
	}
	return 1;
}

/* Make a new random key of 32 hex characters. */
int retry_key_make(char key[RETRY_KEY_MAX + 1])
{
	unsigned char raw[16];
	size_t i;

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		return -1;
	}
	for (i = 0; i < sizeof(raw); i++) {
		snprintf(key + 2 * i, 3, "%02x", raw[i]);
	}
	return 0;
}

/* Return ms give or take a fifth, so that many clients cut off together do not return together. */
unsigned retry_jitter(unsigned ms)
{
	unsigned short r = 0;

	if (ms < 5 || RAND_bytes((unsigned char *)&r, sizeof(r)) != 1) {
		return ms;
	}
	return ms - ms / 5 + (unsigned)(r % (2 * (ms / 5) + 1));
}

/* Sleep for ms milliseconds, through signals. */
static void pause_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

/* Take --idempotency-key and --verbose when the command has them. */
int cmd_take_change(struct cmd_ctx *ctx, const struct args *a)
{
	const char *key = args_get(a, "idempotency-key");

	ctx->verbose = args_has(a, "verbose") > 0;
	if (key && !retry_key_is_valid(key)) {
		return cmd_usage_error(
		    ctx, "--idempotency-key wants 1-%d printable ASCII characters", RETRY_KEY_MAX);
	}
	ctx->idempotency_key = key;
	return -1;
}

/* Say whether the hub refused the request because its key was used for another (the field by
 * its JSON name; earlier hubs sent its proto name). */
static int is_key_conflict(const Refex__Status *st)
{
	return st && st->code == REFEX__STATUS_CODE__STATUS_CONFLICT && st->field &&
	       (strcmp(st->field, "idempotencyKey") == 0 ||
	        strcmp(st->field, "idempotency_key") == 0);
}

/* What one attempt came to. */
enum attempt {
	ATTEMPT_DONE,  /* answered: *rc says how */
	ATTEMPT_RETRY, /* the network failed or the hub is unavailable: err says how */
	ATTEMPT_NEXT,  /* as ATTEMPT_RETRY, on one hub of several: the next is the first to try */
};

/* Connect if needed and send req once; *sent is set once req has gone out on a connection. */
static enum attempt attempt_once(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response **resp,
                                 char *err, size_t errlen, int *rc, int *sent)
{
	int network, ret;

	if (!ctx->conn && (*rc = cmd_connect(ctx, err, errlen, &network)) != EXIT_DONE) {
		if (network) {
			return ATTEMPT_RETRY;
		}
		fprintf(stderr, "refex: %s\n", err);
		return ATTEMPT_DONE;
	}
	*sent = 1; /* even a failed write may have handed the hub part of it: count it sent */
	if ((ret = conn_call(ctx->conn, req, resp, err, errlen)) < 0) {
		network = ret == -1 && conn_failed_in_network(ctx->conn);
		if (network) { /* unusable now: on with the next hub, if there is one */
			return cmd_move_on(ctx, err, errlen) ? ATTEMPT_NEXT : ATTEMPT_RETRY;
		}
		cmd_close(ctx);
		fprintf(stderr, "refex: %s\n", err);
		*rc = ret == -2 ? EXIT_REFUSED : EXIT_CONNECT;
		return ATTEMPT_DONE;
	}
	if ((*resp)->status && (*resp)->status->code == REFEX__STATUS_CODE__STATUS_OK) {
		*rc = EXIT_DONE;
		return ATTEMPT_DONE;
	}
	if ((*resp)->status && (*resp)->status->code == REFEX__STATUS_CODE__STATUS_UNAVAILABLE) {
		snprintf(err, errlen, "the hub is unavailable (%s)",
		         (*resp)->status->message ? (*resp)->status->message : "no reason given");
		refex__response__free_unpacked(*resp, NULL);
		*resp = NULL;
		/* It may be shutting down, or without its database: another hub may not be. */
		return cmd_move_on(ctx, err, errlen) ? ATTEMPT_NEXT : ATTEMPT_RETRY;
	}
	if (is_key_conflict((*resp)->status)) {
		fprintf(stderr, "refex: this idempotency key was already used for a different "
		                "request; leave out --idempotency-key (or give a new key) to send "
		                "this one\n");
	} else {
		output_refusal((*resp)->status);
	}
	refex__response__free_unpacked(*resp, NULL);
	*resp = NULL;
	*rc = EXIT_REFUSED;
	return ATTEMPT_DONE;
}

/* Connect as cmd_connect does, trying again after a network failure with the pauses a change
 * makes between its attempts (every hub of a list is tried in each); says why when it fails. */
int cmd_connect_retrying(struct cmd_ctx *ctx)
{
	char err[4096];
	unsigned delay;
	int network, rc;

	for (size_t i = 0;; i++) {
		rc = cmd_connect(ctx, err, sizeof(err), &network);
		if (rc == EXIT_DONE) {
			return rc;
		}
		if (!network) {
			fprintf(stderr, "refex: %s\n", err);
			return rc;
		}
		if (i + 1 >= RETRY_ATTEMPTS) {
			break;
		}
		delay = retry_jitter(retry_delays_ms[i]);
		fprintf(stderr, "refex: %s; trying again in %.1f s (attempt %zu of %zu)\n", err,
		        delay / 1000.0, i + 2, (size_t)RETRY_ATTEMPTS);
		pause_ms(delay);
	}
	fprintf(stderr,
	        "refex: %s\n"
	        "refex: gave up after %zu attempts; nothing was sent to the hub: run the command "
	        "again once the hub can be reached\n",
	        err, (size_t)RETRY_ATTEMPTS);
	return rc;
}

/* Send req with an idempotency key, retrying with the same key after a lost connection. */
int cmd_call_change(struct cmd_ctx *ctx, Refex__Request *req, Refex__Response **resp)
{
	char made[RETRY_KEY_MAX + 1], err[4096] = "";
	enum attempt a;
	unsigned delay;
	size_t i, moved = 0;
	int rc = EXIT_CONNECT, sent = 0;

	*resp = NULL;
	if (!ctx->idempotency_key) {
		if (retry_key_make(made) < 0) {
			fprintf(stderr, "refex: cannot make an idempotency key (no randomness)\n");
			return EXIT_REFUSED;
		}
		ctx->idempotency_key = made;
	}
	req->idempotency_key = (char *)ctx->idempotency_key;
	if (ctx->verbose) {
		fprintf(stderr, "refex: idempotency key %s\n", ctx->idempotency_key);
	}
	for (i = 0; i < RETRY_ATTEMPTS; i++) {
		if ((a = attempt_once(ctx, req, resp, err, sizeof(err), &rc, &sent)) ==
		    ATTEMPT_DONE) {
			goto done;
		}
		/* The same key on the next hub at once, until every hub had its turn. */
		if (i + 1 < RETRY_ATTEMPTS && a == ATTEMPT_NEXT && ++moved < ctx->n_hubs) {
			fprintf(stderr, "refex: %s; trying the next hub now (attempt %zu of %zu)\n",
			        err, i + 2, (size_t)RETRY_ATTEMPTS);
		} else if (i + 1 < RETRY_ATTEMPTS) {
			delay = retry_jitter(retry_delays_ms[i]);
			fprintf(stderr, "refex: %s; trying again in %.1f s (attempt %zu of %zu)\n",
			        err, delay / 1000.0, i + 2, (size_t)RETRY_ATTEMPTS);
			pause_ms(delay);
		}
	}
	if (!sent) {
		/* No attempt got as far as sending it (refused, unreachable, TLS or Hello failed).
		 */
		fprintf(stderr,
		        "refex: %s\n"
		        "refex: gave up after %zu attempts; the request never reached the hub, so "
		        "nothing was done: run the command again once the hub can be reached\n",
		        err, (size_t)RETRY_ATTEMPTS);
	} else {
		fprintf(stderr,
		        "refex: %s\n"
		        "refex: gave up after %zu attempts; the hub may or may not have done it.\n"
		        "refex: to find out safely, run the same command again with "
		        "--idempotency-key %s\n",
		        err, (size_t)RETRY_ATTEMPTS, ctx->idempotency_key);
	}
	rc = EXIT_CONNECT;
done:
	if (ctx->idempotency_key == made) {
		ctx->idempotency_key = NULL; /* made lives on this stack only */
	}
	req->idempotency_key = NULL;
	return rc;
}
