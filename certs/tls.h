/* TLS contexts for both ends: TLS 1.3 only, mutual authentication. */
#ifndef REFEX_TLS_H
#define REFEX_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <time.h>

/* Files a TLS context is built from. crl may be NULL. The server checks partners against
 * its crl; tls_client_ctx_new ignores it (refex pins it in its keep: crl_keep.h). */
struct tls_paths {
	const char *cert; /* PEM certificate of this end */
	const char *key;  /* PEM private key of this end */
	const char *ca;   /* PEM certificate of the network CA */
	const char *crl;  /* PEM CRL signed by the CA, or NULL */
};

/*
 * Build the server context: TLS 1.3 only, client certificate required
 * (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT), verified against the
 * CA with the "ssl client" purpose, the CRL checked when given, no session
 * tickets and no session cache (a revoked certificate cannot resume), leaf
 * certificate only (SSL_MODE_NO_AUTO_CHAIN), SSL_MODE_RELEASE_BUFFERS and
 * SSL_OP_IGNORE_UNEXPECTED_EOF. Returns NULL with a plain-words reason in err.
 */
SSL_CTX *tls_server_ctx_new(const struct tls_paths *paths, char *err, size_t errlen);

/*
 * Build the client context: TLS 1.3 only, the server verified against the
 * CA, this end's certificate and key loaded (a key that does not match the
 * certificate is an error). Returns NULL with a plain-words reason in err.
 */
SSL_CTX *tls_client_ctx_new(const struct tls_paths *paths, char *err, size_t errlen);

/* Make ssl check that the server's certificate names host (a DNS name or an
 * IP address) and send it as SNI when it is a name. Returns 0 or -1. */
int tls_client_expect_host(SSL *ssl, const char *host);

/* Plain words for an X509_V_ERR_* code, e.g. "the certificate has expired". */
const char *tls_verify_error_text(long verify_result);

/*
 * After a failed handshake or I/O on ssl (ret is what SSL_connect/SSL_read
 * returned), write a plain-words reason into buf: the local verify error,
 * or the alert the peer sent (e.g. "the server refused our certificate: it
 * has been revoked"), or the OpenSSL error queue. Clears the error queue.
 */
void tls_describe_failure(SSL *ssl, int ret, char *buf, size_t len);

/*
 * After a refused handshake on a server ssl, return what the verify callback
 * kept about the certificate that failed: the X509_V_ERR_* code (plain words:
 * tls_verify_error_text), its serial (upper-case hex) and its SHA-256
 * fingerprint ("AB:CD:..."). Any output may be NULL. Returns 0 when a
 * certificate failed verification, -1 when none did (no certificate sent,
 * or the handshake failed for another reason).
 */
int tls_peer_failure(SSL *ssl, long *verify_error, char *serial, size_t serial_len,
                     char *fingerprint, size_t fp_len);

/* Plain words for an OpenSSL error (ERR_get_error value) that ended a server handshake,
 * e.g. "the client sent no certificate"; NULL when there are none better than OpenSSL's. */
const char *tls_server_error_text(unsigned long e);

/* Severity of one certificate check, for tools that explain a setup. */
enum tls_check {
	TLS_CHECK_OK = 0,
	TLS_CHECK_WARN = 1,
	TLS_CHECK_FAIL = -1,
};

/* Read the first certificate in the PEM file at path, or NULL with a plain-words reason. */
X509 *tls_read_cert(const char *path, char *err, size_t errlen);

/* Read the PEM private key at path, never asking for a passphrase (refex keys have
 * none), or NULL with a plain-words reason. */
EVP_PKEY *tls_read_key(const char *path, char *err, size_t errlen);

/* Check who may read the key file at path: WARN (with the chmod to run in msg) when
 * its group or others may, FAIL when it cannot be looked at. */
enum tls_check tls_check_key_mode(const char *path, char *msg, size_t len);

/* Check that key is the private key of cert: OK, or FAIL with the reason in msg. */
enum tls_check tls_check_key_matches(X509 *cert, EVP_PKEY *key, char *msg, size_t len);

/* Check cert's validity period now: FAIL when expired or not yet valid, WARN when it
 * ends within warn_days; msg gives the dates (and days left). */
enum tls_check tls_check_cert_dates(X509 *cert, int warn_days, char *msg, size_t len);

/* Name what kind of certificate cert is: "CA certificate", "server certificate",
 * "partner certificate" (clientAuth) or "certificate" (none of those). */
const char *tls_cert_kind(X509 *cert);

/*
 * Verify cert against the CA certificate in the file ca with purpose
 * (X509_PURPOSE_SSL_CLIENT or X509_PURPOSE_SSL_SERVER; 0 for any), as the other end of
 * a handshake would but leaving out the dates (tls_check_cert_dates says
 * those) and revocation (the CRL is the hub's). Returns OK, or FAIL with the
 * X509_V_ERR_* code in *verify_error (may be NULL) and plain words in msg.
 */
enum tls_check tls_check_cert_chain(X509 *cert, const char *ca, int purpose, long *verify_error,
                                    char *msg, size_t len);

/* When this context's own certificate stops being valid (*cert_end) and when its CRL must be
 * replaced (*crl_next; 0 when there is no CRL or it has no next update), as unix times.
 * Returns 0, or -1 if the context has no certificate. */
int tls_ctx_expiry(SSL_CTX *ctx, time_t *cert_end, time_t *crl_next);

#endif
