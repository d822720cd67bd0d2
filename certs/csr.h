/*
 * Certificate signing requests: a partner makes its own key and a request
 * naming its agency (subject O) and holder (CN); the CA admin signs the
 * request (ca_sign) without ever seeing the key. Returns 0 or -1 with a
 * plain-words reason in err.
 */
#ifndef REFEX_CSR_H
#define REFEX_CSR_H

#include <openssl/evp.h>
#include <stddef.h>

#include "identity.h"

/* What a verified request asks for. */
struct csr_info {
	char agency[IDENTITY_AGENCY_MAX + 1];
	char holder[IDENTITY_HOLDER_MAX + 1];
};

/*
 * Make a new EC P-256 key at out_prefix.key (mode 0600) and a request for it
 * at out_prefix.csr (PEM), subject O=agency, CN=holder, signed with SHA-256.
 * Never overwrites either file; leaves neither behind on failure.
 */
int csr_make(const char *agency, const char *holder, const char *out_prefix, char *err,
             size_t errlen);

/*
 * Read the PEM request at path, check its self-signature, that its key is EC
 * P-256 and that its O and CN are a valid agency id and holder. Fills info and
 * *key (the request's public key; EVP_PKEY_free it).
 */
int csr_read(const char *path, struct csr_info *info, EVP_PKEY **key, char *err, size_t errlen);

#endif
