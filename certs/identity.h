/*
 * Who a partner certificate belongs to. A partner certificate carries the
 * agency id in the subject's organizationName (O) and the holder (a staff
 * member or a system) in its commonName (CN), and has the clientAuth
 * extended key usage.
 */
#ifndef REFEX_IDENTITY_H
#define REFEX_IDENTITY_H

#include <openssl/x509.h>
#include <stddef.h>

#define IDENTITY_AGENCY_MAX 63
#define IDENTITY_HOLDER_MAX 127

struct identity {
	char agency[IDENTITY_AGENCY_MAX + 1];
	char holder[IDENTITY_HOLDER_MAX + 1];
	char serial[64];      /* hex, upper case */
	char fingerprint[96]; /* SHA-256, hex pairs separated by ':' */
};

/* Say whether s is a valid agency id: [a-z0-9][a-z0-9-]{0,62}. */
int identity_agency_is_valid(const char *s);

/*
 * Read the identity from a (verified) partner certificate. Refuses, with a
 * plain-words reason in err, a CA certificate, one without clientAuth, one
 * whose O is not a valid agency id or whose CN is empty. Returns 0 or -1.
 */
int identity_from_cert(X509 *cert, struct identity *id, char *err, size_t errlen);

/* Fill only the serial and fingerprint of cert (for logging refusals). */
void identity_cert_ids(X509 *cert, struct identity *id);

#endif
