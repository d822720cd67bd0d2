/* TLS contexts for both ends: TLS 1.3 only, mutual authentication. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "identity.h"
#include "revocation.h"
#include "tls_libctx.h"

/* What the server's verify callback keeps about a refused client certificate. */
struct peer_failure {
	long error; /* X509_V_ERR_* */
	char serial[64];
	char fingerprint[96];
};

static CRYPTO_ONCE peer_failure_once = CRYPTO_ONCE_STATIC_INIT;
static int peer_failure_idx = -1;

/* Say whether OpenSSL's error e means the file is not PEM of the kind wanted ("PEM lib",
 * "no start line", "unsupported": words that tell a user nothing). */
static int not_pem(unsigned long e)
{
	int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);

	return lib == ERR_LIB_PEM || lib == ERR_LIB_OSSL_DECODER || reason == ERR_R_PEM_LIB ||
	       reason == ERR_R_UNSUPPORTED ||
	       (lib == ERR_LIB_X509 && reason == X509_R_NO_CERTIFICATE_OR_CRL_FOUND);
}

/* Write "what PATH: reason" into err, the reason from errno or OpenSSL. */
static void load_error(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;

	if (e == 0 || not_pem(e)) {
		snprintf(err, errlen,
		         "%s %s: wrong kind of file, or not PEM (expected a -----BEGIN block)",
		         what, path);
	} else {
		snprintf(err, errlen, "%s %s: %s", what, path, why ? why : "OpenSSL error");
	}
	ERR_clear_error();
}

/* Check that path can be opened for reading, with the errno reason in err. */
static int check_readable(const char *path, const char *what, char *err, size_t errlen)
{
	FILE *fp;

	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "no %s file given", what);
		return -1;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot read %s file %s: %s", what, path, strerror(errno));
		return -1;
	}
	fclose(fp);
	return 0;
}

/* Read the first certificate in a PEM file. */
static X509 *read_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x;

	if (fp == NULL) {
		return NULL;
	}
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	return x;
}

/* Say whether e says a key is not the one of the certificate. */
static int key_mismatch(unsigned long e)
{
	return ERR_GET_LIB(e) == ERR_LIB_X509 && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
	                                          ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
}

/* Load this end's certificate and key and check that they belong together. */
static int load_own(SSL_CTX *ctx, const struct tls_paths *p, char *err, size_t errlen)
{
	if (check_readable(p->cert, "certificate", err, errlen) < 0 ||
	    check_readable(p->key, "key", err, errlen) < 0) {
		return -1;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, p->cert) != 1) {
		load_error(err, errlen, "cannot load certificate", p->cert);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, p->key, SSL_FILETYPE_PEM) != 1) {
		if (!key_mismatch(ERR_peek_last_error())) {
			load_error(err, errlen, "cannot load key", p->key);
			return -1;
		}
		/* OpenSSL compares the key with the certificate as it loads it. */
		snprintf(err, errlen, "key %s does not match certificate %s", p->key, p->cert);
		ERR_clear_error();
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "key %s does not match certificate %s", p->key, p->cert);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Load the network CA as the only trust anchor. */
static int load_trust(SSL_CTX *ctx, const char *ca, char *err, size_t errlen)
{
	if (check_readable(ca, "CA certificate", err, errlen) < 0) {
		return -1;
	}
	if (SSL_CTX_load_verify_file(ctx, ca) != 1) {
		load_error(err, errlen, "cannot load CA certificate", ca);
		return -1;
	}
	return 0;
}

/* Read the CRL at path, check the CA signed it and that it is current. */
static X509_CRL *read_crl(const char *path, X509 *ca, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	X509_CRL *crl = NULL;
	const ASN1_TIME *next;

	if (fp == NULL) {
		snprintf(err, errlen, "cannot read CRL file %s: %s", path, strerror(errno));
		return NULL;
	}
	crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
	fclose(fp);
	if (crl == NULL) {
		load_error(err, errlen, "cannot load CRL", path);
		return NULL;
	}
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) != 0 ||
	    X509_CRL_verify(crl, X509_get0_pubkey(ca)) != 1) {
		snprintf(err, errlen, "CRL %s was not signed by the network CA", path);
		goto fail;
	}
	next = X509_CRL_get0_nextUpdate(crl);
	if (next != NULL && X509_cmp_time(next, NULL) < 0) {
		/* Every client would be refused; say so now rather than per connection. */
		snprintf(err, errlen,
		         "CRL %s has expired; publish a new one (refex-ca crl --dir CA_DIR)", path);
		goto fail;
	}
	ERR_clear_error();
	return crl;
fail:
	X509_CRL_free(crl);
	ERR_clear_error();
	return NULL;
}

/* Add the CRL to ctx's trust store (tls_ctx_expiry reads it there) and turn on revocation
 * checking against it, its signature checked here once rather than on every handshake. */
static int load_crl(SSL_CTX *ctx, const struct tls_paths *p, char *err, size_t errlen)
{
	X509 *ca = read_cert(p->ca);
	X509_CRL *crl = NULL;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	int rc = -1;

	if (ca == NULL) {
		load_error(err, errlen, "cannot load CA certificate", p->ca);
		goto done;
	}
	if ((crl = read_crl(p->crl, ca, err, errlen)) == NULL) {
		goto done;
	}
	if (X509_STORE_add_crl(store, crl) != 1 || revocation_install(store, crl) < 0) {
		load_error(err, errlen, "cannot use CRL", p->crl);
		goto done;
	}
	rc = 0;
done:
	X509_CRL_free(crl);
	X509_free(ca);
	return rc;
}

/* Make a context for method restricted to TLS 1.3, or NULL with the reason in err. */
static SSL_CTX *ctx_new_tls13(const SSL_METHOD *method, char *err, size_t errlen)
{
	/* The narrowed library context: parsing a peer certificate is cheaper there. */
	SSL_CTX *ctx = SSL_CTX_new_ex(tls_libctx(), NULL, method);

	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		snprintf(err, errlen, "cannot create TLS context");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Finish building ctx: the error queue is cleared either way; a failed ctx is freed. */
static SSL_CTX *ctx_done(SSL_CTX *ctx, int ok)
{
	ERR_clear_error();
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Free a struct peer_failure with the SSL that holds it. */
static void peer_failure_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                              void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	OPENSSL_free(ptr);
}

static void peer_failure_index_init(void)
{
	peer_failure_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, peer_failure_free);
}

/* Return the SSL ex_data index of struct peer_failure, allocated on first use; or -1. */
static int peer_failure_index(void)
{
	if (!CRYPTO_THREAD_run_once(&peer_failure_once, peer_failure_index_init)) {
		return -1;
	}
	return peer_failure_idx;
}

/* Keep the first failing certificate's error, serial and fingerprint on its SSL, so that
 * the refusal can name the certificate; the verdict itself is OpenSSL's, unchanged. Only the
 * alert changes, for an expired CRL of ours. */
static int server_verify_cb(int ok, X509_STORE_CTX *vctx)
{
	int idx = peer_failure_index();
	SSL *ssl;
	X509 *cert;
	struct peer_failure *pf;
	struct identity id;

	if (ok || idx < 0) {
		return ok;
	}
	ssl = X509_STORE_CTX_get_ex_data(vctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl == NULL || SSL_get_ex_data(ssl, idx) != NULL) {
		return ok;
	}
	if ((cert = X509_STORE_CTX_get_current_cert(vctx)) == NULL) {
		cert = X509_STORE_CTX_get0_cert(vctx);
	}
	if ((pf = OPENSSL_zalloc(sizeof(*pf))) == NULL) {
		return ok;
	}
	pf->error = X509_STORE_CTX_get_error(vctx);
	if (pf->error == X509_V_ERR_CRL_HAS_EXPIRED) {
		/* OpenSSL would send certificate_expired, which a partner reads as its own
		 * certificate having expired; UNSPECIFIED makes it internal_error, the hub's
		 * own failure. The log and metrics keep the real reason (pf->error). */
		X509_STORE_CTX_set_error(vctx, X509_V_ERR_UNSPECIFIED);
	}
	if (cert != NULL) {
		/* It clears the error queue: harmless here, the handshake's own error is
		 * queued only after verification returns. */
		identity_cert_ids(cert, &id);
		snprintf(pf->serial, sizeof(pf->serial), "%s", id.serial);
		snprintf(pf->fingerprint, sizeof(pf->fingerprint), "%s", id.fingerprint);
	}
	if (!SSL_set_ex_data(ssl, idx, pf)) {
		OPENSSL_free(pf);
	}
	return ok;
}

/* Return what the verify callback kept about the client certificate ssl refused. */
int tls_peer_failure(SSL *ssl, long *verify_error, char *serial, size_t serial_len,
                     char *fingerprint, size_t fp_len)
{
	int idx = peer_failure_index();
	const struct peer_failure *pf = NULL;

	if (ssl != NULL && idx >= 0) {
		pf = SSL_get_ex_data(ssl, idx);
	}
	if (verify_error != NULL) {
		*verify_error = pf ? pf->error : X509_V_OK;
	}
	if (serial != NULL && serial_len > 0) {
		snprintf(serial, serial_len, "%s", pf ? pf->serial : "");
	}
	if (fingerprint != NULL && fp_len > 0) {
		snprintf(fingerprint, fp_len, "%s", pf ? pf->fingerprint : "");
	}
	return pf ? 0 : -1;
}

/* Plain words for an OpenSSL error that ended a server handshake, or NULL. */
const char *tls_server_error_text(unsigned long e)
{
	if (e == 0 || ERR_GET_LIB(e) != ERR_LIB_SSL) {
		return NULL;
	}
	switch (ERR_GET_REASON(e)) {
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return "the client sent no certificate";
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		return "the client's certificate did not verify";
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		return "the client does not speak TLS 1.3";
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
		return "the client did not speak TLS";
	case SSL_R_NO_SHARED_CIPHER:
		return "no TLS cipher in common with the client";
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		return "the client does not trust our certificate (unknown CA)";
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
		return "the client refused our certificate";
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		return "the client says our certificate has expired";
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		return "the client closed the connection during the handshake";
	default:
		return NULL;
	}
}

/* Require, check and name client certificates on a server context. */
static int server_verify_clients(SSL_CTX *ctx, const struct tls_paths *p, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) * names;

	if (load_trust(ctx, p->ca, err, errlen) < 0) {
		return -1;
	}
	if ((names = SSL_load_client_CA_file(p->ca)) == NULL) {
		load_error(err, errlen, "cannot read CA name from", p->ca);
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	if (peer_failure_index() < 0) {
		snprintf(err, errlen, "cannot set up TLS: out of memory");
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
	                   server_verify_cb);
	if (SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1) {
		load_error(err, errlen, "cannot set certificate purpose for", p->ca);
		return -1;
	}
	if (p->crl != NULL && load_crl(ctx, p, err, errlen) < 0) {
		return -1;
	}
	return 0;
}

/* Build the server context. */
SSL_CTX *tls_server_ctx_new(const struct tls_paths *paths, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "refexd";
	SSL_CTX *ctx = ctx_new_tls13(TLS_server_method(), err, errlen);

	if (ctx == NULL || load_own(ctx, paths, err, errlen) < 0 ||
	    server_verify_clients(ctx, paths, err, errlen) < 0) {
		return ctx_done(ctx, 0);
	}
	/* No resumption of any kind: a revoked certificate must not get back in. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN | SSL_MODE_RELEASE_BUFFERS);
	return ctx_done(ctx, 1);
}

/* Build the client context. */
SSL_CTX *tls_client_ctx_new(const struct tls_paths *paths, char *err, size_t errlen)
{
	SSL_CTX *ctx = ctx_new_tls13(TLS_client_method(), err, errlen);

	if (ctx == NULL || load_own(ctx, paths, err, errlen) < 0 ||
	    load_trust(ctx, paths->ca, err, errlen) < 0) {
		return ctx_done(ctx, 0);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1) {
		snprintf(err, errlen, "cannot set certificate purpose");
		return ctx_done(ctx, 0);
	}
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Send the leaf alone: the hub holds the CA. Building the chain would cost a
	 * verification of our own certificate per handshake, and the hub would parse
	 * the CA certificate we sent along. */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	return ctx_done(ctx, 1);
}

/* Say whether host is an IPv4 or IPv6 literal. */
static int host_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Make ssl check that the server's certificate names host; send SNI for names. */
int tls_client_expect_host(SSL *ssl, const char *host)
{
	if (ssl == NULL || host == NULL || host[0] == '\0') {
		return -1;
	}
	if (host_is_ip(host)) {
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -1;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1) {
		return -1;
	}
	return 0;
}

/* Plain words for an X509_V_ERR_* code. */
const char *tls_verify_error_text(long verify_result)
{
	switch (verify_result) {
	case X509_V_OK:
		return "the certificate is valid";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "the certificate has expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "the certificate is not valid yet (check the clocks)";
	case X509_V_ERR_CERT_REVOKED:
		return "the certificate has been revoked";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return "the certificate was not issued by the network's CA (unknown issuer)";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return "the certificate is self-signed, not issued by the network's CA";
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return "the certificate's signature does not verify (was it altered?)";
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return "the certificate does not name the host we connected to";
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "the certificate does not name the IP address we connected to";
	case X509_V_ERR_INVALID_PURPOSE:
		return "the certificate is not for this use (wrong extended key usage)";
	case X509_V_ERR_INVALID_CA:
		return "the issuing certificate is not a valid CA";
	case X509_V_ERR_CRL_HAS_EXPIRED:
		return "the revocation list (CRL) has expired; the CA admin must publish a new one";
	case X509_V_ERR_CRL_NOT_YET_VALID:
		return "the revocation list (CRL) is not valid yet (check the clocks)";
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		return "no revocation list (CRL) from the certificate's CA is loaded";
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
		return "the revocation list (CRL) signature does not verify";
	default:
		return X509_verify_cert_error_string(verify_result);
	}
}

/* Plain words for an alert about our certificate, or NULL for other reasons. */
static const char *cert_alert_text(int reason)
{
	switch (reason) {
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return "it requires a client certificate and we sent none";
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
		return "it has been revoked";
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		return "it has expired or is not valid yet";
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		return "it was not issued by the network's CA";
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
		return "it is not acceptable (bad certificate)";
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
		return "it is not a partner certificate (not for client use)";
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
		return "it could not be checked";
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
		return "access denied";
	case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
		return "our key does not prove we own the certificate";
	default:
		return NULL;
	}
}

/* Plain words for other alerts from the server, or NULL. */
static const char *other_alert_text(int reason)
{
	switch (reason) {
	case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
		return "the server refused the handshake (no TLS settings in common)";
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
	case SSL_R_UNSUPPORTED_PROTOCOL:
		return "the server refused the connection: it does not speak TLS 1.3";
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
		return "the server did not answer with TLS (is this a refex server?)";
	case SSL_R_TLSV1_ALERT_INTERNAL_ERROR:
		/* What refexd sends when its CRL has expired (server_verify_cb). */
		return "the hub cannot check revocations (its revocation list expired): tell the "
		       "hub's operator";
	default:
		return NULL;
	}
}

/* Describe a closed connection or socket error reported as SSL_ERROR_SYSCALL or ZERO_RETURN. */
static void describe_close(SSL *ssl, int ssl_err, int sys_errno, char *buf, size_t len)
{
	if (ssl_err == SSL_ERROR_SYSCALL && sys_errno != 0) {
		snprintf(buf, len, "connection error: %s", strerror(sys_errno));
	} else if (ssl == NULL || !SSL_is_init_finished(ssl)) {
		snprintf(buf, len,
		         "the server closed the connection during the TLS handshake "
		         "(is this a refex server? is our certificate from the right CA?)");
	} else {
		snprintf(buf, len, "the server closed the connection");
	}
}

/* Write a plain-words reason for a failed handshake or I/O on ssl into buf. */
void tls_describe_failure(SSL *ssl, int ret, char *buf, size_t len)
{
	int sys_errno = errno;
	int ssl_err = ssl ? SSL_get_error(ssl, ret) : SSL_ERROR_SSL;
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e = ERR_peek_error();
	int reason = ERR_GET_REASON(e);
	const char *why;

	if (vr != X509_V_OK) {
		snprintf(buf, len, "the server's certificate could not be verified: %s",
		         tls_verify_error_text(vr));
	} else if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL && (why = cert_alert_text(reason))) {
		snprintf(buf, len, "the server refused our certificate: %s", why);
	} else if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL && (why = other_alert_text(reason))) {
		snprintf(buf, len, "%s", why);
	} else if (ssl_err == SSL_ERROR_ZERO_RETURN || (ssl_err == SSL_ERROR_SYSCALL && e == 0) ||
	           (e != 0 && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		describe_close(ssl, ssl_err, sys_errno, buf, len);
	} else if (e != 0) {
		why = ERR_reason_error_string(e);
		snprintf(buf, len, "TLS error: %s", why ? why : "unknown");
	} else {
		snprintf(buf, len, "TLS error (code %d)", ssl_err);
	}
	ERR_clear_error();
}

/* Write path's errno reason into err, with a hint when it is a permission problem. */
static void open_error(char *err, size_t errlen, const char *what, const char *path)
{
	int e = errno;

	if (e == ENOENT) {
		snprintf(err, errlen, "%s file %s does not exist", what, path);
	} else if (e == EACCES) {
		snprintf(err, errlen,
		         "%s file %s cannot be read: permission denied (check the file's owner "
		         "and mode, and those of its directories)",
		         what, path);
	} else {
		snprintf(err, errlen, "cannot read %s file %s: %s", what, path, strerror(e));
	}
}

/* Read the first certificate in the PEM file at path. */
X509 *tls_read_cert(const char *path, char *err, size_t errlen)
{
	FILE *fp;
	X509 *x;

	if ((fp = fopen(path, "r")) == NULL) {
		open_error(err, errlen, "certificate", path);
		return NULL;
	}
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (x == NULL) {
		snprintf(err, errlen,
		         "%s holds no PEM certificate (expected a \"-----BEGIN CERTIFICATE-----\" "
		         "block)",
		         path);
	}
	ERR_clear_error();
	return x;
}

/* A passphrase callback that never asks: it only notes that one was wanted. */
static int no_passphrase(char *buf, int size, int rwflag, void *asked)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(int *)asked = 1;
	return -1;
}

/* Read the PEM private key at path without asking for a passphrase. */
EVP_PKEY *tls_read_key(const char *path, char *err, size_t errlen)
{
	FILE *fp;
	EVP_PKEY *key;
	int asked = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		open_error(err, errlen, "key", path);
		return NULL;
	}
	key = PEM_read_PrivateKey(fp, NULL, no_passphrase, &asked);
	fclose(fp);
	if (key == NULL && asked) {
		snprintf(err, errlen,
		         "key %s is protected by a passphrase; refex needs the key as "
		         "refex-ca wrote it, without one",
		         path);
	} else if (key == NULL) {
		snprintf(err, errlen,
		         "%s holds no PEM private key (expected a \"-----BEGIN PRIVATE KEY-----\" "
		         "block)",
		         path);
	}
	ERR_clear_error();
	return key;
}

/* Check who may read the key file at path. */
enum tls_check tls_check_key_mode(const char *path, char *msg, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(msg, len, "cannot look at key file %s: %s", path, strerror(errno));
		return TLS_CHECK_FAIL;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(msg, len, "%s may be read by other users (mode %04o): run chmod 600 %s",
		         path, (unsigned)(st.st_mode & 07777), path);
		return TLS_CHECK_WARN;
	}
	snprintf(msg, len, "%s is readable by its owner only (mode %04o)", path,
	         (unsigned)(st.st_mode & 07777));
	return TLS_CHECK_OK;
}

/* Check that key is the private key of cert. */
enum tls_check tls_check_key_matches(X509 *cert, EVP_PKEY *key, char *msg, size_t len)
{
	int ok = X509_check_private_key(cert, key) == 1;

	ERR_clear_error();
	if (!ok) {
		snprintf(msg, len,
		         "the key does not belong to the certificate (use the .key written "
		         "with this .crt)");
		return TLS_CHECK_FAIL;
	}
	snprintf(msg, len, "the key belongs to the certificate");
	return TLS_CHECK_OK;
}

/* Format t as "YYYY-MM-DD HH:MM UTC" into buf. */
static const char *time_text(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm) ||
	    strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm) == 0) {
		snprintf(buf, len, "?");
	}
	return buf;
}

/* Check cert's validity period now. */
enum tls_check tls_check_cert_dates(X509 *cert, int warn_days, char *msg, size_t len)
{
	const ASN1_TIME *from = X509_get0_notBefore(cert), *until = X509_get0_notAfter(cert);
	char a[40], b[40];
	int days = 0, secs = 0;

	time_text(from, a, sizeof(a));
	time_text(until, b, sizeof(b));
	if (from == NULL || until == NULL || !ASN1_TIME_diff(&days, &secs, NULL, until)) {
		snprintf(msg, len, "the certificate's dates cannot be read");
		ERR_clear_error();
		return TLS_CHECK_FAIL;
	}
	if (X509_cmp_current_time(from) >= 0) {
		snprintf(msg, len,
		         "the certificate is not valid yet: valid from %s until %s "
		         "(check this computer's clock)",
		         a, b);
		return TLS_CHECK_FAIL;
	}
	if (days < 0 || secs < 0 || (days == 0 && secs == 0)) {
		snprintf(msg, len,
		         "the certificate expired on %s (valid from %s): ask the partnership's "
		         "CA admin for a new one",
		         b, a);
		return TLS_CHECK_FAIL;
	}
	if (days < warn_days) {
		snprintf(msg, len,
		         "the certificate expires on %s, in %d day%s: ask the partnership's CA "
		         "admin for a new one soon",
		         b, days, days == 1 ? "" : "s");
		return TLS_CHECK_WARN;
	}
	snprintf(msg, len, "valid from %s until %s (%d days left)", a, b, days);
	return TLS_CHECK_OK;
}

/* Name what kind of certificate cert is. */
const char *tls_cert_kind(X509 *cert)
{
	uint32_t flags = X509_get_extension_flags(cert);
	uint32_t xku = X509_get_extended_key_usage(cert);

	if (X509_check_ca(cert) != 0 || (flags & EXFLAG_CA) != 0) {
		return "CA certificate";
	}
	if ((flags & EXFLAG_XKUSAGE) != 0 && (xku & XKU_SSL_CLIENT) != 0) {
		return "partner certificate";
	}
	if ((flags & EXFLAG_XKUSAGE) != 0 && (xku & XKU_SSL_SERVER) != 0) {
		return "server certificate";
	}
	return "certificate";
}

/* Verify cert against the CA file ca for purpose, leaving out dates and revocation. */
enum tls_check tls_check_cert_chain(X509 *cert, const char *ca, int purpose, long *verify_error,
                                    char *msg, size_t len)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *vctx = X509_STORE_CTX_new();
	long vr = X509_V_ERR_UNSPECIFIED;
	enum tls_check rc = TLS_CHECK_FAIL;

	if (store == NULL || vctx == NULL) {
		snprintf(msg, len, "out of memory");
		goto done;
	}
	if (X509_STORE_load_file(store, ca) != 1) {
		snprintf(msg, len, "cannot load the CA certificate %s", ca);
		goto done;
	}
	if (!X509_STORE_CTX_init(vctx, store, cert, NULL) ||
	    (purpose != 0 && !X509_STORE_CTX_set_purpose(vctx, purpose))) {
		snprintf(msg, len, "cannot set up the certificate check");
		goto done;
	}
	X509_STORE_CTX_set_flags(vctx, X509_V_FLAG_NO_CHECK_TIME);
	if (X509_verify_cert(vctx) == 1) {
		vr = X509_V_OK;
		snprintf(msg, len, "issued by the network's CA (%s)", ca);
		rc = TLS_CHECK_OK;
		goto done;
	}
	vr = X509_STORE_CTX_get_error(vctx);
	snprintf(msg, len, "%s", tls_verify_error_text(vr));
done:
	if (verify_error != NULL) {
		*verify_error = vr;
	}
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return rc;
}

static time_t asn1_to_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		return 0;
	}
	return timegm(&tm);
}

/* When this context's certificate stops being valid and when its CRL must be replaced. */
int tls_ctx_expiry(SSL_CTX *ctx, time_t *cert_end, time_t *crl_next)
{
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));

	*crl_next = 0;
	if (cert == NULL) {
		return -1;
	}
	*cert_end = asn1_to_time(X509_get0_notAfter(cert));
	for (int i = 0; objs != NULL && i < sk_X509_OBJECT_num(objs); i++) {
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));
		time_t next = crl ? asn1_to_time(X509_CRL_get0_nextUpdate(crl)) : 0;

		if (next != 0 && (*crl_next == 0 || next < *crl_next)) {
			*crl_next = next;
		}
	}
	return 0;
}
