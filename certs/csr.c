/* Signing requests: made at the partner with its own key, read and checked at the CA. */
#include "csr.h"

#include <errno.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ca.h"
#include "ca_issued.h"

/* Put the first OpenSSL error (or a fallback) after what in err, and clear the queue. */
static void ssl_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;

	snprintf(err, errlen, "%s: %s", what, why ? why : "OpenSSL error");
	ERR_clear_error();
}

/* Build PREFIX.ext into buf. */
static int prefix_path(char *buf, size_t len, const char *prefix, const char *ext)
{
	int n = snprintf(buf, len, "%s.%s", prefix, ext);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Add one UTF8String entry to name. */
static int name_add(X509_NAME *name, int nid, const char *value)
{
	return X509_NAME_add_entry_by_NID(name, nid, V_ASN1_UTF8STRING,
	                                  (const unsigned char *)value, -1, -1, 0)
	           ? 0
	           : -1;
}

/* Build and sign a request for key naming agency and holder. */
static X509_REQ *req_build(EVP_PKEY *key, const char *agency, const char *holder)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();

	if (req == NULL || name == NULL || name_add(name, NID_organizationName, agency) < 0 ||
	    name_add(name, NID_commonName, holder) < 0 || !X509_REQ_set_version(req, 0) ||
	    !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, key) ||
	    !X509_REQ_sign(req, key, EVP_sha256())) {
		X509_REQ_free(req);
		req = NULL;
	}
	X509_NAME_free(name);
	return req;
}

/* Write the PEM held in bio to the new file path with mode; never overwrites. */
static int write_pem(BIO *bio, const char *path, mode_t mode, char *err, size_t errlen)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);

	if (n <= 0) {
		snprintf(err, errlen, "nothing to write to %s", path);
		return -1;
	}
	return ca_write_file(path, data, (size_t)n, mode, 1, err, errlen);
}

/* Write key to key_path (0600) and req to csr_path, removing the key if the request fails. */
static int write_both(EVP_PKEY *key, X509_REQ *req, const char *key_path, const char *csr_path,
                      char *err, size_t errlen)
{
	BIO *kb = BIO_new(BIO_s_mem()), *rb = BIO_new(BIO_s_mem());
	int rc = -1;

	if (kb == NULL || rb == NULL ||
	    !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509_REQ(rb, req)) {
		ssl_error(err, errlen, "cannot encode the key and request");
		goto done;
	}
	if (write_pem(kb, key_path, 0600, err, errlen) < 0) {
		goto done;
	}
	if (write_pem(rb, csr_path, 0644, err, errlen) < 0) {
		unlink(key_path);
		goto done;
	}
	rc = 0;
done:
	BIO_free(kb);
	BIO_free(rb);
	return rc;
}

/* Make a new key and a signing request for it. */
int csr_make(const char *agency, const char *holder, const char *out_prefix, char *err,
             size_t errlen)
{
	char key_path[PATH_MAX], csr_path[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	int rc = -1;

	if (ca_partner_names_check(agency, holder, err, errlen) < 0) {
		return -1;
	}
	if (out_prefix == NULL || out_prefix[0] == '\0' ||
	    prefix_path(key_path, sizeof(key_path), out_prefix, "key") < 0 ||
	    prefix_path(csr_path, sizeof(csr_path), out_prefix, "csr") < 0) {
		snprintf(err, errlen, "no usable output prefix given");
		return -1;
	}
	/* Say so before the work; the exclusive create is what really protects them. */
	if (access(key_path, F_OK) == 0 || access(csr_path, F_OK) == 0) {
		snprintf(err, errlen, "%s or %s already exists; refusing to overwrite it", key_path,
		         csr_path);
		return -1;
	}
	if ((key = EVP_EC_gen("P-256")) == NULL) {
		ssl_error(err, errlen, "cannot generate a key");
		goto done;
	}
	if ((req = req_build(key, agency, holder)) == NULL) {
		ssl_error(err, errlen, "cannot build the signing request");
		goto done;
	}
	rc = write_both(key, req, key_path, csr_path, err, errlen);
done:
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return rc;
}

/* Copy the one entry nid of name into buf as UTF-8; -1 when absent, repeated or too long. */
static int name_get(const X509_NAME *name, int nid, char *buf, size_t len)
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1);
	unsigned char *utf8 = NULL;
	int n;

	buf[0] = '\0';
	if (i < 0 || X509_NAME_get_index_by_NID(name, nid, i) >= 0) {
		return -1;
	}
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n < 0 || (size_t)n >= len || memchr(utf8, '\0', (size_t)n) != NULL) {
		OPENSSL_free(utf8);
		return -1;
	}
	memcpy(buf, utf8, (size_t)n);
	buf[n] = '\0';
	OPENSSL_free(utf8);
	return 0;
}

/* Say whether key is an EC P-256 key, the only kind the partnership uses. */
static int key_is_p256(EVP_PKEY *key)
{
	char group[64];

	return EVP_PKEY_is_a(key, "EC") &&
	       EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) &&
	       (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0);
}

/* Check req and fill info and *key from it. */
static int req_check(X509_REQ *req, const char *path, struct csr_info *info, EVP_PKEY **key,
                     char *err, size_t errlen)
{
	const X509_NAME *name = X509_REQ_get_subject_name(req);
	EVP_PKEY *pub = X509_REQ_get_pubkey(req);

	if (pub == NULL || X509_REQ_verify(req, pub) != 1) {
		snprintf(err, errlen,
		         "%s: the request's signature does not verify (damaged or altered)", path);
		goto fail;
	}
	if (!key_is_p256(pub)) {
		snprintf(err, errlen,
		         "%s: the request's key is not EC P-256; make it with refex keygen", path);
		goto fail;
	}
	if (name_get(name, NID_organizationName, info->agency, sizeof(info->agency)) < 0 ||
	    name_get(name, NID_commonName, info->holder, sizeof(info->holder)) < 0) {
		snprintf(err, errlen,
		         "%s: the request must name exactly one agency (O) and one holder (CN)",
		         path);
		goto fail;
	}
	if (ca_partner_names_check(info->agency, info->holder, err, errlen) < 0) {
		goto fail;
	}
	*key = pub;
	ERR_clear_error();
	return 0;
fail:
	ERR_clear_error();
	EVP_PKEY_free(pub);
	return -1;
}

/* Read and check the PEM request at path. */
int csr_read(const char *path, struct csr_info *info, EVP_PKEY **key, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	X509_REQ *req;
	int rc;

	memset(info, 0, sizeof(*info));
	*key = NULL;
	if (fp == NULL) {
		snprintf(err, errlen, "cannot read the request %s: %s", path, strerror(errno));
		return -1;
	}
	req = PEM_read_X509_REQ(fp, NULL, NULL, NULL);
	fclose(fp);
	if (req == NULL) {
		snprintf(err, errlen,
		         "%s is not a PEM certificate signing request (BEGIN CERTIFICATE REQUEST)",
		         path);
		ERR_clear_error();
		return -1;
	}
	rc = req_check(req, path, info, key, err, errlen);
	X509_REQ_free(req);
	return rc;
}
