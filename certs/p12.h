/* PKCS#12 files for browsers: a holder's key and certificate in one passphrase-protected file. */
#ifndef REFEX_P12_H
#define REFEX_P12_H

#include <stddef.h>

#define P12_PASS_MIN 8   /* characters in a passphrase, at least */
#define P12_PASS_MAX 256 /* bytes of a passphrase, at most */

/* Write the key at key_path and the certificate at cert_path (PEM files), with the CA
 * certificate at ca_path (NULL: none) as its chain, to the new file out (mode 0600; never
 * overwritten) as PKCS#12 protected by pass: AES-256-CBC with PBKDF2 (HMAC-SHA-256) for key and
 * certificates, a SHA-256 MAC. Refuses a key that is not the certificate's. Returns 0, or -1
 * with the reason in err. */
int p12_write(const char *cert_path, const char *key_path, const char *ca_path, const char *pass,
              const char *out, char *err, size_t errlen);

/* Read a passphrase into buf (P12_PASS_MAX + 1 bytes): the first line of the file path, or, when
 * path is NULL, typed twice on the terminal without echo. Refuses one shorter than P12_PASS_MIN
 * characters. Returns 0, or -1 with the reason in err. */
int p12_passphrase(const char *path, char *buf, char *err, size_t errlen);

#endif
