/* TLS contexts for both ends: TLS 1.3 only, mutual authentication. */
#ifndef REFEX_TLS_H
#define REFEX_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* Files a TLS context is built from. crl may be NULL (server only). */
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

#endif
