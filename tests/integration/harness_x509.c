/* Certificates and CRLs refex-ca would not make (already expired, not yet valid, forged,
 * a repeated subject entry, a CRL about to expire), built with OpenSSL. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <sys/stat.h>

#include "harness.h"

/* Read the PEM certificate or key at path (the net CA's files). */
static X509 *read_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x;

	cr_assert_not_null(fp, "cannot read %s", path);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	cr_assert_not_null(x, "%s holds no certificate", path);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *fp = fopen(path, "r");
	EVP_PKEY *k;

	cr_assert_not_null(fp, "cannot read %s", path);
	k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	cr_assert_not_null(k, "%s holds no key", path);
	return k;
}

/* Add the extension nid = value to x, issued by ca. */
static void add_ext(X509 *x, X509 *ca, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	cr_assert_not_null(ext, "cannot make extension %d", nid);
	cr_assert(X509_add_ext(x, ext, -1));
	X509_EXTENSION_free(ext);
}

/* Write x and key as prefix.crt and prefix.key (mode 0600). */
static void write_pair(const char *prefix, X509 *x, EVP_PKEY *key)
{
	char path[NET_PATH_MAX + 32];
	FILE *fp;

	snprintf(path, sizeof(path), "%s.crt", prefix);
	cr_assert_not_null(fp = fopen(path, "w"));
	cr_assert(PEM_write_X509(fp, x));
	fclose(fp);
	snprintf(path, sizeof(path), "%s.key", prefix);
	cr_assert_not_null(fp = fopen(path, "w"));
	cr_assert_eq(fchmod(fileno(fp), 0600), 0);
	cr_assert(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL));
	fclose(fp);
}

/* Issue a partner certificate with the subject entries rdns (type, value, type, value, ...,
 * NULL), valid from from_days to to_days around now, signed with the net's CA key, as the
 * files FILE.crt and FILE.key in the net directory; returns the prefix (a static buffer). */
static const char *issue(const struct net *net, const char *file, long from_days, long to_days,
                         const char *const *rdns)
{
	static char prefix[NET_PATH_MAX + 16];
	char ca_key_path[NET_PATH_MAX + 16];
	X509 *ca = read_cert(net->ca), *x = X509_new();
	EVP_PKEY *ca_key, *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_NAME *name = X509_NAME_new();

	snprintf(ca_key_path, sizeof(ca_key_path), "%s/ca.key", net->ca_dir);
	ca_key = read_key(ca_key_path);
	cr_assert(x && key && name);
	cr_assert(X509_set_version(x, X509_VERSION_3));
	cr_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 0x5eed));
	cr_assert(X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400));
	cr_assert(X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400));
	for (size_t i = 0; rdns[i] != NULL; i += 2) {
		cr_assert(X509_NAME_add_entry_by_txt(
		    name, rdns[i], MBSTRING_UTF8, (const unsigned char *)rdns[i + 1], -1, -1, 0));
	}
	cr_assert(X509_set_subject_name(x, name));
	cr_assert(X509_set_issuer_name(x, X509_get_subject_name(ca)));
	cr_assert(X509_set_pubkey(x, key));
	add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE");
	add_ext(x, ca, NID_key_usage, "critical,digitalSignature");
	add_ext(x, ca, NID_ext_key_usage, "clientAuth");
	add_ext(x, ca, NID_authority_key_identifier, "keyid:always");
	cr_assert(X509_sign(x, ca_key, EVP_sha256()));
	snprintf(prefix, sizeof(prefix), "%s/%s", net->dir, file);
	write_pair(prefix, x, key);
	X509_NAME_free(name);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return prefix;
}

/* Sign a CRL of the net's CA with no revoked entries, its last update last_s and its next update
 * next_s seconds from now, CRL number number (none when negative), with the CA key or, when
 * forged, with a key of its own under the CA's name; write it as PEM to path. */
static void sign_crl(const struct net *net, const char *path, long number, long last_s, long next_s,
                     bool forged)
{
	char ca_key_path[NET_PATH_MAX + 16];
	X509 *ca = read_cert(net->ca);
	X509_CRL *crl = X509_CRL_new();
	ASN1_INTEGER *n = ASN1_INTEGER_new();
	ASN1_TIME *last = X509_gmtime_adj(NULL, last_s);
	ASN1_TIME *next = X509_gmtime_adj(NULL, next_s);
	EVP_PKEY *key;
	FILE *fp;

	snprintf(ca_key_path, sizeof(ca_key_path), "%s/ca.key", net->ca_dir);
	key = forged ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") : read_key(ca_key_path);
	cr_assert(crl && n && last && next && key);
	cr_assert(X509_CRL_set_version(crl, X509_CRL_VERSION_2));
	cr_assert(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)));
	cr_assert(X509_CRL_set1_lastUpdate(crl, last) && X509_CRL_set1_nextUpdate(crl, next));
	if (number >= 0) {
		cr_assert(ASN1_INTEGER_set(n, number));
		cr_assert(X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, 0));
	}
	cr_assert(X509_CRL_sign(crl, key, EVP_sha256()));
	cr_assert_not_null(fp = fopen(path, "w"), "cannot write %s", path);
	cr_assert(PEM_write_X509_CRL(fp, crl));
	fclose(fp);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	ASN1_INTEGER_free(n);
	EVP_PKEY_free(key);
	X509_CRL_free(crl);
	X509_free(ca);
}

/* Sign a CRL of the net's CA with no revoked entries, CRL number number, whose next update is
 * next_days from now (negative: past), signed with the CA key or, when forged, with a key of
 * its own under the CA's name; write it as PEM to name in the net directory. */
const char *net_sign_crl(const struct net *net, const char *name, long number, long next_days,
                         bool forged)
{
	static char path[NET_PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", net->dir, name);
	sign_crl(net, path, number, (next_days - 30) * 86400, next_days * 86400, forged);
	return path;
}

/* Issue a north-advice partner certificate valid from from_days to to_days around now
 * (negative: in the past), signed with the net's CA key (refex-ca only issues certificates
 * valid from now), as the files FILE.crt and FILE.key in the net directory. */
const char *net_issue_dated(const struct net *net, const char *file, long from_days, long to_days)
{
	static const char *const rdns[] = {"O", "north-advice", "CN", "Old Timer", NULL};

	return issue(net, file, from_days, to_days, rdns);
}

/* Issue a partner certificate, valid for a year, whose subject is rdns (refex-ca makes only
 * well-formed subjects), as the files FILE.crt and FILE.key in the net directory. */
const char *net_issue_subject(const struct net *net, const char *file, const char *const *rdns)
{
	return issue(net, file, 0, 365, rdns);
}

/* Replace the net's CRL (refexd's crl =) with an empty one, signed with the CA key, whose next
 * update is seconds from now (refex-ca gives every CRL 30 days). */
void net_write_crl_expiring(const struct net *net, long seconds)
{
	char path[NET_PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/crl.pem", net->ca_dir);
	sign_crl(net, path, -1, -60, seconds, false);
}
