/* The partnership's certificate authority: create it, issue, revoke, publish the CRL. */
#include "ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca_issued.h"
#include "csr.h"

#define SKEW_SECONDS (5 * 60)
#define DAY_SECONDS  (24L * 60 * 60)

/* The CA's key and certificate, loaded for signing. */
struct ca_keys {
	EVP_PKEY *key;
	X509 *cert;
};

/* Revocation reasons ca_revoke accepts, with their CRL reason codes. */
static const struct {
	const char *name;
	int code;
} revoke_reasons[] = {
    {"unspecified", CRL_REASON_UNSPECIFIED},
    {"keyCompromise", CRL_REASON_KEY_COMPROMISE},
    {"affiliationChanged", CRL_REASON_AFFILIATION_CHANGED},
    {"superseded", CRL_REASON_SUPERSEDED},
    {"cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION},
};

/* Put the first OpenSSL error (or a fallback) after what in err, and clear the queue. */
void ca_ssl_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;

	snprintf(err, errlen, "%s: %s", what, why ? why : "OpenSSL error");
	ERR_clear_error();
}

/* Say whether s is non-empty, at most max bytes and free of control characters. */
static int text_is_printable(const char *s, size_t max)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > max) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			return 0;
		}
	}
	return 1;
}

/* Say whether s is valid UTF-8 (what a UTF8String may carry). */
static int text_is_utf8(const char *s)
{
	ASN1_STRING *out = NULL;
	int ok = ASN1_mbstring_copy(&out, (const unsigned char *)s, -1, MBSTRING_UTF8,
	                            B_ASN1_UTF8STRING) > 0;

	ASN1_STRING_free(out);
	ERR_clear_error();
	return ok;
}

/* Say whether label is a DNS label: 1-63 of letters, digits and '-', no '-' at the ends. */
static int dns_label_is_valid(const char *label, size_t n)
{
	size_t i;

	if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-') {
		return 0;
	}
	for (i = 0; i < n; i++) {
		char c = label[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-')) {
			return 0;
		}
	}
	return 1;
}

/* Say whether host is an IPv4 or IPv6 address literal. */
static int host_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Say whether host is a DNS name or IP address a server certificate can carry. */
int ca_host_is_valid(const char *host)
{
	const char *p, *dot;

	if (host == NULL || host[0] == '\0' || strlen(host) > 253) {
		return 0;
	}
	if (host_is_ip(host)) {
		return 1;
	}
	for (p = host;; p = dot + 1) {
		dot = strchr(p, '.');
		if (!dns_label_is_valid(p, dot ? (size_t)(dot - p) : strlen(p))) {
			return 0;
		}
		if (dot == NULL) {
			return 1;
		}
	}
}

/* Say whether reason is one ca_revoke accepts. */
int ca_revoke_reason_is_valid(const char *reason)
{
	size_t i;

	for (i = 0; reason != NULL && i < sizeof(revoke_reasons) / sizeof(revoke_reasons[0]); i++) {
		if (strcmp(reason, revoke_reasons[i].name) == 0) {
			return 1;
		}
	}
	return 0;
}

/* The accepted revocation reasons, comma-separated. */
const char *ca_revoke_reasons(void)
{
	return "unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation";
}

/* Put the reason to record into buf: a reason name as spelled in RFC 5280 (matched in any
 * case), or the admin's own words, which the CRL will call unspecified. */
static int reason_normalize(const char *reason, char *buf, size_t len, char *err, size_t errlen)
{
	size_t i;

	if (reason == NULL) {
		reason = "unspecified";
	}
	for (i = 0; i < sizeof(revoke_reasons) / sizeof(revoke_reasons[0]); i++) {
		if (strcasecmp(reason, revoke_reasons[i].name) == 0) {
			snprintf(buf, len, "%s", revoke_reasons[i].name);
			return 0;
		}
	}
	if (!text_is_printable(reason, CA_REASON_MAX) || !text_is_utf8(reason)) {
		snprintf(err, errlen,
		         "the reason must be one of %s, or 1-%d bytes of text without control "
		         "characters",
		         ca_revoke_reasons(), CA_REASON_MAX);
		return -1;
	}
	snprintf(buf, len, "%s", reason);
	return 0;
}

/* The CRL reason code for a reason name (unspecified when unknown). */
static int revoke_reason_code(const char *reason)
{
	size_t i;

	for (i = 0; reason != NULL && i < sizeof(revoke_reasons) / sizeof(revoke_reasons[0]); i++) {
		if (strcmp(reason, revoke_reasons[i].name) == 0) {
			return revoke_reasons[i].code;
		}
	}
	return CRL_REASON_UNSPECIFIED;
}

/* Write bio's contents to path (see ca_write_file). */
static int write_bio(BIO *bio, const char *path, mode_t mode, int exclusive, char *err,
                     size_t errlen)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);

	if (n <= 0) {
		snprintf(err, errlen, "nothing to write to %s", path);
		return -1;
	}
	return ca_write_file(path, data, (size_t)n, mode, exclusive, err, errlen);
}

/* Write key as unencrypted PKCS#8 PEM to a new file readable by its owner only. */
static int write_key(EVP_PKEY *key, const char *path, char *err, size_t errlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = -1;

	if (bio == NULL || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		ca_ssl_error(err, errlen, "cannot encode the private key");
	} else {
		rc = write_bio(bio, path, 0600, 1, err, errlen);
	}
	BIO_free(bio);
	return rc;
}

/* Write cert as PEM to path with mode 0644. */
static int write_cert(X509 *cert, const char *path, int exclusive, char *err, size_t errlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = -1;

	if (bio == NULL || !PEM_write_bio_X509(bio, cert)) {
		ca_ssl_error(err, errlen, "cannot encode the certificate");
	} else {
		rc = write_bio(bio, path, 0644, exclusive, err, errlen);
	}
	BIO_free(bio);
	return rc;
}

/* Make a new EC P-256 key. */
static EVP_PKEY *new_key(char *err, size_t errlen)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");

	if (key == NULL) {
		ca_ssl_error(err, errlen, "cannot generate a key");
	}
	return key;
}

/* Load the CA's key and certificate from dir and check they belong together. */
static int keys_load(const char *dir, struct ca_keys *k, char *err, size_t errlen)
{
	char path[PATH_MAX];
	FILE *fp;

	memset(k, 0, sizeof(*k));
	if (ca_path(path, sizeof(path), dir, "ca.key") < 0 || (fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot read the CA key %s: %s", path, strerror(errno));
		return -1;
	}
	k->key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (k->key == NULL) {
		snprintf(err, errlen,
		         "cannot load the CA key %s: not a PEM private key, or damaged", path);
		ERR_clear_error();
		return -1;
	}
	if (ca_path(path, sizeof(path), dir, "ca.crt") < 0 || (fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot read the CA certificate %s: %s", path,
		         strerror(errno));
		return -1;
	}
	k->cert = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (k->cert == NULL) {
		snprintf(err, errlen,
		         "cannot load the CA certificate %s: not a PEM certificate, or damaged",
		         path);
		ERR_clear_error();
		return -1;
	}
	if (X509_check_private_key(k->cert, k->key) != 1) {
		snprintf(err, errlen, "%s/ca.key does not belong to %s/ca.crt", dir, dir);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Free what keys_load loaded. */
static void keys_free(struct ca_keys *k)
{
	EVP_PKEY_free(k->key);
	X509_free(k->cert);
}

/* Add the extension nid = value (openssl x509v3_config syntax) to cert. */
static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&ctx);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL) {
		return -1;
	}
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* Add one UTF8String entry to name; no length table, the callers check lengths. */
static int name_add(X509_NAME *name, int nid, const char *value)
{
	return X509_NAME_add_entry_by_NID(name, nid, V_ASN1_UTF8STRING,
	                                  (const unsigned char *)value, -1, -1, 0)
	           ? 0
	           : -1;
}

/* Fill serial with 128 random bits (positive, top bit clear) and its hex. */
static int new_serial(ASN1_INTEGER **serial, char *hex, size_t len)
{
	unsigned char raw[16];
	BIGNUM *bn = NULL;
	char *h = NULL;
	int rc = -1;

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		return -1;
	}
	raw[0] &= 0x7f;
	raw[0] |= 0x40; /* always 32 hex digits */
	if ((bn = BN_bin2bn(raw, sizeof(raw), NULL)) == NULL ||
	    (*serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL || (h = BN_bn2hex(bn)) == NULL) {
		goto done;
	}
	snprintf(hex, len, "%s", h);
	rc = 0;
done:
	OPENSSL_free(h);
	BN_free(bn);
	return rc;
}

/* Start a v3 certificate: serial, subject, issuer, validity and public key. */
static X509 *cert_start(ASN1_INTEGER *serial, X509_NAME *subject, X509 *issuer, EVP_PKEY *key,
                        time_t not_before, time_t not_after)
{
	X509 *x = X509_new();

	if (x == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_serialNumber(x, serial) || !X509_set_subject_name(x, subject) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), not_after) || !X509_set_pubkey(x, key)) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Build and sign the self-signed CA certificate for the network called name. */
static X509 *ca_cert_build(EVP_PKEY *key, const char *name, time_t now)
{
	X509_NAME *subject = X509_NAME_new();
	ASN1_INTEGER *serial = NULL;
	X509 *x = NULL;
	char hex[64];

	if (subject == NULL || name_add(subject, NID_commonName, name) < 0 ||
	    new_serial(&serial, hex, sizeof(hex)) < 0 ||
	    (x = cert_start(serial, subject, NULL, key, now - SKEW_SECONDS,
	                    now + CA_VALIDITY_DAYS * DAY_SECONDS)) == NULL) {
		goto fail;
	}
	/* The subject key id first: the self-signed authority key id copies it. */
	if (add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
	    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(x, x, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, x, NID_authority_key_identifier, "keyid:always") < 0 ||
	    !X509_sign(x, key, EVP_sha256())) {
		goto fail;
	}
	ASN1_INTEGER_free(serial);
	X509_NAME_free(subject);
	return x;
fail:
	X509_free(x);
	ASN1_INTEGER_free(serial);
	X509_NAME_free(subject);
	return NULL;
}

/* Add a subjectAltName naming hosts (DNS names or IP addresses) to x. */
static int add_hosts(X509 *x, const char *const *hosts, size_t nhosts)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	size_t i;
	int rc = -1;

	for (i = 0; gens != NULL && i < nhosts; i++) {
		GENERAL_NAME *gen = GENERAL_NAME_new();
		ASN1_STRING *value = NULL;
		int type = host_is_ip(hosts[i]) ? GEN_IPADD : GEN_DNS;

		if (type == GEN_IPADD) {
			value = a2i_IPADDRESS(hosts[i]);
		} else if ((value = ASN1_IA5STRING_new()) != NULL &&
		           !ASN1_STRING_set(value, hosts[i], -1)) {
			ASN1_STRING_free(value);
			value = NULL;
		}
		if (gen == NULL || value == NULL || !sk_GENERAL_NAME_push(gens, gen)) {
			GENERAL_NAME_free(gen);
			ASN1_STRING_free(value);
			goto done;
		}
		GENERAL_NAME_set0_value(gen, type, value);
	}
	if (gens != NULL && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0) == 1) {
		rc = 0;
	}
done:
	GENERAL_NAMES_free(gens);
	return rc;
}

/* The subject of the certificate req asks for. */
static X509_NAME *request_subject(const struct ca_request *req)
{
	X509_NAME *name = X509_NAME_new();
	int ok;

	if (name == NULL) {
		return NULL;
	}
	if (req->kind == CA_KIND_PARTNER) {
		ok = name_add(name, NID_organizationName, req->agency) == 0 &&
		     name_add(name, NID_commonName, req->holder) == 0;
	} else {
		/* A CN is limited to 64 characters; the SANs are what clients check. */
		ok = name_add(name, NID_commonName,
		              strlen(req->hosts[0]) <= 64 ? req->hosts[0] : "refex server") == 0;
	}
	if (!ok) {
		X509_NAME_free(name);
		return NULL;
	}
	return name;
}

/* Build and sign the leaf certificate req asks for, for key, signed by the CA. */
static X509 *leaf_build(const struct ca_request *req, const struct ca_keys *ca, EVP_PKEY *key,
                        ASN1_INTEGER *serial, time_t not_before, time_t not_after)
{
	X509_NAME *subject = request_subject(req);
	X509 *x = NULL;
	int partner = req->kind == CA_KIND_PARTNER;

	if (subject == NULL ||
	    (x = cert_start(serial, subject, ca->cert, key, not_before, not_after)) == NULL) {
		goto fail;
	}
	if (add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(x, ca->cert, NID_ext_key_usage, partner ? "clientAuth" : "serverAuth") < 0 ||
	    add_ext(x, ca->cert, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always") < 0 ||
	    (!partner && add_hosts(x, req->hosts, req->nhosts) < 0) ||
	    !X509_sign(x, ca->key, EVP_sha256())) {
		goto fail;
	}
	X509_NAME_free(subject);
	return x;
fail:
	X509_free(x);
	X509_NAME_free(subject);
	return NULL;
}

/* Add one revoked entry (serial hex, when, reason) to crl. */
static int crl_add_revoked(X509_CRL *crl, const char *serial, time_t when, const char *reason)
{
	X509_REVOKED *rev = X509_REVOKED_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn = NULL;
	ASN1_TIME *t = ASN1_TIME_set(NULL, when);
	ASN1_ENUMERATED *code = NULL;
	int rc = -1, rcode = revoke_reason_code(reason);

	if (rev == NULL || t == NULL || !BN_hex2bn(&bn, serial) ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_REVOKED_set_serialNumber(rev, sn) || !X509_REVOKED_set_revocationDate(rev, t)) {
		goto done;
	}
	/* RFC 5280: leave the reason out rather than say "unspecified". */
	if (rcode != CRL_REASON_UNSPECIFIED &&
	    ((code = ASN1_ENUMERATED_new()) == NULL || !ASN1_ENUMERATED_set(code, rcode) ||
	     !X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, code, 0, 0))) {
		goto done;
	}
	if (X509_CRL_add0_revoked(crl, rev)) {
		rev = NULL;
		rc = 0;
	}
done:
	ASN1_ENUMERATED_free(code);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_REVOKED_free(rev);
	return rc;
}

/* Add every revoked record of root to crl. */
static int crl_add_all_revoked(X509_CRL *crl, json_t *root)
{
	json_t *obj;
	size_t i;

	json_array_foreach(ca_issued_certs(root), i, obj)
	{
		struct ca_record r;

		if (ca_record_from_json(obj, &r) < 0) {
			return -1;
		}
		if (r.status == CA_STATUS_REVOKED &&
		    crl_add_revoked(crl, r.serial, r.revoked_at > 0 ? r.revoked_at : time(NULL),
		                    r.revoke_reason) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Add the CRL number and authority key id extensions to crl. */
static int crl_add_exts(X509_CRL *crl, X509 *ca, long number)
{
	ASN1_INTEGER *n = ASN1_INTEGER_new();
	X509V3_CTX ctx;
	X509_EXTENSION *aki = NULL;
	int ok;

	ok = n != NULL && ASN1_INTEGER_set(n, number) &&
	     X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, 0) == 1;
	ASN1_INTEGER_free(n);
	if (!ok) {
		return -1;
	}
	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	X509V3_set_ctx_nodb(&ctx);
	aki = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	ok = aki != NULL && X509_CRL_add_ext(crl, aki, -1);
	X509_EXTENSION_free(aki);
	return ok ? 0 : -1;
}

/* Build and sign a CRL listing root's revoked certificates, numbered number. */
static X509_CRL *crl_build(json_t *root, const struct ca_keys *ca, long number, time_t now)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *last = ASN1_TIME_set(NULL, now);
	ASN1_TIME *next = ASN1_TIME_set(NULL, now + CA_CRL_DAYS * DAY_SECONDS);

	if (crl == NULL || last == NULL || next == NULL || !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) ||
	    !X509_CRL_set1_lastUpdate(crl, last) || !X509_CRL_set1_nextUpdate(crl, next) ||
	    crl_add_all_revoked(crl, root) < 0 || crl_add_exts(crl, ca->cert, number) < 0 ||
	    !X509_CRL_sort(crl) || !X509_CRL_sign(crl, ca->key, EVP_sha256())) {
		X509_CRL_free(crl);
		crl = NULL;
	}
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	return crl;
}

/* Sign a new dir/crl.pem from root and bump root's crl_number (the caller saves root). */
static int crl_publish(const char *dir, json_t *root, const struct ca_keys *ca, int exclusive,
                       char *err, size_t errlen)
{
	char path[PATH_MAX];
	long number = (long)json_integer_value(json_object_get(root, "crl_number")) + 1;
	X509_CRL *crl = crl_build(root, ca, number, time(NULL));
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = -1;

	if (crl == NULL || bio == NULL || !PEM_write_bio_X509_CRL(bio, crl)) {
		ca_ssl_error(err, errlen, "cannot build the CRL");
		goto done;
	}
	if (ca_path(path, sizeof(path), dir, "crl.pem") < 0) {
		snprintf(err, errlen, "CA directory name is too long");
		goto done;
	}
	if (write_bio(bio, path, 0644, exclusive, err, errlen) < 0 ||
	    json_object_set_new(root, "crl_number", json_integer(number)) < 0) {
		goto done;
	}
	rc = 0;
done:
	BIO_free(bio);
	X509_CRL_free(crl);
	return rc;
}

/* Make dir (mode 0700, it holds the CA key) and dir/issued, accepting existing ones. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return -1;
	}
	if (ca_path(path, sizeof(path), dir, "issued") < 0 ||
	    (mkdir(path, 0755) < 0 && errno != EEXIST)) {
		snprintf(err, errlen, "cannot create %s/issued: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Refuse when dir already holds (part of) a CA. */
static int check_no_ca(const char *dir, char *err, size_t errlen)
{
	static const char *const files[] = {"ca.key", "ca.crt", "issued.json", "crl.pem"};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (ca_path(path, sizeof(path), dir, files[i]) < 0 || access(path, F_OK) == 0) {
			snprintf(err, errlen,
			         "a CA already exists in %s (found %s); refusing to overwrite it",
			         dir, files[i]);
			return -1;
		}
	}
	return 0;
}

/* Refuse a dir that holds no CA, before anything is created in it. */
static int check_ca_dir(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (ca_path(path, sizeof(path), dir, "issued.json") < 0 || access(path, F_OK) < 0) {
		snprintf(err, errlen,
		         "%s is not a refex CA directory (no issued.json); "
		         "create one with: refex-ca init --dir %s --name NAME",
		         dir, dir);
		return -1;
	}
	return 0;
}

/* Remove dir/name (cleaning up after a failed operation). */
static void remove_in(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (ca_path(path, sizeof(path), dir, name) == 0) {
		unlink(path);
	}
}

/* Write a new CA's files into dir; the caller holds the lock. */
static int init_locked(const char *dir, const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct ca_keys ca = {NULL, NULL};
	json_t *root = NULL;
	int rc = -1, wrote_key = 0;

	if (check_no_ca(dir, err, errlen) < 0 || (ca.key = new_key(err, errlen)) == NULL) {
		goto done;
	}
	if ((ca.cert = ca_cert_build(ca.key, name, time(NULL))) == NULL) {
		ca_ssl_error(err, errlen, "cannot build the CA certificate");
		goto done;
	}
	if (ca_path(path, sizeof(path), dir, "ca.key") < 0 ||
	    write_key(ca.key, path, err, errlen) < 0) {
		goto done;
	}
	wrote_key = 1;
	if ((root = ca_issued_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (ca_path(path, sizeof(path), dir, "ca.crt") < 0 ||
	    write_cert(ca.cert, path, 1, err, errlen) < 0 ||
	    crl_publish(dir, root, &ca, 1, err, errlen) < 0 ||
	    ca_issued_save(dir, root, err, errlen) < 0) {
		goto done;
	}
	rc = 0;
done:
	if (rc < 0 && wrote_key) {
		remove_in(dir, "crl.pem");
		remove_in(dir, "ca.crt");
		remove_in(dir, "ca.key");
	}
	json_decref(root);
	keys_free(&ca);
	return rc;
}

/* Create a new CA in dir for the network called name. */
int ca_init(const char *dir, const char *name, char *err, size_t errlen)
{
	int lock, rc;

	if (!text_is_printable(name, CA_NAME_MAX) || !text_is_utf8(name)) {
		snprintf(err, errlen,
		         "the network name must be 1-%d characters of UTF-8 text without "
		         "control characters",
		         CA_NAME_MAX);
		return -1;
	}
	if (make_dirs(dir, err, errlen) < 0 || (lock = ca_lock(dir, err, errlen)) < 0) {
		return -1;
	}
	rc = init_locked(dir, name, err, errlen);
	ca_unlock(lock);
	return rc;
}

/* Check a partner's agency id and holder as ca_issue does. */
int ca_partner_names_check(const char *agency, const char *holder, char *err, size_t errlen)
{
	if (!identity_agency_is_valid(agency)) {
		snprintf(err, errlen,
		         "\"%s\" is not a valid agency id: use 1-%d of a-z, 0-9 and '-', starting "
		         "with a letter or digit",
		         agency ? agency : "", IDENTITY_AGENCY_MAX);
		return -1;
	}
	if (!text_is_printable(holder, IDENTITY_HOLDER_MAX) || !text_is_utf8(holder)) {
		snprintf(err, errlen,
		         "the holder must be 1-%d bytes of UTF-8 text without control characters",
		         IDENTITY_HOLDER_MAX);
		return -1;
	}
	return 0;
}

/* Check a server request: 1..CA_HOSTS_MAX valid hosts. */
static int check_server(const struct ca_request *req, char *err, size_t errlen)
{
	size_t i;

	if (req->hosts == NULL || req->nhosts == 0 || req->nhosts > CA_HOSTS_MAX) {
		snprintf(err, errlen, "a server certificate needs 1-%d host names or addresses",
		         CA_HOSTS_MAX);
		return -1;
	}
	for (i = 0; i < req->nhosts; i++) {
		if (!ca_host_is_valid(req->hosts[i])) {
			snprintf(err, errlen, "\"%s\" is neither a DNS name nor an IP address",
			         req->hosts[i]);
			return -1;
		}
	}
	return 0;
}

/* Check req before touching anything. */
static int check_request(const struct ca_request *req, char *err, size_t errlen)
{
	if (req->days < 0 || req->days > CA_DAYS_MAX) {
		snprintf(err, errlen, "validity must be 1-%d days", CA_DAYS_MAX);
		return -1;
	}
	if (req->out == NULL || req->out[0] == '\0') {
		snprintf(err, errlen, "no output prefix given");
		return -1;
	}
	if (req->kind == CA_KIND_PARTNER) {
		return ca_partner_names_check(req->agency, req->holder, err, errlen);
	}
	return check_server(req, err, errlen);
}

/* Build PREFIX.ext into buf. */
static int out_path(char *buf, size_t len, const char *prefix, const char *ext)
{
	int n = snprintf(buf, len, "%s.%s", prefix, ext);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The issued.json record of a certificate just issued. */
static json_t *record_new(const struct ca_request *req, const char *serial, const char *fingerprint,
                          time_t not_before, time_t not_after, const char *key_origin,
                          const char *renewed_from)
{
	char nb[32], na[32];
	json_t *hosts = json_array(), *rec;
	size_t i;
	int partner = req->kind == CA_KIND_PARTNER;

	for (i = 0; !partner && hosts != NULL && i < req->nhosts; i++) {
		json_array_append_new(hosts, json_string(req->hosts[i]));
	}
	ca_time_iso(not_before, nb, sizeof(nb));
	ca_time_iso(not_after, na, sizeof(na));
	rec = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:n, s:n, s:s, s:o}",
	                "serial", serial, "kind", ca_kind_name(req->kind), "agency",
	                partner ? json_string(req->agency) : json_null(), "holder",
	                partner ? json_string(req->holder) : json_null(), "hosts", hosts,
	                "not_before", nb, "not_after", na, "fingerprint", fingerprint, "status",
	                "valid", "revoked_at", "revoke_reason", "key_origin", key_origin,
	                "renewed_from", renewed_from ? json_string(renewed_from) : json_null());
	return rec;
}

/* Pick a serial not yet in root. */
static int unused_serial(json_t *root, ASN1_INTEGER **serial, char *hex, size_t len)
{
	int tries;

	for (tries = 0; tries < 8; tries++) {
		if (new_serial(serial, hex, len) < 0) {
			return -1;
		}
		if (ca_issued_find(root, hex) == NULL) {
			return 0;
		}
		ASN1_INTEGER_free(*serial);
		*serial = NULL;
	}
	return -1;
}

/* What one issue operation holds while it runs. */
struct issue {
	const struct ca_request *req;
	const char *key_origin;   /* "ca-generated" (a key made here) or "csr" */
	const char *renewed_from; /* the serial renewed, or NULL */
	int new_key;              /* 1: make the key and write PREFIX.key */
	struct ca_keys ca;
	json_t *root;
	EVP_PKEY *key;
	ASN1_INTEGER *serial;
	X509 *cert;
	struct identity ids;
	char hex[64];
	char key_path[PATH_MAX];
	char crt_path[PATH_MAX];
	char copy_path[PATH_MAX];
	time_t not_before;
	time_t not_after;
};

/* Work out the validity period and check the CA outlives it. */
static int issue_validity(struct issue *is, char *err, size_t errlen)
{
	int days = is->req->days;
	time_t now = time(NULL);
	int day, sec;

	if (days == 0) {
		days = is->req->kind == CA_KIND_PARTNER ? CA_PARTNER_DAYS : CA_SERVER_DAYS;
	}
	is->not_before = now - SKEW_SECONDS;
	is->not_after = now + days * DAY_SECONDS;
	if (ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notAfter(is->ca.cert)) &&
	    (long)day * DAY_SECONDS + sec < days * DAY_SECONDS) {
		snprintf(err, errlen,
		         "%d days would outlast the CA certificate, which expires in %d days", days,
		         day);
		return -1;
	}
	return 0;
}

/* Make the key (unless one was given) and the signed certificate. */
static int issue_sign(struct issue *is, char *err, size_t errlen)
{
	if (is->new_key && (is->key = new_key(err, errlen)) == NULL) {
		return -1;
	}
	if (unused_serial(is->root, &is->serial, is->hex, sizeof(is->hex)) < 0) {
		ca_ssl_error(err, errlen, "cannot make a serial number");
		return -1;
	}
	is->cert = leaf_build(is->req, &is->ca, is->key, is->serial, is->not_before, is->not_after);
	if (is->cert == NULL) {
		ca_ssl_error(err, errlen, "cannot build the certificate");
		return -1;
	}
	identity_cert_ids(is->cert, &is->ids);
	return 0;
}

/* Write PREFIX.key (a key made here), PREFIX.crt and DIR/issued/SERIAL.pem, undoing on failure. */
static int issue_write(struct issue *is, const char *dir, char *err, size_t errlen)
{
	char name[128];

	snprintf(name, sizeof(name), "issued/%s.pem", is->hex);
	if (ca_path(is->copy_path, sizeof(is->copy_path), dir, name) < 0) {
		snprintf(err, errlen, "CA directory name is too long");
		return -1;
	}
	if (is->new_key && write_key(is->key, is->key_path, err, errlen) < 0) {
		return -1;
	}
	if (write_cert(is->cert, is->crt_path, 1, err, errlen) < 0) {
		goto fail_key;
	}
	if (write_cert(is->cert, is->copy_path, 1, err, errlen) < 0) {
		unlink(is->crt_path);
		goto fail_key;
	}
	return 0;
fail_key:
	if (is->new_key) {
		unlink(is->key_path);
	}
	return -1;
}

/* Add the record of the issued certificate to issued.json. */
static int issue_record(struct issue *is, const char *dir, char *err, size_t errlen)
{
	json_t *rec = record_new(is->req, is->hex, is->ids.fingerprint, is->not_before,
	                         is->not_after, is->key_origin, is->renewed_from);

	if (rec == NULL || json_array_append_new(ca_issued_certs(is->root), rec) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return ca_issued_save(dir, is->root, err, errlen);
}

/* Fill rec (if any) from the certificate just recorded. */
static void issue_fill(struct issue *is, struct ca_record *rec)
{
	json_t *obj = ca_issued_find(is->root, is->hex);

	if (rec != NULL && (obj == NULL || ca_record_from_json(obj, rec) < 0)) {
		memset(rec, 0, sizeof(*rec));
	}
}

/* Refuse to renew a certificate revoked since the renewal was prepared. */
static int issue_check_renewed(struct issue *is, char *err, size_t errlen)
{
	json_t *old;
	const char *status;

	if (is->renewed_from == NULL) {
		return 0;
	}
	old = ca_issued_find(is->root, is->renewed_from);
	status = json_string_value(json_object_get(old, "status"));
	if (old == NULL || status == NULL || strcmp(status, "valid") != 0) {
		snprintf(err, errlen, "certificate %s is no longer valid; nothing was renewed",
		         is->renewed_from);
		return -1;
	}
	return 0;
}

/* Run the steps of an issue operation; the caller holds the lock. */
static int issue_locked(struct issue *is, const char *dir, struct ca_record *rec, char *err,
                        size_t errlen)
{
	if ((is->root = ca_issued_load(dir, err, errlen)) == NULL ||
	    issue_check_renewed(is, err, errlen) < 0 || keys_load(dir, &is->ca, err, errlen) < 0 ||
	    issue_validity(is, err, errlen) < 0 || issue_sign(is, err, errlen) < 0 ||
	    issue_write(is, dir, err, errlen) < 0) {
		return -1;
	}
	if (issue_record(is, dir, err, errlen) < 0) {
		unlink(is->copy_path);
		unlink(is->crt_path);
		if (is->new_key) {
			unlink(is->key_path);
		}
		return -1;
	}
	issue_fill(is, rec);
	return 0;
}

/* Check the output paths are free; the exclusive creates are what really protect them. */
static int issue_paths(struct issue *is, char *err, size_t errlen)
{
	const char *out = is->req->out;

	if (out_path(is->key_path, sizeof(is->key_path), out, "key") < 0 ||
	    out_path(is->crt_path, sizeof(is->crt_path), out, "crt") < 0) {
		snprintf(err, errlen, "output prefix is too long");
		return -1;
	}
	if (access(is->crt_path, F_OK) == 0 || (is->new_key && access(is->key_path, F_OK) == 0)) {
		snprintf(err, errlen, "%s.%s already exists; refusing to overwrite it", out,
		         access(is->crt_path, F_OK) == 0 ? "crt" : "key");
		return -1;
	}
	return 0;
}

/*
 * Issue what req asks for with key (NULL: a new key, written to PREFIX.key),
 * recording key_origin and renewed_from: the one path for issue, sign and renew.
 */
static int issue_with_key(const char *dir, const struct ca_request *req, EVP_PKEY *key,
                          const char *renewed_from, struct ca_record *rec, char *err, size_t errlen)
{
	struct issue is;
	int lock, rc = -1;

	memset(&is, 0, sizeof(is));
	is.req = req;
	is.new_key = key == NULL;
	is.key_origin = key == NULL ? "ca-generated" : "csr";
	is.renewed_from = renewed_from;
	if (check_request(req, err, errlen) < 0 || issue_paths(&is, err, errlen) < 0) {
		return -1;
	}
	if (key != NULL && !EVP_PKEY_up_ref(key)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	is.key = key;
	if (check_ca_dir(dir, err, errlen) == 0 && (lock = ca_lock(dir, err, errlen)) >= 0) {
		rc = issue_locked(&is, dir, rec, err, errlen);
		ca_unlock(lock);
	}
	X509_free(is.cert);
	ASN1_INTEGER_free(is.serial);
	EVP_PKEY_free(is.key);
	keys_free(&is.ca);
	json_decref(is.root);
	return rc;
}

/* Issue a certificate with a new key, write it out and record it. */
int ca_issue(const char *dir, const struct ca_request *req, struct ca_record *rec, char *err,
             size_t errlen)
{
	return issue_with_key(dir, req, NULL, NULL, rec, err, errlen);
}

/* Issue a partner certificate for the signing request at csr_path. */
int ca_sign(const char *dir, const char *csr_path, const char *agency, int days, const char *out,
            struct ca_record *rec, char *err, size_t errlen)
{
	struct ca_request req = {.kind = CA_KIND_PARTNER, .days = days, .out = out};
	struct csr_info info;
	EVP_PKEY *key;
	int rc;

	if (!identity_agency_is_valid(agency)) {
		return ca_partner_names_check(agency, "-", err, errlen);
	}
	if (csr_read(csr_path, &info, &key, err, errlen) < 0) {
		return -1;
	}
	if (strcmp(info.agency, agency) != 0) {
		snprintf(err, errlen, "the request is for agency %s, not %s; nothing was signed",
		         info.agency, agency);
		EVP_PKEY_free(key);
		return -1;
	}
	req.agency = info.agency;
	req.holder = info.holder;
	rc = issue_with_key(dir, &req, key, NULL, rec, err, errlen);
	EVP_PKEY_free(key);
	return rc;
}

/* Find serial in root and fill old from it, refusing what cannot be renewed. */
static json_t *renew_find(json_t *root, const char *serial, struct ca_record *old, char *err,
                          size_t errlen)
{
	json_t *obj = ca_issued_find(root, serial);

	if (obj == NULL || ca_record_from_json(obj, old) < 0) {
		snprintf(err, errlen, "no certificate with serial %s was issued by this CA",
		         serial);
		return NULL;
	}
	if (old->status == CA_STATUS_REVOKED) {
		snprintf(
		    err, errlen,
		    "certificate %s was revoked; it cannot be renewed (issue or sign a new one)",
		    old->serial);
		return NULL;
	}
	return obj;
}

/* Check that the request at csr_path may renew old; sets *key to its key. */
static int renew_csr(const struct ca_record *old, const char *csr_path, EVP_PKEY **key, char *err,
                     size_t errlen)
{
	struct csr_info info;

	*key = NULL;
	if (old->kind == CA_KIND_SERVER) {
		snprintf(err, errlen,
		         "a server certificate is renewed with a new key made here; "
		         "leave out --csr");
		return -1;
	}
	if (csr_read(csr_path, &info, key, err, errlen) < 0) {
		return -1;
	}
	if (strcmp(info.agency, old->agency) != 0 || strcmp(info.holder, old->holder) != 0) {
		snprintf(err, errlen,
		         "the request is for \"%s\" of agency %s, not \"%s\" of agency %s; nothing "
		         "was renewed",
		         info.holder, info.agency, old->holder, old->agency);
		EVP_PKEY_free(*key);
		*key = NULL;
		return -1;
	}
	return 0;
}

/* Issue the renewal of old (record obj in root) as req describes. */
static int renew_issue(const char *dir, json_t *obj, const struct ca_record *old,
                       struct ca_request *req, EVP_PKEY *key, struct ca_record *rec, char *err,
                       size_t errlen)
{
	const char *hosts[CA_HOSTS_MAX];
	json_t *h;
	size_t i;

	req->kind = old->kind;
	req->agency = old->agency;
	req->holder = old->holder;
	req->hosts = hosts;
	req->nhosts = 0;
	json_array_foreach(json_object_get(obj, "hosts"), i, h)
	{
		if (old->kind == CA_KIND_SERVER && req->nhosts < CA_HOSTS_MAX &&
		    json_string_value(h) != NULL) {
			hosts[req->nhosts++] = json_string_value(h);
		}
	}
	return issue_with_key(dir, req, key, old->serial, rec, err, errlen);
}

/* Issue a new certificate for the holder of the one with serial. */
int ca_renew(const char *dir, const char *serial, const char *csr_path, int days, const char *out,
             struct ca_record *rec, char *err, size_t errlen)
{
	struct ca_request req = {.days = days, .out = out};
	struct ca_record old;
	EVP_PKEY *key = NULL;
	json_t *root, *obj;
	int rc = -1;

	if (serial == NULL || serial[0] == '\0') {
		snprintf(err, errlen, "no serial given");
		return -1;
	}
	if ((root = ca_issued_load(dir, err, errlen)) == NULL ||
	    (obj = renew_find(root, serial, &old, err, errlen)) == NULL) {
		goto done;
	}
	if (csr_path == NULL && strcmp(old.key_origin, "csr") == 0) {
		snprintf(err, errlen,
		         "certificate %s was signed from a request: its key is with the holder. "
		         "Ask them for a new request (refex keygen) and give it with --csr",
		         old.serial);
		goto done;
	}
	if (csr_path != NULL && renew_csr(&old, csr_path, &key, err, errlen) < 0) {
		goto done;
	}
	/* issue_with_key checks again, under the lock, that old is still valid. */
	rc = renew_issue(dir, obj, &old, &req, key, rec, err, errlen);
done:
	EVP_PKEY_free(key);
	json_decref(root);
	return rc;
}

/* Publish a new CRL from root and save root; the caller holds the lock. */
static int publish_locked(const char *dir, json_t *root, char *err, size_t errlen)
{
	struct ca_keys ca;
	int rc = -1;

	if (keys_load(dir, &ca, err, errlen) == 0 &&
	    crl_publish(dir, root, &ca, 0, err, errlen) == 0 &&
	    ca_issued_save(dir, root, err, errlen) == 0) {
		rc = 0;
	}
	keys_free(&ca);
	return rc;
}

/* Re-sign dir/crl.pem from the revoked entries of issued.json. */
int ca_write_crl(const char *dir, char *err, size_t errlen)
{
	json_t *root;
	int lock, rc = -1;

	if (check_ca_dir(dir, err, errlen) < 0 || (lock = ca_lock(dir, err, errlen)) < 0) {
		return -1;
	}
	if ((root = ca_issued_load(dir, err, errlen)) != NULL) {
		rc = publish_locked(dir, root, err, errlen);
	}
	json_decref(root);
	ca_unlock(lock);
	return rc;
}

/* Mark rec revoked now for reason. */
static int mark_revoked(json_t *rec, const char *reason)
{
	char now[32];

	ca_time_iso(time(NULL), now, sizeof(now));
	return json_object_set_new(rec, "status", json_string("revoked")) == 0 &&
	               json_object_set_new(rec, "revoked_at", json_string(now)) == 0 &&
	               json_object_set_new(rec, "revoke_reason", json_string(reason)) == 0
	           ? 0
	           : -1;
}

/* Say whether the record obj is one f selects by agency (and holder): a valid partner one. */
static int filter_matches(json_t *obj, const struct ca_revoke_filter *f, time_t now)
{
	struct ca_record r;

	return ca_record_from_json(obj, &r) == 0 && r.kind == CA_KIND_PARTNER &&
	       strcmp(r.agency, f->agency) == 0 &&
	       (f->holder == NULL || strcmp(r.holder, f->holder) == 0) &&
	       strcmp(ca_record_state(&r, now), "valid") == 0;
}

/* Collect into sel the records of root that f selects by agency; refuse when none. */
static int select_by_agency(json_t *root, const struct ca_revoke_filter *f, json_t *sel, char *err,
                            size_t errlen)
{
	time_t now = time(NULL);
	json_t *obj;
	size_t i;

	json_array_foreach(ca_issued_certs(root), i, obj)
	{
		if (filter_matches(obj, f, now) && json_array_append(sel, obj) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (json_array_size(sel) == 0) {
		snprintf(err, errlen,
		         "agency %s has no valid certificate%s%s%s; nothing was revoked", f->agency,
		         f->holder ? " held by \"" : "", f->holder ? f->holder : "",
		         f->holder ? "\"" : "");
		return -1;
	}
	return 0;
}

/* Put the record with f's serial into sel, refusing one unknown or already revoked. */
static int select_by_serial(json_t *root, const struct ca_revoke_filter *f, json_t *sel, char *err,
                            size_t errlen)
{
	json_t *rec = ca_issued_find(root, f->serial);
	const char *status = json_string_value(json_object_get(rec, "status"));

	if (rec == NULL) {
		snprintf(err, errlen, "no certificate with serial %s was issued by this CA",
		         f->serial);
		return -1;
	}
	if (status != NULL && strcmp(status, "revoked") == 0) {
		const char *when = json_string_value(json_object_get(rec, "revoked_at"));

		snprintf(err, errlen, "certificate %s was already revoked on %s", f->serial,
		         when ? when : "?");
		return -1;
	}
	return json_array_append(sel, rec) == 0 ? 0 : -1;
}

/* Copy the records in sel into a malloc'ed array for the caller. */
static int revoked_out(json_t *sel, struct ca_record **revoked, size_t *n, char *err, size_t errlen)
{
	size_t i, count = json_array_size(sel);
	json_t *obj;

	if (revoked == NULL) {
		return 0;
	}
	if ((*revoked = calloc(count, sizeof(**revoked))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_array_foreach(sel, i, obj)
	{
		ca_record_from_json(obj, &(*revoked)[i]);
	}
	*n = count;
	return 0;
}

/* Revoke what f selects in root and publish; the caller holds the lock. */
static int revoke_locked(const char *dir, json_t *root, const struct ca_revoke_filter *f,
                         const char *reason, json_t *sel, char *err, size_t errlen)
{
	json_t *obj;
	size_t i;
	int rc = f->serial != NULL ? select_by_serial(root, f, sel, err, errlen)
	                           : select_by_agency(root, f, sel, err, errlen);

	if (rc < 0) {
		return -1;
	}
	json_array_foreach(sel, i, obj)
	{
		if (mark_revoked(obj, reason) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	/* The CRL is written first: a failure afterwards leaves it revoked, not valid. */
	return publish_locked(dir, root, err, errlen);
}

/* Check f names a serial, or an agency (and maybe a holder). */
static int filter_check(const struct ca_revoke_filter *f, char *err, size_t errlen)
{
	if (f->serial != NULL && f->serial[0] != '\0') {
		if (f->agency != NULL || f->holder != NULL) {
			snprintf(err, errlen, "give a serial or an agency, not both");
			return -1;
		}
		return 0;
	}
	if (f->agency == NULL || f->agency[0] == '\0') {
		snprintf(err, errlen, "no serial or agency given");
		return -1;
	}
	if (f->holder != NULL) {
		return ca_partner_names_check(f->agency, f->holder, err, errlen);
	}
	return ca_partner_names_check(f->agency, "-", err, errlen);
}

/* Revoke what f selects for reason and rebuild the CRL once. */
int ca_revoke_matching(const char *dir, const struct ca_revoke_filter *f, const char *reason,
                       struct ca_record **revoked, size_t *n, char *err, size_t errlen)
{
	char why[CA_REASON_MAX + 1];
	json_t *root, *sel = json_array();
	int lock, rc = -1;

	if (revoked != NULL) {
		*revoked = NULL;
		*n = 0;
	}
	if (sel == NULL || filter_check(f, err, errlen) < 0 ||
	    reason_normalize(reason, why, sizeof(why), err, errlen) < 0 ||
	    check_ca_dir(dir, err, errlen) < 0 || (lock = ca_lock(dir, err, errlen)) < 0) {
		json_decref(sel);
		return -1;
	}
	if ((root = ca_issued_load(dir, err, errlen)) != NULL &&
	    revoke_locked(dir, root, f, why, sel, err, errlen) == 0) {
		rc = revoked_out(sel, revoked, n, err, errlen);
	}
	json_decref(sel);
	json_decref(root);
	ca_unlock(lock);
	return rc;
}

/* Mark the certificate with this serial revoked for reason and rebuild the CRL. */
int ca_revoke(const char *dir, const char *serial, const char *reason, char *err, size_t errlen)
{
	struct ca_revoke_filter f = {.serial = serial};

	if (serial == NULL || serial[0] == '\0') {
		snprintf(err, errlen, "no serial given");
		return -1;
	}
	return ca_revoke_matching(dir, &f, reason, NULL, NULL, err, errlen);
}
