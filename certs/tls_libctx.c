/*
 * A library context for TLS whose only provider passes the default provider
 * through, minus the key managers and decoders refex never uses.
 *
 * Why: OpenSSL 3.0 decodes the public key of every certificate it parses
 * through OSSL_DECODER_CTX_new_for_pkey, which walks every key manager and
 * every decoder of the library context, by name, on each call (no cache until
 * 3.2). With the default provider's ~20 key managers and ~45 decoders that was
 * ~15% of refexd's CPU per new connection, more than an ECDSA verification.
 * Every other operation (ciphers, digests, signatures, key exchange, KDFs,
 * random) is the default provider's, unchanged.
 */
#include "tls_libctx.h"

#include <openssl/core_dispatch.h>
#include <openssl/provider.h>
#include <string.h>

#define PROVIDER_NAME "refex-tls"

/* Key types TLS 1.3 with EC P-256 certificates needs: the certificates' keys, the key
 * exchange groups, and the KDF and MAC keys libssl makes. */
static const char *const keymgmt_allowed[] = {"EC", "X25519", "X448", "HKDF", "TLS1-PRF", "HMAC"};
/* Decoders for EC keys, and PEM/PKCS#8/SubjectPublicKeyInfo unwrapping. */
static const char *const decoder_allowed[] = {"EC", "DER"};

static OSSL_PROVIDER *deflt;
static OSSL_ALGORITHM *keymgmts, *decoders;
static OSSL_LIB_CTX *libctx;
static CRYPTO_ONCE libctx_once = CRYPTO_ONCE_STATIC_INIT;

/* Say whether the first of an algorithm's names ("EC:id-ecPublicKey:...") is in allowed. */
static int name_allowed(const char *names, const char *const *allowed, size_t n)
{
	size_t len = strcspn(names, ":");

	for (size_t i = 0; i < n; i++) {
		if (strlen(allowed[i]) == len && strncmp(names, allowed[i], len) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Copy the default provider's algorithms for operation whose name is allowed, with the
 * terminating empty entry; NULL on failure. */
static OSSL_ALGORITHM *algorithms_kept(int operation, const char *const *allowed, size_t n)
{
	int no_cache = 0;
	const OSSL_ALGORITHM *all = OSSL_PROVIDER_query_operation(deflt, operation, &no_cache);
	OSSL_ALGORITHM *kept;
	size_t count = 0, k = 0;

	if (all == NULL) {
		return NULL;
	}
	while (all[count].algorithm_names != NULL) {
		count++;
	}
	if ((kept = OPENSSL_zalloc((count + 1) * sizeof(*kept))) != NULL) {
		for (size_t i = 0; i < count; i++) {
			if (name_allowed(all[i].algorithm_names, allowed, n)) {
				kept[k++] = all[i];
			}
		}
	}
	OSSL_PROVIDER_unquery_operation(deflt, operation, all);
	return kept;
}

static const OSSL_ALGORITHM *narrow_query(void *provctx, int operation, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	if (operation == OSSL_OP_KEYMGMT) {
		return keymgmts;
	}
	if (operation == OSSL_OP_DECODER) {
		return decoders;
	}
	return OSSL_PROVIDER_query_operation(deflt, operation, no_cache);
}

static void narrow_unquery(void *provctx, int operation, const OSSL_ALGORITHM *algs)
{
	(void)provctx;
	if (algs != keymgmts && algs != decoders) {
		OSSL_PROVIDER_unquery_operation(deflt, operation, algs);
	}
}

static const OSSL_PARAM *narrow_gettable_params(void *provctx)
{
	(void)provctx;
	return OSSL_PROVIDER_gettable_params(deflt);
}

static int narrow_get_params(void *provctx, OSSL_PARAM params[])
{
	(void)provctx;
	return OSSL_PROVIDER_get_params(deflt, params);
}

/* The TLS-GROUP capability tells libssl which key exchange groups exist. */
static int narrow_get_capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb,
                                   void *arg)
{
	(void)provctx;
	return OSSL_PROVIDER_get_capabilities(deflt, capability, cb, arg);
}

static const OSSL_DISPATCH narrow_dispatch[] = {
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))narrow_gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))narrow_get_params},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))narrow_query},
    {OSSL_FUNC_PROVIDER_UNQUERY_OPERATION, (void (*)(void))narrow_unquery},
    {OSSL_FUNC_PROVIDER_GET_CAPABILITIES, (void (*)(void))narrow_get_capabilities},
    {0, NULL},
};

/* Start the provider: the default provider's own context serves its algorithms. */
static int narrow_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx)
{
	(void)handle;
	(void)in;
	*provctx = OSSL_PROVIDER_get0_provider_ctx(deflt);
	*out = narrow_dispatch;
	return 1;
}

/* Make the narrowed context, or leave libctx NULL (OpenSSL's default) when it cannot be. */
static void libctx_init(void)
{
	OSSL_LIB_CTX *ctx = NULL;

	/* The default provider in OpenSSL's default context: its algorithms keep fetching
	 * what they use internally (digests, the DRBG) there, as they always do. */
	if ((deflt = OSSL_PROVIDER_load(NULL, "default")) == NULL ||
	    (keymgmts = algorithms_kept(OSSL_OP_KEYMGMT, keymgmt_allowed,
	                                sizeof(keymgmt_allowed) / sizeof(*keymgmt_allowed))) ==
	        NULL ||
	    (decoders = algorithms_kept(OSSL_OP_DECODER, decoder_allowed,
	                                sizeof(decoder_allowed) / sizeof(*decoder_allowed))) ==
	        NULL ||
	    (ctx = OSSL_LIB_CTX_new()) == NULL ||
	    !OSSL_PROVIDER_add_builtin(ctx, PROVIDER_NAME, narrow_init) ||
	    OSSL_PROVIDER_load(ctx, PROVIDER_NAME) == NULL) {
		OSSL_LIB_CTX_free(ctx);
		return;
	}
	libctx = ctx;
}

/* Return the process-wide library context for TLS (NULL: OpenSSL's default). */
OSSL_LIB_CTX *tls_libctx(void)
{
	if (!CRYPTO_THREAD_run_once(&libctx_once, libctx_init)) {
		return NULL;
	}
	return libctx;
}
