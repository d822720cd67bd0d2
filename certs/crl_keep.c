/* The newest revocation list a client has seen per network CA, and the hub's CRL to hand out. */
#include "crl_keep.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ca_issued.h"

struct crl_keep {
	X509 *ca;
	X509_CRL *crl;       /* the newest verified CRL seen, or NULL */
	char path[PATH_MAX]; /* where it is kept, or "" for memory only */
};

static CRYPTO_ONCE guard_once = CRYPTO_ONCE_STATIC_INIT;
static int guard_idx = -1;

static void guard_index_init(void)
{
	guard_idx = X509_STORE_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Return the X509_STORE ex_data index of the guarding keep, allocated on first use; or -1. */
static int guard_index(void)
{
	if (!CRYPTO_THREAD_run_once(&guard_once, guard_index_init)) {
		return -1;
	}
	return guard_idx;
}

/* Return crl's CRL number (free with ASN1_INTEGER_free), or NULL when it has none. */
static ASN1_INTEGER *crl_number(const X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);

	ERR_clear_error();
	return n;
}

/* Say whether crl is newer than kept: by CRL number, compared whole (RFC 5280 allows 20
 * octets); a CRL without one is older than any with one, and two without are ordered by the
 * day they were issued (a CA that numbers none still gets its new revocations heard). */
static int crl_is_newer(const X509_CRL *crl, const X509_CRL *kept)
{
	ASN1_INTEGER *a = crl_number(crl), *b = crl_number(kept);
	int newer;

	if (a != NULL && b != NULL) {
		newer = ASN1_INTEGER_cmp(a, b) > 0;
	} else if (a == NULL && b == NULL) {
		newer = ASN1_TIME_compare(X509_CRL_get0_lastUpdate(crl),
		                          X509_CRL_get0_lastUpdate(kept)) > 0;
	} else {
		newer = a != NULL;
	}
	ASN1_INTEGER_free(a);
	ASN1_INTEGER_free(b);
	return newer;
}

/* Say whether the network CA issued and signed crl. */
static int crl_is_from(const X509_CRL *crl, X509 *ca)
{
	int ok = X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 &&
	         X509_CRL_verify((X509_CRL *)crl, X509_get0_pubkey(ca)) == 1;

	ERR_clear_error();
	return ok;
}

/* Name the keep's file dir/crl-FINGERPRINT.der after the CA; "" when dir is NULL. */
static int keep_path(struct crl_keep *k, const char *dir)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	int n;

	if (dir == NULL || dir[0] == '\0') {
		return 0;
	}
	if (X509_digest(k->ca, EVP_sha256(), md, &mdlen) != 1 ||
	    OPENSSL_buf2hexstr_ex(hex, sizeof(hex), NULL, md, mdlen, '\0') != 1) {
		return -1;
	}
	n = snprintf(k->path, sizeof(k->path), "%s/crl-%s.der", dir, hex);
	return n > 0 && (size_t)n < sizeof(k->path) ? 0 : -1;
}

/* Keep crl (taking it over), replacing the one kept; write it to the keep's file. */
static int keep_crl(struct crl_keep *k, X509_CRL *crl, char *err, size_t errlen)
{
	unsigned char *der = NULL;
	int len, rc = 0;

	X509_CRL_free(k->crl);
	k->crl = crl;
	if (k->path[0] == '\0') {
		return 0;
	}
	if ((len = i2d_X509_CRL(crl, &der)) <= 0 || ca_make_parents(k->path) < 0) {
		snprintf(err, errlen, "cannot keep the revocation list in %s: %s", k->path,
		         len <= 0 ? "out of memory" : strerror(errno));
		rc = -1;
	} else {
		rc = ca_write_file(k->path, der, (size_t)len, 0600, 0, err, errlen);
	}
	OPENSSL_free(der);
	return rc;
}

/* Offer a parsed crl (taking it over): kept when the CA signed it and it is newer. */
static enum crl_offer offer(struct crl_keep *k, X509_CRL *crl, char *err, size_t errlen)
{
	char ignored[512];

	if (crl == NULL || !crl_is_from(crl, k->ca)) {
		X509_CRL_free(crl);
		return CRL_OFFER_BAD;
	}
	if (k->crl != NULL && !crl_is_newer(crl, k->crl)) {
		X509_CRL_free(crl);
		return CRL_OFFER_OLDER;
	}
	keep_crl(k, crl, err ? err : ignored, err ? errlen : sizeof(ignored));
	return CRL_OFFER_KEPT;
}

/* Read the CRL kept in the keep's file, if any; one that does not verify is ignored. */
static void load_kept(struct crl_keep *k)
{
	FILE *fp = k->path[0] ? fopen(k->path, "rb") : NULL;
	X509_CRL *crl;

	if (fp == NULL) {
		return;
	}
	crl = d2i_X509_CRL_fp(fp, NULL);
	fclose(fp);
	if (crl != NULL && crl_is_from(crl, k->ca)) {
		k->crl = crl;
	} else {
		X509_CRL_free(crl);
	}
	ERR_clear_error();
}

/* Open the keep for the CA in the PEM file ca, kept in dir. */
struct crl_keep *crl_keep_open(const char *ca, const char *dir, char *err, size_t errlen)
{
	struct crl_keep *k = calloc(1, sizeof(*k));
	FILE *fp;

	if (k == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((fp = fopen(ca, "r")) != NULL) {
		k->ca = PEM_read_X509(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	ERR_clear_error();
	if (k->ca == NULL) {
		snprintf(err, errlen, "cannot read the CA certificate %s", ca);
		crl_keep_free(k);
		return NULL;
	}
	if (keep_path(k, dir) < 0) {
		k->path[0] = '\0'; /* keep it in memory: the check itself still works */
	}
	load_kept(k);
	return k;
}

/* Free the keep. */
void crl_keep_free(struct crl_keep *k)
{
	if (k == NULL) {
		return;
	}
	X509_CRL_free(k->crl);
	X509_free(k->ca);
	free(k);
}

/* Offer the PEM CRL file at path. */
int crl_keep_pin(struct crl_keep *k, const char *path, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	X509_CRL *crl;

	if (fp == NULL) {
		snprintf(err, errlen, "cannot read the CRL file %s: %s", path, strerror(errno));
		return -1;
	}
	crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
	fclose(fp);
	ERR_clear_error();
	if (crl == NULL) {
		snprintf(err, errlen,
		         "%s holds no PEM revocation list (expected a \"-----BEGIN X509 CRL-----\" "
		         "block)",
		         path);
		return -1;
	}
	if (offer(k, crl, NULL, 0) == CRL_OFFER_BAD) {
		snprintf(err, errlen, "the CRL %s was not signed by the network CA", path);
		return -1;
	}
	return 0;
}

/* Offer the DER CRL the hub sent. */
enum crl_offer crl_keep_offer(struct crl_keep *k, const unsigned char *der, size_t len, char *err,
                              size_t errlen)
{
	const unsigned char *p = der;
	X509_CRL *crl = len <= LONG_MAX ? d2i_X509_CRL(NULL, &p, (long)len) : NULL;

	ERR_clear_error();
	if (crl != NULL && p != der + len) {
		X509_CRL_free(crl); /* bytes after the CRL: not what a hub sends */
		crl = NULL;
	}
	return offer(k, crl, err, errlen);
}

/* Say whether the kept CRL lists cert as revoked. */
int crl_keep_revokes(const struct crl_keep *k, X509 *cert)
{
	X509_REVOKED *rev = NULL;

	/* The look-up also checks that cert's issuer is the CRL's. */
	return k != NULL && k->crl != NULL && cert != NULL &&
	       X509_CRL_get0_by_cert(k->crl, &rev, cert) == 1;
}

/* Format t as "YYYY-MM-DD" into buf. */
static void date_text(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm) || strftime(buf, len, "%Y-%m-%d", &tm) == 0) {
		snprintf(buf, len, "?");
	}
}

/* Say whether the kept CRL is past its next update. */
int crl_keep_is_stale(const struct crl_keep *k, char *when, size_t len)
{
	const ASN1_TIME *next = k && k->crl ? X509_CRL_get0_nextUpdate(k->crl) : NULL;

	if (next == NULL || X509_cmp_time(next, NULL) >= 0) {
		return 0;
	}
	date_text(next, when, len);
	return 1;
}

/* Describe the kept CRL. */
void crl_keep_describe(const struct crl_keep *k, char *buf, size_t len)
{
	char next[16] = "none";
	ASN1_INTEGER *n;
	char *number;

	buf[0] = '\0';
	if (k == NULL || k->crl == NULL) {
		return;
	}
	if (X509_CRL_get0_nextUpdate(k->crl) != NULL) {
		date_text(X509_CRL_get0_nextUpdate(k->crl), next, sizeof(next));
	}
	n = crl_number(k->crl);
	number = n != NULL ? i2s_ASN1_INTEGER(NULL, n) : NULL;
	snprintf(buf, len, "number %s, next update %s", number ? number : "none", next);
	OPENSSL_free(number);
	ASN1_INTEGER_free(n);
}

/* The client's verify callback: OpenSSL's verdict, and then the server's certificate
 * refused when the keep revokes it. Depth 0 comes last, once the chain and host are good. */
static int guard_cb(int ok, X509_STORE_CTX *vctx)
{
	const struct crl_keep *k;

	if (!ok || X509_STORE_CTX_get_error_depth(vctx) != 0) {
		return ok;
	}
	k = X509_STORE_get_ex_data(X509_STORE_CTX_get0_store(vctx), guard_index());
	if (crl_keep_revokes(k, X509_STORE_CTX_get_current_cert(vctx))) {
		X509_STORE_CTX_set_error(vctx, X509_V_ERR_CERT_REVOKED);
		return 0;
	}
	return ok;
}

/* Make ctx's handshakes refuse a server the keep's CRL revokes. */
int crl_keep_guard(SSL_CTX *ctx, const struct crl_keep *k)
{
	int idx = guard_index();

	if (idx < 0 || !X509_STORE_set_ex_data(SSL_CTX_get_cert_store(ctx), idx, (void *)k)) {
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), guard_cb);
	return 0;
}

/* DER-encode the CRL ctx checks partners against. */
int crl_keep_ctx_der(SSL_CTX *ctx, unsigned char **der)
{
	STACK_OF(X509_OBJECT) *objs =
	    ctx != NULL ? X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx)) : NULL;

	*der = NULL;
	for (int i = 0; objs != NULL && i < sk_X509_OBJECT_num(objs); i++) {
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));

		if (crl != NULL) {
			int len = i2d_X509_CRL(crl, der);

			return len > 0 ? len : -1;
		}
	}
	return 0;
}
