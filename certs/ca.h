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
#define CA_HOSTS_MAX     16  /* names and addresses in one server certificate */
#define CA_NAME_MAX      64  /* the network name (CN of the CA) */
#define CA_REASON_MAX    127 /* a free-text revocation reason, in bytes */

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
	time_t revoked_at;                     /* 0 unless revoked */
	char revoke_reason[CA_REASON_MAX + 1]; /* a reason name or the admin's own words */
	char renewed_from[64];                 /* "" unless a renewal */
	char key_origin[16]; /* "ca-generated" or "csr" (the key never left its holder) */
};

/* Which certificates ca_revoke_matching revokes: one serial, or else every valid (not
 * revoked, not expired) partner certificate of agency, only holder's when holder is set. */
struct ca_revoke_filter {
	const char *serial;
	const char *agency;
	const char *holder;
};

/* Put the first OpenSSL error (or a fallback) after what in err, and clear the queue. */
void ca_ssl_error(char *err, size_t errlen, const char *what);

/* Create a new CA in dir (created if missing) for the network called name. */
int ca_init(const char *dir, const char *name, char *err, size_t errlen);

/* Issue a certificate with a new key, write it out and record it. rec may be NULL. */
int ca_issue(const char *dir, const struct ca_request *req, struct ca_record *rec, char *err,
             size_t errlen);

/*
 * Issue a partner certificate for the signing request at csr_path (PEM): its
 * self-signature is checked, its O and CN become the subject, its public key
 * is certified. agency is what the admin expects: a request for any other
 * agency is refused, naming both. Writes out.crt only (the key stays with the
 * partner); records key_origin "csr". days 0: CA_PARTNER_DAYS. rec may be NULL.
 */
int ca_sign(const char *dir, const char *csr_path, const char *agency, int days, const char *out,
            struct ca_record *rec, char *err, size_t errlen);

/*
 * Issue a new certificate for the same agency and holder (or hosts) as the one
 * with serial, recording renewed_from = serial; the old one stays valid. With
 * csr_path the new key is the request's, whose O and CN must match; without,
 * a new key is written to out.key, which is refused when the old key came
 * from a request. days 0: the kind's default. rec may be NULL.
 */
int ca_renew(const char *dir, const char *serial, const char *csr_path, int days, const char *out,
             struct ca_record *rec, char *err, size_t errlen);

/* Check a partner's agency id and holder as ca_issue does, saying what is wrong in err. */
int ca_partner_names_check(const char *agency, const char *holder, char *err, size_t errlen);

/* Re-sign dir/crl.pem from the revoked entries of issued.json (new number, 30 days). */
int ca_write_crl(const char *dir, char *err, size_t errlen);

/*
 * Mark the certificate with this serial revoked for reason and rebuild the
 * CRL. reason: NULL ("unspecified"), one of ca_revoke_reasons (any case), or
 * free text (1-CA_REASON_MAX bytes, no control characters) which is recorded
 * as it is, the CRL saying "unspecified".
 */
int ca_revoke(const char *dir, const char *serial, const char *reason, char *err, size_t errlen);

/*
 * Revoke what f selects for reason (as ca_revoke) and rebuild the CRL once.
 * Refuses when nothing matches. revoked (may be NULL): a malloc'ed array of
 * the records as revoked (free() it), n their count.
 */
int ca_revoke_matching(const char *dir, const struct ca_revoke_filter *f, const char *reason,
                       struct ca_record **revoked, size_t *n, char *err, size_t errlen);

/* Say whether reason is one of the RFC 5280 reason names (see ca_revoke_reasons). */
int ca_revoke_reason_is_valid(const char *reason);

/* The RFC 5280 revocation reasons, comma-separated, for help texts. */
const char *ca_revoke_reasons(void);

/* Read every record of issued.json into a malloc'ed array (free() it). */
int ca_list(const char *dir, struct ca_record **recs, size_t *n, char *err, size_t errlen);

/* Read issued.json's records as a malloc'ed JSON array text (free() it). */
int ca_list_json(const char *dir, char **text, char *err, size_t errlen);

/* Like ca_list_json, only the records ca_record_expiring picks (days < 0: all of them). */
int ca_list_json_expiring(const char *dir, int days, time_t now, char **text, char *err,
                          size_t errlen);

/* Whole days r has left at now, rounded down: negative once it has expired. */
long ca_record_days_left(const struct ca_record *r, time_t now);

/* Say whether r is valid at now and expires within days days of it. */
int ca_record_expiring(const struct ca_record *r, time_t now, int days);

/* Say what r is at time now: "valid", "expired" or "revoked". */
const char *ca_record_state(const struct ca_record *r, time_t now);

/* Name a kind as issued.json does: "partner" or "server". */
const char *ca_kind_name(enum ca_kind kind);

/* Say whether host is a DNS name or IP address a server certificate can carry. */
int ca_host_is_valid(const char *host);

#endif
