/* Revocation checking against one CRL verified once, when it was loaded. */
#include "revocation.h"

#include <openssl/x509.h>
#include <time.h>

static CRYPTO_ONCE crl_once = CRYPTO_ONCE_STATIC_INIT;
static int crl_idx = -1;

/* Free the CRL a store holds, with the store. */
static void crl_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	X509_CRL_free(ptr);
}

static void crl_index_init(void)
{
	crl_idx = X509_STORE_get_ex_new_index(0, NULL, NULL, NULL, crl_free);
}

/* Return the X509_STORE ex_data index of the CRL, allocated on first use; or -1. */
static int crl_index(void)
{
	if (!CRYPTO_THREAD_run_once(&crl_once, crl_index_init)) {
		return -1;
	}
	return crl_idx;
}

/* Return the time the verification is at, as X509_cmp_time wants it (NULL: now). */
static time_t *check_time(X509_STORE_CTX *vctx, time_t *buf)
{
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(vctx);

	if ((X509_VERIFY_PARAM_get_flags(param) & X509_V_FLAG_USE_CHECK_TIME) == 0) {
		return NULL;
	}
	*buf = X509_VERIFY_PARAM_get_time(param);
	return buf;
}

/* Return the X509_V_ERR_* verdict of crl on leaf. */
static int crl_verdict(X509_STORE_CTX *vctx, const X509_CRL *crl, X509 *leaf)
{
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(vctx);
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	X509_REVOKED *rev = NULL;
	time_t buf;
	time_t *at = check_time(vctx, &buf);

	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(leaf)) != 0) {
		return X509_V_ERR_UNABLE_TO_GET_CRL;
	}
	if ((X509_VERIFY_PARAM_get_flags(param) & X509_V_FLAG_NO_CHECK_TIME) == 0) {
		if (X509_cmp_time(X509_CRL_get0_lastUpdate(crl), at) > 0) {
			return X509_V_ERR_CRL_NOT_YET_VALID;
		}
		if (next != NULL && X509_cmp_time(next, at) < 0) {
			return X509_V_ERR_CRL_HAS_EXPIRED;
		}
	}
	/* A const CRL is fine: the lookup only sorts the list once (under its own lock). */
	if (X509_CRL_get0_by_cert((X509_CRL *)crl, &rev, leaf) == 1) {
		return X509_V_ERR_CERT_REVOKED;
	}
	return X509_V_OK;
}

/*
 * The store's check_revocation: OpenSSL's own re-verifies the CRL's signature on
 * every handshake (an ECDSA verify and a CRL look-up by name each time); this one
 * looks the leaf up in the CRL verified at load. Like OpenSSL's with
 * X509_V_FLAG_CRL_CHECK, it checks the leaf only: the chain above it is the CA.
 */
static int check_revocation(X509_STORE_CTX *vctx)
{
	const X509_CRL *crl = X509_STORE_get_ex_data(X509_STORE_CTX_get0_store(vctx), crl_index());
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(vctx);
	X509 *leaf = chain != NULL ? sk_X509_value(chain, 0) : NULL;
	int verdict;

	if (leaf == NULL) {
		X509_STORE_CTX_set_error(vctx, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	verdict = crl != NULL ? crl_verdict(vctx, crl, leaf) : X509_V_ERR_UNABLE_TO_GET_CRL;
	if (verdict == X509_V_OK) {
		return 1;
	}
	X509_STORE_CTX_set_error_depth(vctx, 0);
	X509_STORE_CTX_set_current_cert(vctx, leaf);
	X509_STORE_CTX_set_error(vctx, verdict);
	return X509_STORE_CTX_get_verify_cb(vctx)(0, vctx);
}

/* Make every verification with store check the leaf against crl. */
int revocation_install(X509_STORE *store, X509_CRL *crl)
{
	int idx = crl_index();

	if (idx < 0 || !X509_CRL_up_ref(crl)) {
		return -1;
	}
	if (!X509_STORE_set_ex_data(store, idx, crl)) {
		X509_CRL_free(crl);
		return -1;
	}
	X509_STORE_set_check_revocation(store, check_revocation);
	return X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK) == 1 ? 0 : -1;
}
