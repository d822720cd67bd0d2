/* Who a partner certificate belongs to: agency in O, holder in CN. */
#include "identity.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

/* Say whether s is a valid agency id: [a-z0-9][a-z0-9-]{0,62}. */
int identity_agency_is_valid(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || s[0] == '-') {
		return 0;
	}
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= IDENTITY_AGENCY_MAX) {
			return 0;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			return 0;
		}
	}
	return 1;
}

/* Write cert's serial number as upper-case hex into buf. */
static void serial_hex(X509 *cert, char *buf, size_t len)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	snprintf(buf, len, "%s", hex ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
}

/* Write cert's SHA-256 fingerprint as "AB:CD:..." into buf. */
static void fingerprint_hex(X509 *cert, char *buf, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	size_t off = 0;

	buf[0] = '\0';
	if (!X509_digest(cert, EVP_sha256(), md, &n)) {
		snprintf(buf, len, "?");
		return;
	}
	for (i = 0; i < n && off + 3 < len; i++) {
		off += (size_t)snprintf(buf + off, len - off, i ? ":%02X" : "%02X", md[i]);
	}
}

/* Fill only the serial and fingerprint of cert (for logging refusals). */
void identity_cert_ids(X509 *cert, struct identity *id)
{
	serial_hex(cert, id->serial, sizeof(id->serial));
	fingerprint_hex(cert, id->fingerprint, sizeof(id->fingerprint));
	ERR_clear_error();
}

/*
 * Copy the one subject entry of type nid into buf as UTF-8. Returns its
 * length, -1 when absent, -2 when repeated (ambiguous), -3 when unreadable,
 * too long or holding control characters.
 */
static int subject_entry(X509 *cert, int nid, char *buf, size_t len)
{
	X509_NAME *name = X509_get_subject_name(cert);
	int at = X509_NAME_get_index_by_NID(name, nid, -1);
	unsigned char *utf8 = NULL;
	int n, i, rc;

	if (at < 0) {
		return -1;
	}
	if (X509_NAME_get_index_by_NID(name, nid, at) >= 0) {
		return -2;
	}
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at)));
	rc = n;
	if (n < 0 || (size_t)n >= len) {
		rc = -3;
	}
	for (i = 0; rc >= 0 && i < n; i++) {
		if (utf8[i] < 0x20 || utf8[i] == 0x7f) {
			rc = -3; /* includes an embedded NUL */
		}
	}
	if (rc >= 0) {
		memcpy(buf, utf8, (size_t)n);
		buf[n] = '\0';
	}
	OPENSSL_free(utf8);
	return rc;
}

/* Say whether cert is a CA certificate in any form OpenSSL recognises. */
static int cert_is_ca(X509 *cert)
{
	return X509_check_ca(cert) != 0 || (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
}

/* Say whether cert names clientAuth in an extendedKeyUsage extension. */
static int cert_is_for_clients(X509 *cert)
{
	if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) == 0) {
		return 0; /* no EKU at all: not made by refex-ca for a partner */
	}
	return (X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT) != 0;
}

/* Read the identity from a (verified) partner certificate. */
int identity_from_cert(X509 *cert, struct identity *id, char *err, size_t errlen)
{
	int rc = -1, n;

	memset(id, 0, sizeof(*id));
	if (cert == NULL) {
		snprintf(err, errlen, "no certificate");
		goto done;
	}
	identity_cert_ids(cert, id);
	if (cert_is_ca(cert)) {
		snprintf(err, errlen, "certificate is a CA certificate, not a partner certificate");
		goto done;
	}
	if (!cert_is_for_clients(cert)) {
		snprintf(err, errlen, "certificate is not for client use (no clientAuth)");
		goto done;
	}
	n = subject_entry(cert, NID_organizationName, id->agency, sizeof(id->agency));
	if (n == -1) {
		snprintf(err, errlen, "certificate names no agency (no O in the subject)");
		goto done;
	}
	if (n == -2) {
		snprintf(err, errlen,
		         "certificate names more than one agency (O is repeated; it must appear "
		         "once)");
		goto done;
	}
	if (n < 0 || !identity_agency_is_valid(id->agency)) {
		snprintf(err, errlen,
		         "certificate's agency (O) is not a valid agency id "
		         "(1-63 of a-z, 0-9 and '-', starting with a letter or digit)");
		goto done;
	}
	n = subject_entry(cert, NID_commonName, id->holder, sizeof(id->holder));
	if (n == -1 || n == 0) {
		snprintf(err, errlen, "certificate names no holder (empty or missing CN)");
		goto done;
	}
	if (n < 0) {
		snprintf(err, errlen,
		         "certificate's holder (CN) is repeated, longer than %d bytes or "
		         "holds control characters",
		         IDENTITY_HOLDER_MAX);
		goto done;
	}
	rc = 0;
done:
	if (rc < 0) {
		id->agency[0] = id->holder[0] = '\0';
	}
	ERR_clear_error();
	return rc;
}
