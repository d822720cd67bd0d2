/*
 * The network's revocation list as a client keeps it, to refuse a hub whose certificate was
 * revoked: per network CA, the newest CRL seen (by CRL number, or issue date when it has none;
 * its signature checked against the CA), kept in a state directory; and the hub's side, the
 * CRL in force to hand out.
 */
#ifndef REFEX_CRL_KEEP_H
#define REFEX_CRL_KEEP_H

#include <openssl/ssl.h>
#include <stddef.h>

struct crl_keep;

/* What became of a CRL offered to the keep. */
enum crl_offer {
	CRL_OFFER_KEPT = 0, /* newer than the one kept: it is kept now */
	CRL_OFFER_OLDER,    /* not newer than the one kept: ignored */
	CRL_OFFER_BAD,      /* not a CRL, or not signed by the network CA: ignored */
};

/*
 * Open the keep for the network CA in the PEM file ca: the CRL kept for it in dir (NULL: keep
 * nothing on disk), named after the CA's SHA-256 fingerprint. A kept file that does not
 * verify is ignored. Returns NULL with a plain-words reason in err when the CA cannot be read.
 */
struct crl_keep *crl_keep_open(const char *ca, const char *dir, char *err, size_t errlen);

/* Free the keep. NULL is fine. */
void crl_keep_free(struct crl_keep *k);

/* Offer the PEM CRL file at path (a partner's pinned CRL): kept when newer. Returns 0, or -1
 * with a plain-words reason in err when it cannot be read or the network CA did not sign it. */
int crl_keep_pin(struct crl_keep *k, const char *path, char *err, size_t errlen);

/* Offer the DER CRL the hub sent: kept when newer and signed by the network CA. A failure to
 * write the keep's file (err, when not NULL) keeps the CRL in memory all the same. */
enum crl_offer crl_keep_offer(struct crl_keep *k, const unsigned char *der, size_t len, char *err,
                              size_t errlen);

/* Say whether the CRL kept lists cert (issued by the network CA) as revoked. */
int crl_keep_revokes(const struct crl_keep *k, X509 *cert);

/* Say whether a CRL is kept whose next update has passed, with that date ("YYYY-MM-DD") in
 * when. refex warns, and goes on checking against it: it is the newest it has. */
int crl_keep_is_stale(const struct crl_keep *k, char *when, size_t len);

/* Describe the CRL kept ("number N, next update YYYY-MM-DD"), or "" when none is. */
void crl_keep_describe(const struct crl_keep *k, char *buf, size_t len);

/* Make ctx's handshakes refuse a server whose certificate the keep's CRL (as it is then)
 * revokes, with X509_V_ERR_CERT_REVOKED, before this end sends its own certificate. The
 * keep must outlive ctx's handshakes. Returns 0 or -1. */
int crl_keep_guard(SSL_CTX *ctx, const struct crl_keep *k);

/* The hub's side: DER-encode the CRL ctx checks partners against into *der (free with
 * OPENSSL_free). Returns its length, 0 when ctx has no CRL, or -1 when out of memory. */
int crl_keep_ctx_der(SSL_CTX *ctx, unsigned char **der);

#endif
