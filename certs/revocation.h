/*
 * Revocation checking against one CRL whose signature was verified once, when
 * it was loaded, instead of on every handshake.
 */
#ifndef REFEX_REVOCATION_H
#define REFEX_REVOCATION_H

#include <openssl/x509_vfy.h>

/*
 * Make every verification with store check the leaf certificate against crl:
 * refused as revoked when crl lists it, and every certificate refused while crl
 * is not yet valid or has expired (the errors OpenSSL's own CRL check gives).
 * The caller must already have checked that the network CA issued and signed
 * crl. store keeps a reference to crl and turns on X509_V_FLAG_CRL_CHECK.
 * Returns 0 or -1.
 */
int revocation_install(X509_STORE *store, X509_CRL *crl);

#endif
