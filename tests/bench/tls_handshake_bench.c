/*
 * tls-handshake-bench: TLS 1.3 mutual-auth handshakes in one process, both ends
 * built by certs/tls.c, over a memory BIO pair: no sockets, no event loop. It
 * times each end's CPU separately, so libssl's own cost can be told apart from
 * refexd's and refex-bench's and profiled with perf or callgrind.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "identity.h"
#include "tls.h"

struct hs_opts {
	struct tls_paths server, client;
	const char *host;
	const char *groups, *suites; /* override the contexts' choices, to compare */
	long count;
};

/* Return the calling thread's CPU time in nanoseconds. */
static long long cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Run one step of ssl's handshake and add its CPU time to *ns. Returns SSL_get_error's
 * verdict, or SSL_ERROR_NONE once the handshake is complete. */
static int step(SSL *ssl, long long *ns)
{
	long long t0 = cpu_ns();
	int ret = SSL_do_handshake(ssl);
	int e = ret == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, ret);

	*ns += cpu_ns() - t0;
	return e;
}

/* Run one handshake between a new client and a new server SSL, then read the
 * server's view of the client the way refexd does. Returns 0 or -1. */
static int one_handshake(SSL_CTX *sctx, SSL_CTX *cctx, const char *host, long long *s_ns,
                         long long *c_ns)
{
	SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
	BIO *sb = NULL, *cb = NULL;
	struct identity id;
	char err[256];
	int se = SSL_ERROR_WANT_READ, ce = SSL_ERROR_WANT_READ, rc = -1;
	long long t0;

	if (s == NULL || c == NULL || tls_client_expect_host(c, host) < 0 ||
	    !BIO_new_bio_pair(&sb, 0, &cb, 0)) {
		goto done;
	}
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	for (int i = 0; i < 16 && (se != SSL_ERROR_NONE || ce != SSL_ERROR_NONE); i++) {
		if (ce != SSL_ERROR_NONE && (ce = step(c, c_ns)) > SSL_ERROR_WANT_WRITE) {
			goto done;
		}
		if (se != SSL_ERROR_NONE && (se = step(s, s_ns)) > SSL_ERROR_WANT_WRITE) {
			goto done;
		}
	}
	t0 = cpu_ns();
	rc = se == SSL_ERROR_NONE && ce == SSL_ERROR_NONE &&
	             SSL_get_verify_result(s) == X509_V_OK &&
	             identity_from_cert(SSL_get0_peer_certificate(s), &id, err, sizeof(err)) == 0
	         ? 0
	         : -1;
	*s_ns += cpu_ns() - t0;
done:
	if (rc < 0) {
		ERR_print_errors_fp(stderr);
	}
	t0 = cpu_ns();
	SSL_free(s);
	*s_ns += cpu_ns() - t0;
	t0 = cpu_ns();
	SSL_free(c);
	*c_ns += cpu_ns() - t0;
	return rc;
}

static void usage(FILE *fp)
{
	fprintf(fp, "usage: tls-handshake-bench --ca CA.crt [--crl CRL.pem] --server-cert S.crt "
	            "--server-key S.key\n"
	            "         --client-cert C.crt --client-key C.key [--host NAME_OR_IP] "
	            "[--count N]\n"
	            "         [--groups LIST] [--ciphersuites LIST]\n"
	            "Run N (default 2000) TLS 1.3 mutual-auth handshakes in memory with refex's "
	            "contexts and print\nthe CPU time per handshake of each end.\n");
}

/* Parse the command line into o; returns 0, or -1 on a usage error. */
static int parse_args(int argc, char **argv, struct hs_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (v == NULL) {
			return -1;
		}
		i++;
		if (strcmp(a, "--ca") == 0) {
			o->server.ca = o->client.ca = v;
		} else if (strcmp(a, "--crl") == 0) {
			o->server.crl = v;
		} else if (strcmp(a, "--server-cert") == 0) {
			o->server.cert = v;
		} else if (strcmp(a, "--server-key") == 0) {
			o->server.key = v;
		} else if (strcmp(a, "--client-cert") == 0) {
			o->client.cert = v;
		} else if (strcmp(a, "--client-key") == 0) {
			o->client.key = v;
		} else if (strcmp(a, "--host") == 0) {
			o->host = v;
		} else if (strcmp(a, "--groups") == 0) {
			o->groups = v;
		} else if (strcmp(a, "--ciphersuites") == 0) {
			o->suites = v;
		} else if (strcmp(a, "--count") == 0) {
			o->count = strtol(v, NULL, 10);
		} else {
			return -1;
		}
	}
	return o->server.ca && o->server.cert && o->server.key && o->client.cert && o->client.key &&
	               o->count > 0
	           ? 0
	           : -1;
}

int main(int argc, char **argv)
{
	struct hs_opts o = {.host = "127.0.0.1", .count = 2000};
	SSL_CTX *sctx = NULL, *cctx = NULL;
	long long s_ns = 0, c_ns = 0, ws = 0, wc = 0;
	char err[512];
	long ok = 0;
	struct timespec t0, t1;
	double wall;

	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if ((sctx = tls_server_ctx_new(&o.server, err, sizeof(err))) == NULL ||
	    (cctx = tls_client_ctx_new(&o.client, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tls-handshake-bench: %s\n", err);
		SSL_CTX_free(sctx);
		return 3;
	}
	if ((o.groups && (!SSL_CTX_set1_groups_list(sctx, o.groups) ||
	                  !SSL_CTX_set1_groups_list(cctx, o.groups))) ||
	    (o.suites && (!SSL_CTX_set_ciphersuites(sctx, o.suites) ||
	                  !SSL_CTX_set_ciphersuites(cctx, o.suites)))) {
		fprintf(stderr, "tls-handshake-bench: bad --groups or --ciphersuites\n");
		SSL_CTX_free(sctx);
		SSL_CTX_free(cctx);
		return 2;
	}
	/* One handshake first: what a process pays once (method fetches, caches) is not counted. */
	one_handshake(sctx, cctx, o.host, &ws, &wc);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < o.count; i++) {
		ok += one_handshake(sctx, cctx, o.host, &s_ns, &c_ns) == 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%ld handshakes (%ld failed) in %.3f s: %.0f/s on one core\n", o.count, o.count - ok,
	       wall, (double)o.count / wall);
	printf("server: %.1f us CPU per handshake (%.0f/s per core)\n",
	       (double)s_ns / 1e3 / o.count, 1e9 * (double)o.count / (double)s_ns);
	printf("client: %.1f us CPU per handshake (%.0f/s per core)\n",
	       (double)c_ns / 1e3 / o.count, 1e9 * (double)o.count / (double)c_ns);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return ok == o.count ? 0 : 1;
}
