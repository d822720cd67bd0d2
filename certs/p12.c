/* PKCS#12 export with OpenSSL 3's PKCS12_create_ex and modern algorithms only. */
#include "p12.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ca.h"
#include "ca_issued.h"
#include "tls.h"

#define P12_ITER 600000 /* PBKDF2 iterations: OWASP's figure for HMAC-SHA-256 (2023) */

/* Build the PKCS#12 structure: PBES2 (PBKDF2, AES-256-CBC) for both bags; the MAC is set apart
 * because PKCS12_create_ex would make it with SHA-1. */
static PKCS12 *p12_build(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain, const char *pass,
                         const char *name)
{
	PKCS12 *p12 = PKCS12_create_ex(pass, name, key, cert, chain, NID_aes_256_cbc,
	                               NID_aes_256_cbc, P12_ITER, -1, 0, NULL, NULL);

	if (p12 != NULL && !PKCS12_set_mac(p12, pass, -1, NULL, 0, P12_ITER, EVP_sha256())) {
		PKCS12_free(p12);
		return NULL;
	}
	return p12;
}

/* Encode p12 and write it to the new file out, readable by its owner only. */
static int p12_save(PKCS12 *p12, const char *out, char *err, size_t errlen)
{
	unsigned char *der = NULL;
	int n = i2d_PKCS12(p12, &der), rc;

	if (n <= 0) {
		ca_ssl_error(err, errlen, "cannot encode the PKCS#12 file");
		return -1;
	}
	rc = ca_write_file(out, der, (size_t)n, 0600, 1, err, errlen);
	OPENSSL_free(der);
	return rc;
}

/* Read the CA certificate at ca_path (NULL: none) as a one-element chain into *chain. */
static int p12_chain(const char *ca_path, STACK_OF(X509) * *chain, char *err, size_t errlen)
{
	X509 *ca;

	*chain = NULL;
	if (ca_path == NULL) {
		return 0;
	}
	if ((ca = tls_read_cert(ca_path, err, errlen)) == NULL) {
		return -1;
	}
	if ((*chain = sk_X509_new_null()) == NULL || !sk_X509_push(*chain, ca)) {
		sk_X509_free(*chain);
		*chain = NULL;
		X509_free(ca);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Write key, certificate and CA as a passphrase-protected PKCS#12 file. */
int p12_write(const char *cert_path, const char *key_path, const char *ca_path, const char *pass,
              const char *out, char *err, size_t errlen)
{
	X509 *cert = tls_read_cert(cert_path, err, errlen);
	EVP_PKEY *key = cert ? tls_read_key(key_path, err, errlen) : NULL;
	STACK_OF(X509) *chain = NULL;
	PKCS12 *p12 = NULL;
	char name[256];
	int rc = -1;

	if (key == NULL || p12_chain(ca_path, &chain, err, errlen) < 0) {
		goto done;
	}
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s is not the key of the certificate %s", key_path,
		         cert_path);
		goto done;
	}
	/* The name browsers list it by: the holder and agency, as the certificate says. */
	X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name));
	if ((p12 = p12_build(key, cert, chain, pass, name)) == NULL) {
		ca_ssl_error(err, errlen, "cannot build the PKCS#12 file");
		goto done;
	}
	rc = p12_save(p12, out, err, errlen);
done:
	PKCS12_free(p12);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

/* Read one line from fd into buf (cap bytes), without its newline. Returns its length or -1. */
static ssize_t p12_read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	char c;
	ssize_t r;

	while ((r = read(fd, &c, 1)) == 1 && c != '\n') {
		if (n + 1 >= cap) {
			return -1;
		}
		buf[n++] = c;
	}
	if (r < 0) {
		return -1;
	}
	if (n > 0 && buf[n - 1] == '\r') {
		n--;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* Ask prompt on the terminal and read the answer without echo into buf. */
static int p12_ask(int tty, const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	ssize_t n;

	if (tcgetattr(tty, &old) < 0) {
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	if (write(tty, prompt, strlen(prompt)) < 0 || tcsetattr(tty, TCSAFLUSH, &quiet) < 0) {
		return -1;
	}
	n = p12_read_line(tty, buf, cap);
	tcsetattr(tty, TCSAFLUSH, &old);
	if (write(tty, "\n", 1) < 0) {
		/* the answer is read; a lost newline on the terminal does not matter */
	}
	return n < 0 ? -1 : 0;
}

/* Read the passphrase typed twice on the terminal. */
static int p12_prompt(char *buf, char *err, size_t errlen)
{
	char again[P12_PASS_MAX + 2];
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC), rc = -1;

	if (tty < 0) {
		snprintf(err, errlen,
		         "no terminal to ask for the passphrase: give a passphrase file");
		return -1;
	}
	if (p12_ask(tty, "Passphrase for the PKCS#12 file: ", buf, P12_PASS_MAX + 1) < 0 ||
	    p12_ask(tty, "The same again: ", again, sizeof(again)) < 0) {
		snprintf(err, errlen, "cannot read the passphrase from the terminal");
	} else if (strcmp(buf, again) != 0) {
		snprintf(err, errlen, "the two passphrases differ");
	} else {
		rc = 0;
	}
	OPENSSL_cleanse(again, sizeof(again));
	close(tty);
	return rc;
}

/* Read the first line of the file path as the passphrase. */
static int p12_pass_file(const char *path, char *buf, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		snprintf(err, errlen, "cannot read the passphrase file %s: %s", path,
		         strerror(errno));
		return -1;
	}
	if (p12_read_line(fd, buf, P12_PASS_MAX + 1) < 0) {
		snprintf(err, errlen, "%s: the passphrase is longer than %d bytes", path,
		         P12_PASS_MAX);
		rc = -1;
	}
	close(fd);
	return rc;
}

/* Read a passphrase from path, or from the terminal. */
int p12_passphrase(const char *path, char *buf, char *err, size_t errlen)
{
	int rc =
	    path != NULL ? p12_pass_file(path, buf, err, errlen) : p12_prompt(buf, err, errlen);

	if (rc == 0 && strlen(buf) < P12_PASS_MIN) {
		snprintf(err, errlen, "the passphrase must be at least %d characters",
		         P12_PASS_MIN);
		rc = -1;
	}
	if (rc < 0) {
		OPENSSL_cleanse(buf, P12_PASS_MAX + 1);
	}
	return rc;
}
