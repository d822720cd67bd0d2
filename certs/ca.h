/*
 * The partnership's certificate authority, kept in one directory DIR:
 *
 *   DIR/ca.key             the CA's private key (EC P-256, PEM, mode 0600).
 *                          The one secret: whoever holds it can mint partners.
 *   DIR/ca.crt             the CA certificate (self-signed, CN=<network name>,
 *                          10 years). Every hub and client trusts this file.
 *   DIR/crl.pem            the revocation list, signed by the CA, valid for
 *                          30 days; rebuilt from issued.json on every change
 *                          (ca_write_crl) and must be republished before then.
 *   DIR/issued.json        the record of every certificate issued:
 *                          {"version":1, "crl_number":N, "certificates":[
 *                            {"serial":"HEX", "kind":"partner"|"server",
 *                             "agency":..., "holder":..., "hosts":[...],
 *                             "not_before":"ISO8601Z", "not_after":"ISO8601Z",
 *                             "fingerprint":"AB:CD:...", "status":"valid"|"revoked",
 *                             "revoked_at":null|"ISO8601Z", "revoke_reason":null|"...",
 *                             "key_origin":"ca-generated"|"csr",
 *                             "renewed_from":null|"HEX"}]}
 *                          Written to a temporary file and renamed into place;
 *                          unknown fields are kept as they are.
 *   DIR/issued/SERIAL.pem  a copy of each issued certificate.
 *   DIR/.lock              flock()ed around every change to the directory.
 *
 * Serials are 128 random bits (top bit clear), upper-case hex. Certificates
 * are X.509 v3, signed with SHA-256, valid from five minutes ago (clock skew).
 * Every function returns 0 or -1 with a plain-words reason in err.
 */
#ifndef REFEX_CA_H
#define REFEX_CA_H

#include <stddef.h>
#include <time.h>

#include "identity.h"

#define CA_VALIDITY_DAYS 3650 /* the CA certificate */
#define CA_PARTNER_DAYS  365  /* default for ca_issue of a partner */
#define CA_SERVER_DAYS   397  /* default for ca_issue of a server */
#define CA_DAYS_MAX      3650
#define CA_CRL_DAYS      30
#define CA_HOSTS_MAX     16 /* names and addresses in one server certificate */
#define CA_NAME_MAX      64 /* the network name (CN of the CA) */

enum ca_kind {
	CA_KIND_PARTNER, /* clientAuth, O=agency, CN=holder */
	CA_KIND_SERVER,  /* serverAuth, subjectAltName = hosts, CN=first host */
};

enum ca_status {
	CA_STATUS_VALID,
	CA_STATUS_REVOKED,
};

/* What to issue. Unused fields of the other kind are ignored. */
struct ca_request {
	enum ca_kind kind;
	const char *agency;       /* partner: agency id */
	const char *holder;       /* partner: staff member or system */
	const char *const *hosts; /* server: DNS names and IP addresses */
	size_t nhosts;
	int days;        /* validity; 0 for the kind's default */
	const char *out; /* PREFIX: writes PREFIX.crt and PREFIX.key (0600); never overwrites */
};

/* One entry of issued.json, as read back. */
struct ca_record {
	char serial[64];
	enum ca_kind kind;
	char agency[IDENTITY_AGENCY_MAX + 1]; /* "" for a server */
	char holder[IDENTITY_HOLDER_MAX + 1]; /* "" for a server */
	char hosts[1024];                     /* server: comma-separated; "" for a partner */
	time_t not_before;
	time_t not_after;
	char fingerprint[96];
	enum ca_status status;
	time_t revoked_at; /* 0 unless revoked */
	char revoke_reason[32];
	char renewed_from[64]; /* "" unless a renewal */
};

/* Create a new CA in dir (created if missing) for the network called name. */
int ca_init(const char *dir, const char *name, char *err, size_t errlen);

/* Issue a certificate with a new key, write it out and record it. rec may be NULL. */
int ca_issue(const char *dir, const struct ca_request *req, struct ca_record *rec, char *err,
             size_t errlen);

/* Re-sign dir/crl.pem from the revoked entries of issued.json (new number, 30 days). */
int ca_write_crl(const char *dir, char *err, size_t errlen);

/* Mark the certificate with this serial revoked for reason and rebuild the CRL. */
int ca_revoke(const char *dir, const char *serial, const char *reason, char *err, size_t errlen);

/* Say whether reason is one ca_revoke accepts (see ca_revoke_reasons). */
int ca_revoke_reason_is_valid(const char *reason);

/* The accepted revocation reasons, comma-separated, for help texts. */
const char *ca_revoke_reasons(void);

/* Read every record of issued.json into a malloc'ed array (free() it). */
int ca_list(const char *dir, struct ca_record **recs, size_t *n, char *err, size_t errlen);

/* Read issued.json's records as a malloc'ed JSON array text (free() it). */
int ca_list_json(const char *dir, char **text, char *err, size_t errlen);

/* Say what r is at time now: "valid", "expired" or "revoked". */
const char *ca_record_state(const struct ca_record *r, time_t now);

/* Name a kind as issued.json does: "partner" or "server". */
const char *ca_kind_name(enum ca_kind kind);

/* Say whether host is a DNS name or IP address a server certificate can carry. */
int ca_host_is_valid(const char *host);

#endif
