/* refex doctor: check the config, certificate and connection step by step, in plain words. */
#include <errno.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "conn.h"
#include "hubs.h"
#include "identity.h"
#include "output.h"
#include "tls.h"

#define DOCTOR_WARN_DAYS 30 /* warn this long before the certificate ends */

/* What the checks found so far, and what later checks may use. */
struct doctor {
	int fails;
	int warns;
	struct client_config cfg;
	X509 *cert;             /* our certificate, once it parses */
	EVP_PKEY *key;          /* our key, once it parses */
	X509 *ca;               /* the network CA, once it parses */
	int tls_ready;          /* certificate, key and CA good enough to try a handshake */
	int hub_revoked;        /* the network's CRL revokes a hub's certificate */
	int answered[HUBS_MAX]; /* which hubs of the server list answered Hello */
	json_t *checks; /* --json: the checks so far, printed at the end; NULL: print each line */
};

/* Print one check's line: verdict, check name, what was found. Text from files and the
 * server goes through output_text, so it cannot drive the terminal. */
static void say(struct doctor *d, const char *verdict, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One check as JSON: {"check": ..., "verdict": ..., "message": ...}. A file name in the
 * message need not be UTF-8: then its other bytes become '?'. */
static json_t *check_json(const char *verdict, const char *check, char *message)
{
	json_t *msg = json_string(message);

	if (!msg) {
		for (char *p = message; *p; p++) {
			*p = (unsigned char)*p >= 0x80 ? '?' : *p;
		}
		msg = json_string(message);
	}
	return json_pack("{s:s, s:s, s:o*}", "check", check, "verdict", verdict, "message", msg);
}

static void say(struct doctor *d, const char *verdict, const char *check, const char *fmt, ...)
{
	char line[1536];
	va_list ap;

	if (strcmp(verdict, "FAIL") == 0) {
		d->fails++;
	} else if (strcmp(verdict, "warn") == 0) {
		d->warns++;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (d->checks) {
		json_array_append_new(d->checks, check_json(verdict, check, line));
		return;
	}
	printf("%-4s  %-18s ", verdict, check);
	output_text(stdout, line);
	putchar('\n');
}

/* The verdict word for a tls_check result. */
static const char *verdict(enum tls_check c)
{
	return c == TLS_CHECK_OK ? "ok" : c == TLS_CHECK_WARN ? "warn" : "FAIL";
}

/* Name the global flags that were given, e.g. " --server --cert", into buf. */
static const char *flags_given(const struct cmd_globals *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", o->server ? " --server" : "", o->cert ? " --cert" : "",
	         o->key ? " --key" : "", o->ca ? " --ca" : "");
	return buf;
}

/* Check that the config file (or the flags) say where and with what to connect. */
static void check_config(struct doctor *d, const struct cmd_ctx *ctx)
{
	char err[1024], flags[64];

	flags_given(&ctx->opt, flags, sizeof(flags));
	if (client_config_load(&d->cfg, &ctx->opt, err, sizeof(err)) < 0) {
		say(d, "FAIL", "config", "%s", err);
	} else if (d->cfg.path && flags[0]) {
		say(d, "ok", "config", "read %s; given on the command line:%s", d->cfg.path, flags);
	} else if (d->cfg.path) {
		say(d, "ok", "config", "read %s", d->cfg.path);
	} else {
		say(d, "ok", "config", "no config file read; using the flags%s", flags);
	}
}

/* Check the certificate file: present, readable, a PEM certificate, and what kind. */
static void check_cert_file(struct doctor *d)
{
	char err[1024];
	struct identity ids;

	if (!d->cfg.cert) {
		say(d, "skip", "certificate file", "no certificate configured (see above)");
		return;
	}
	if (!(d->cert = tls_read_cert(d->cfg.cert, err, sizeof(err)))) {
		say(d, "FAIL", "certificate file", "%s", err);
		return;
	}
	identity_cert_ids(d->cert, &ids);
	say(d, "ok", "certificate file", "%s: a %s, serial %s", d->cfg.cert, tls_cert_kind(d->cert),
	    ids.serial);
}

/* Check the key file: present, readable by its owner only, a PEM key without passphrase. */
static void check_key_file(struct doctor *d)
{
	char err[1024];
	enum tls_check mode;

	if (!d->cfg.key) {
		say(d, "skip", "key file", "no private key configured (see above)");
		return;
	}
	if (!(d->key = tls_read_key(d->cfg.key, err, sizeof(err)))) {
		say(d, "FAIL", "key file", "%s", err);
		return;
	}
	mode = tls_check_key_mode(d->cfg.key, err, sizeof(err));
	say(d, verdict(mode), "key file", "%s", err);
}

/* Check the CA file: present, readable, a CA certificate, in date. */
static void check_ca_file(struct doctor *d)
{
	char err[1024], name[256] = "";
	enum tls_check dates;

	if (!d->cfg.ca) {
		say(d, "skip", "CA file", "no network CA configured (see above)");
		return;
	}
	if (!(d->ca = tls_read_cert(d->cfg.ca, err, sizeof(err)))) {
		say(d, "FAIL", "CA file", "%s", err);
		return;
	}
	X509_NAME_get_text_by_NID(X509_get_subject_name(d->ca), NID_commonName, name,
	                          (int)sizeof(name));
	if (strcmp(tls_cert_kind(d->ca), "CA certificate") != 0) {
		say(d, "FAIL", "CA file",
		    "%s is a %s, not the network's CA certificate (set ca= to the ca.crt your "
		    "partnership admin gave you)",
		    d->cfg.ca, tls_cert_kind(d->ca));
		X509_free(d->ca);
		d->ca = NULL;
		return;
	}
	dates = tls_check_cert_dates(d->ca, DOCTOR_WARN_DAYS, err, sizeof(err));
	if (dates != TLS_CHECK_OK) {
		say(d, verdict(dates), "CA file", "%s (\"%s\"): %s", d->cfg.ca, name, err);
	} else {
		say(d, "ok", "CA file", "%s: the CA \"%s\"", d->cfg.ca, name);
	}
	if (dates == TLS_CHECK_FAIL) {
		X509_free(d->ca);
		d->ca = NULL;
	}
}

/* Check that the key belongs to the certificate. */
static int check_key_match(struct doctor *d)
{
	char msg[512];
	enum tls_check c;

	if (!d->cert || !d->key) {
		return -1;
	}
	c = tls_check_key_matches(d->cert, d->key, msg, sizeof(msg));
	if (c == TLS_CHECK_OK) {
		say(d, "ok", "key matches", "%s", msg);
		return 0;
	}
	say(d, "FAIL", "key matches", "%s: key %s, certificate %s", msg, d->cfg.key, d->cfg.cert);
	return -1;
}

/* Check that the certificate is a partner certificate and say whose; returns 0 or -1. */
static int check_identity(struct doctor *d)
{
	struct identity id;
	char err[512];
	const char *kind = tls_cert_kind(d->cert);

	if (identity_from_cert(d->cert, &id, err, sizeof(err)) == 0) {
		say(d, "ok", "partner identity", "agency %s, holder %s", id.agency, id.holder);
		return 0;
	}
	if (strcmp(kind, "server certificate") == 0) {
		say(d, "FAIL", "partner identity",
		    "%s is a server certificate (for refexd), not a partner certificate: set "
		    "certificate= and key= to the files 'refex-ca issue' made for you",
		    d->cfg.cert);
	} else if (strcmp(kind, "CA certificate") == 0) {
		say(d, "FAIL", "partner identity",
		    "%s is a CA certificate, not a partner certificate: set certificate= and "
		    "key= to the files 'refex-ca issue' made for you",
		    d->cfg.cert);
	} else {
		say(d, "FAIL", "partner identity", "%s: %s", d->cfg.cert, err);
	}
	return -1;
}

/* Say whether a verify error means the issuer is not the CA we trust. */
static int is_issuer_error(long vr)
{
	return vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	       vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	       vr == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
	       vr == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	       vr == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	       vr == X509_V_ERR_CERT_SIGNATURE_FAILURE;
}

/* Check that the certificate chains to the configured CA, for client use when purpose is
 * X509_PURPOSE_SSL_CLIENT (0: any use, when the wrong kind was already reported). */
static void check_chain(struct doctor *d, int purpose)
{
	char msg[512], issuer[256] = "";
	long vr = X509_V_OK;

	if (tls_check_cert_chain(d->cert, d->cfg.ca, purpose, &vr, msg, sizeof(msg)) ==
	    TLS_CHECK_OK) {
		say(d, "ok", "issued by CA", "the certificate was issued by this network's CA");
		return;
	}
	if (is_issuer_error(vr)) {
		X509_NAME_get_text_by_NID(X509_get_issuer_name(d->cert), NID_commonName, issuer,
		                          (int)sizeof(issuer));
		say(d, "FAIL", "issued by CA",
		    "the certificate was not issued by this network's CA (%s) but by \"%s\": ask "
		    "your partnership admin for a certificate from the network's CA",
		    d->cfg.ca, issuer);
	} else {
		say(d, "FAIL", "issued by CA", "%s", msg);
	}
}

/* Check what can be checked of the certificate without the network. */
static void check_certificate(struct doctor *d)
{
	char msg[512];
	enum tls_check dates;
	int matched = check_key_match(d), partner;

	if (!d->cert) {
		return;
	}
	dates = tls_check_cert_dates(d->cert, DOCTOR_WARN_DAYS, msg, sizeof(msg));
	say(d, verdict(dates), "certificate dates", "%s", msg);
	partner = check_identity(d) == 0;
	if (d->ca) {
		check_chain(d, partner ? X509_PURPOSE_SSL_CLIENT : 0);
	}
	/* An expired or foreign certificate is still worth a handshake: the hub's answer
	 * confirms the finding, and the server's side is checked all the same. */
	d->tls_ready = matched == 0 && d->ca != NULL;
}

/* Say why the TCP connection failed, with what to do about it (verdict: how much it matters). */
static void say_dial_failure(struct doctor *d, const char *verdict, const char *server,
                             const char *err, int e)
{
	if (e == ECONNREFUSED) {
		say(d, verdict, "connection",
		    "nothing answers on %s (connection refused): is refexd running on %s?", server,
		    server);
	} else if (e == ETIMEDOUT) {
		say(d, verdict, "connection",
		    "no answer from %s within %d seconds: is the address right, or is a firewall "
		    "in the way?",
		    server, CONN_CONNECT_TIMEOUT_S);
	} else {
		say(d, verdict, "connection", "%s", err);
	}
}

/* Print the HelloReply: who the server sees, and its limits. */
static void say_hello_ok(struct doctor *d, const struct conn *c)
{
	struct conn_peer p = conn_peer(c);
	const Refex__Limits *l = conn_limits(c);
	char limits[256] = "";

	if (l) {
		snprintf(limits, sizeof(limits),
		         "; limits: requests up to %u bytes, idle timeout %u s, pages of up to %u",
		         l->max_frame, l->idle_timeout_s, l->page_size_max);
	}
	say(d, "ok", "hello", "%s knows you as agency %s (%s), holder %s%s",
	    p.server ? p.server : "the server", p.agency ? p.agency : "?",
	    p.agency_name ? p.agency_name : "?", p.holder ? p.holder : "?", limits);
}

/* Report the revocation list the hub's certificate was checked against. */
static void say_revocation(struct doctor *d, const struct conn *c)
{
	char crl[128];
	int stale = 0;

	conn_crl_describe(c, crl, sizeof(crl), &stale);
	if (!crl[0]) {
		say(d, "ok", "hub revocation",
		    "no revocation list from the network's CA yet (the hub sends none): the hub's "
		    "certificate cannot be checked for revocation");
	} else if (stale) {
		say(d, "warn", "hub revocation",
		    "the hub's certificate is not revoked, but the network's CRL (%s) is out of "
		    "date: tell your partnership admin to re-sign it (refex-ca crl)",
		    crl);
	} else {
		say(d, "ok", "hub revocation",
		    "the hub's certificate is not on the network's revocation list (%s)", crl);
	}
}

/* Say Hello and report the server's answer (lost: the verdict on a failed network). Returns
 * 0 when the hub answered. */
static int check_hello(struct doctor *d, struct conn *c, const char *lost)
{
	char err[1024];
	int status = -1;

	if (conn_hello(c, err, sizeof(err), &status) == 0) {
		say_hello_ok(d, c);
		say_revocation(d, c);
		return 0;
	}
	if (status == REFEX__STATUS_CODE__STATUS_FORBIDDEN) {
		say(d, "FAIL", "hello",
		    "the server refused you: %s (ask the hub's admin to add your agency to the "
		    "partnership)",
		    err);
	} else if (status >= 0) {
		say(d, "FAIL", "hello", "the server refused our Hello: %s", err);
	} else {
		say(d, conn_failed_in_network(c) ? lost : "FAIL", "hello", "%s", err);
	}
	return -1;
}

/* Complete TLS on c and report (lost: the verdict on a failed network); returns 0 when Hello
 * may follow. */
static int check_tls(struct doctor *d, struct conn *c, const char *host, const char *lost)
{
	struct tls_paths paths = {
	    .cert = d->cfg.cert, .key = d->cfg.key, .ca = d->cfg.ca, .crl = d->cfg.crl};
	struct conn_tls_info info;
	char err[1024];

	if (conn_start_tls(c, &paths, d->cfg.state_dir, &info, err, sizeof(err)) < 0) {
		say(d, conn_failed_in_network(c) ? lost : "FAIL", "TLS handshake", "%s", err);
		return -1;
	}
	if (strcmp(info.version, "TLSv1.3") != 0) {
		say(d, "FAIL", "TLS handshake", "the connection uses %s; refex needs TLSv1.3",
		    info.version);
		return -1;
	}
	say(d, "ok", "TLS handshake", "%s (%s); the server's certificate \"%s\" is valid for %s",
	    info.version, info.cipher, info.server_cert, host);
	return 0;
}

/* Check one hub: address, TCP, TLS, Hello; each step only when the one before worked. A hub
 * that cannot be reached gets the verdict lost. Returns 0 when it answered Hello. */
static int check_hub(struct doctor *d, const char *server, const char *lost)
{
	char addrs[256], err[1024], host[256], port[16];
	struct conn *c;
	int e = 0, rc = -1;

	if (conn_resolve(server, addrs, sizeof(addrs), err, sizeof(err)) < 0 ||
	    conn_split_address(server, host, sizeof(host), port, sizeof(port)) < 0) {
		say(d, lost, "server address", "%s", err);
		return -1;
	}
	say(d, "ok", "server address", "%s is %s", server, addrs);
	if (!(c = conn_dial(server, err, sizeof(err), &e))) {
		say_dial_failure(d, lost, server, err, e);
		return -1;
	}
	say(d, "ok", "connection", "connected to %s", server);
	if (!d->tls_ready) {
		say(d, "skip", "TLS handshake",
		    "not tried until the certificate, key and CA file above are usable");
	} else if (check_tls(d, c, host, lost) == 0) {
		rc = check_hello(d, c, lost);
	}
	d->hub_revoked |= conn_hub_revoked(c);
	conn_close(c);
	return rc;
}

/* Say which hubs of the server list answered, and whether refex can work. */
static void say_hubs(struct doctor *d)
{
	const struct hub_list *h = &d->cfg.hubs;
	char line[1024] = "";
	size_t i, n = 0, off = 0;

	for (i = 0; i < h->n && off < sizeof(line); i++) {
		n += d->answered[i] != 0;
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s %s", i ? ", " : "",
		                        h->addr[i], d->answered[i] ? "answered" : "did not");
	}
	if (n == h->n) {
		say(d, "ok", "hubs", "all %zu hubs answered: %s", h->n, line);
	} else if (n > 0) {
		say(d, "warn", "hubs",
		    "%zu of %zu hubs answered: %s; refex uses the first that answers, in this "
		    "order",
		    n, h->n, line);
	} else {
		say(d, "FAIL", "hubs", "no hub answered: %s", line);
	}
}

/* Check each hub of the server list, then say which answered. */
static void check_server(struct doctor *d)
{
	const struct hub_list *h = &d->cfg.hubs;

	if (h->n == 0) {
		say(d, "skip", "server address", "no server configured (see above)");
		return;
	}
	for (size_t i = 0; i < h->n; i++) {
		d->answered[i] = check_hub(d, h->addr[i], h->n > 1 ? "warn" : "FAIL") == 0;
	}
	if (h->n > 1) {
		say_hubs(d);
	}
}

/* Print the checks and the verdict over them as one JSON object; returns 0 or -1. */
static int print_json(struct doctor *d)
{
	json_t *hubs = json_array(), *out;

	for (size_t i = 0; hubs && i < d->cfg.hubs.n; i++) {
		json_array_append_new(hubs, json_pack("{s:s, s:b}", "address", d->cfg.hubs.addr[i],
		                                      "answered", d->answered[i]));
	}
	out = json_pack("{s:b, s:i, s:i, s:O, s:o*}", "ok", d->fails == 0, "problems", d->fails,
	                "warnings", d->warns, "checks", d->checks, "hubs", hubs);

	return output_json(out);
}

/* Print the verdict over all checks. */
static void say_summary(const struct doctor *d)
{
	if (d->fails) {
		printf("\n%d problem%s found: fix the first FAIL above, then run 'refex doctor' "
		       "again.\n",
		       d->fails, d->fails == 1 ? "" : "s");
	} else if (d->warns) {
		printf("\nAll is well, with %d warning%s: refex will work.\n", d->warns,
		       d->warns == 1 ? "" : "s");
	} else {
		printf("\nAll is well: refex is ready to use.\n");
	}
}

/* Check the configuration, certificate and connection step by step. */
static int cmd_doctor_exec(struct cmd_ctx *ctx, const struct args *args)
{
	struct doctor d = {0};
	int rc, json = args_has(args, "json") > 0;

	if (json && !(d.checks = json_array())) {
		fprintf(stderr, "refex: out of memory\n");
		return EXIT_REFUSED;
	}
	check_config(&d, ctx);
	check_cert_file(&d);
	check_key_file(&d);
	check_ca_file(&d);
	check_certificate(&d);
	check_server(&d);
	/* A revoked hub is refused as every command refuses it. */
	rc = d.hub_revoked ? EXIT_CONNECT : d.fails ? EXIT_REFUSED : EXIT_DONE;
	if (!json) {
		say_summary(&d);
	} else if (print_json(&d) < 0) {
		output_print_failure();
		rc = EXIT_REFUSED;
	}
	json_decref(d.checks);
	X509_free(d.cert);
	EVP_PKEY_free(d.key);
	X509_free(d.ca);
	client_config_clear(&d.cfg);
	return rc;
}

const struct cmd_entry cmd_doctor_entry = {
    .name = "doctor",
    .usage = "[--json]",
    .summary = "check your configuration, certificate and connection step by step",
    .args = {"json", 0, 0, {NULL}},
    .options = "  --json              print the checks as JSON: {\"ok\", \"problems\",\n"
               "                      \"warnings\", \"checks\": [{\"check\", \"verdict\",\n"
               "                      \"message\"}], \"hubs\": [{\"address\", \"answered\"}]}\n",
    .notes = "With several hubs (server = hub1:7443, hub2:7443) each is checked in turn;\n"
             "one that cannot be reached is a warning while another answers.\n",
    .exec = cmd_doctor_exec,
};
