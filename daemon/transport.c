/* TLS connections on libevent's OpenSSL bufferevents. */
#include "transport.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>

#include "metrics.h"
#include "tls.h"
#include "tls_libctx.h"

/* Wrap an accepted socket in a TLS bufferevent that starts the server handshake. */
struct bufferevent *transport_accept(struct event_base *base, SSL_CTX *ctx, evutil_socket_t fd)
{
	struct bufferevent *bev;
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL) {
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
	}
	return bev;
}

/* Read the identity from the verified peer certificate after the handshake. */
int transport_peer_identity(struct bufferevent *bev, struct identity *id, char *err, size_t errlen)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;

	if (cert == NULL) {
		snprintf(err, errlen, "no client certificate");
		return -1;
	}
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		snprintf(err, errlen, "client certificate not verified: %s",
		         tls_verify_error_text(SSL_get_verify_result(ssl)));
		return -1;
	}
	if (identity_from_cert(cert, id, err, errlen) < 0) {
		identity_cert_ids(cert, id); /* so the refusal can be logged by serial */
		return -1;
	}
	return 0;
}

/* Name a refused certificate's verify error for the metrics. */
static const char *verify_label(long ve)
{
	switch (ve) {
	case X509_V_ERR_CERT_REVOKED:
		return METRICS_HS_REVOKED;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return METRICS_HS_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return METRICS_HS_NOT_YET_VALID;
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
		return METRICS_HS_CRL;
	default:
		return METRICS_HS_UNTRUSTED;
	}
}

/* Name an OpenSSL error that ended a handshake for the metrics. */
static const char *ssl_error_label(unsigned long e)
{
	if (ERR_GET_LIB(e) != ERR_LIB_SSL) {
		return METRICS_HS_OTHER;
	}
	switch (ERR_GET_REASON(e)) {
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return METRICS_HS_NO_CERTIFICATE;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		return METRICS_HS_UNTRUSTED;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_NO_SHARED_CIPHER:
		return METRICS_HS_PROTOCOL;
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		return METRICS_HS_PEER_REFUSED;
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		return METRICS_HS_CLOSED;
	default:
		return METRICS_HS_OTHER;
	}
}

/* Describe why the TLS layer of bev failed, naming the refused certificate when there was one. */
const char *transport_describe_error(struct bufferevent *bev, char *buf, size_t len,
                                     struct identity *ids)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e = bufferevent_get_openssl_error(bev);
	const char *text, *label = METRICS_HS_CLOSED;
	long ve;

	ids->serial[0] = ids->fingerprint[0] = '\0';
	if (ssl != NULL && tls_peer_failure(ssl, &ve, ids->serial, sizeof(ids->serial),
	                                    ids->fingerprint, sizeof(ids->fingerprint)) == 0) {
		snprintf(buf, len, "%s", tls_verify_error_text(ve));
		label = verify_label(ve);
	} else if (e != 0 && (text = tls_server_error_text(e)) != NULL) {
		snprintf(buf, len, "%s", text);
		label = ssl_error_label(e);
	} else if (e != 0) {
		text = ERR_reason_error_string(e);
		snprintf(buf, len, "%s", text ? text : "TLS error");
		label = ssl_error_label(e);
	} else {
		snprintf(buf, len, "connection closed");
	}
	/* Drain what remains so it is not blamed on the next connection. */
	while (bufferevent_get_openssl_error(bev) != 0) {
	}
	return label;
}

/* Verify ssl's peer certificate against ctx's trust store; 0 or -1 with the X509_V_ERR_* in *ve. */
static int verify_in(SSL *ssl, SSL_CTX *ctx, long *ve)
{
	X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	X509_STORE_CTX *vctx;
	int ok;

	if (cert == NULL) {
		*ve = X509_V_ERR_UNSPECIFIED;
		return -1;
	}
	/* In the context the handshake verified in (certs/tls_libctx.c). */
	if ((vctx = X509_STORE_CTX_new_ex(tls_libctx(), NULL)) == NULL ||
	    !X509_STORE_CTX_init(vctx, SSL_CTX_get_cert_store(ctx), cert, NULL)) {
		X509_STORE_CTX_free(vctx);
		*ve = X509_V_ERR_OUT_OF_MEM;
		return -1;
	}
	/* The same checks as the handshake: client purpose, the store's CRL flags. */
	X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT);
	ok = X509_verify_cert(vctx) == 1;
	*ve = ok ? X509_V_OK : X509_STORE_CTX_get_error(vctx);
	X509_STORE_CTX_free(vctx);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/* Verify the peer's certificate again against ctx (a reloaded CA and CRL). */
int transport_verify_again(struct bufferevent *bev, SSL_CTX *ctx, char *why, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long ve;

	if (ssl == NULL || SSL_get0_peer_certificate(ssl) == NULL) {
		snprintf(why, len, "no client certificate");
		return -1;
	}
	if (verify_in(ssl, ctx, &ve) < 0) {
		snprintf(why, len, "%s", tls_verify_error_text(ve));
		return -1;
	}
	return 0;
}

/* Judge the peer's certificate by ctx, the trust in force now, when the handshake began under
 * another context (a reload came while it was under way). */
const char *transport_trusted_now(struct bufferevent *bev, SSL_CTX *ctx, char *why, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long ve;

	/* A reload frees no context a connection holds, so no new one can share its address. */
	if (ssl == NULL || SSL_get_SSL_CTX(ssl) == ctx || verify_in(ssl, ctx, &ve) == 0) {
		return NULL;
	}
	snprintf(why, len, "%s", tls_verify_error_text(ve));
	return verify_label(ve);
}

/* Send close_notify (when the handshake finished) and free the bufferevent. */
void transport_close(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl != NULL && SSL_is_init_finished(ssl)) {
		/* Best effort: the socket may already be gone. */
		SSL_shutdown(ssl);
	} else if (ssl == NULL) {
		/* A pair's partner is not told when its end is freed; a socket ignores this. */
		bufferevent_flush(bev, EV_WRITE, BEV_FINISHED);
	}
	ERR_clear_error();
	bufferevent_free(bev);
}

static int owner_index = -1;

static void owner_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct transport_owner *o = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (o != NULL) {
		o->on_free(o);
	}
}

/* Tie o to bev's TLS state: OpenSSL frees ex_data with the SSL, whoever frees it. */
int transport_set_owner(struct bufferevent *bev, struct transport_owner *o)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (owner_index < 0) {
		owner_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, owner_free);
	}
	if (ssl == NULL || owner_index < 0 || !SSL_set_ex_data(ssl, owner_index, o)) {
		return -1;
	}
	return 0;
}

/* Return what transport_set_owner tied to bev, or NULL. */
struct transport_owner *transport_owner(struct bufferevent *bev)
{
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;

	return ssl != NULL && owner_index >= 0 ? SSL_get_ex_data(ssl, owner_index) : NULL;
}
