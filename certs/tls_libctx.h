/*
 * The OpenSSL library context refex's TLS contexts are built in: the default
 * provider's algorithms, with its key managers and decoders cut down to the
 * ones an EC P-256 partnership uses.
 */
#ifndef REFEX_TLS_LIBCTX_H
#define REFEX_TLS_LIBCTX_H

#include <openssl/crypto.h>

/*
 * Return the process-wide library context for TLS, made on first use (thread
 * safe). NULL means OpenSSL's default context (when the narrowed one cannot be
 * made): every _ex function takes NULL for that, so callers need no fallback.
 */
OSSL_LIB_CTX *tls_libctx(void);

#endif
