/*
 * refex-ca: the partnership's certificate authority. Each command is one
 * entry of cmd_table with its usage line and handler; options are parsed per
 * command with getopt_long. Exit status: 0 done, 1 the operation failed,
 * 2 the command line was wrong.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ca.h"
#include "p12.h"

#define EXIT_USAGE 2

/* Everything any command takes from its command line. */
struct opts {
	const char *dir;
	const char *name;
	const char *out;
	const char *agency;
	const char *holder;
	const char *serial;
	const char *reason;
	const char *csr;
	const char *p12;       /* issue --p12 FILE */
	const char *pass_file; /* issue --p12-pass-file FILE */
	const char *hosts[CA_HOSTS_MAX];
	size_t nhosts;
	char *host_buf[CA_HOSTS_MAX]; /* the --host arguments, split in place */
	size_t nbufs;
	int days;
	int json;
	int expiring; /* --expiring DAYS, or -1 */
};

struct cmd_entry {
	const char *name;
	const char *usage; /* after "refex-ca " */
	const char *help;  /* what it does and its options */
	const struct option *options;
	int (*exec)(const struct cmd_entry *, struct opts *);
};

/* Print "refex-ca: MSG" and the command's usage line on stderr; return the usage exit. */
static int usage_error(const struct cmd_entry *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "refex-ca: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nusage: refex-ca %s\n", cmd->usage);
	return EXIT_USAGE;
}

/* Print "refex-ca: ERR" on stderr; return the failure exit. */
static int failed(const char *err)
{
	fprintf(stderr, "refex-ca: %s\n", err);
	return EXIT_FAILURE;
}

/* Format t as a date, YYYY-MM-DD (UTC). */
static void date_of(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d", &tm) == 0) {
		snprintf(buf, len, "?");
	}
}

/* Add the comma-separated hosts in arg to o. */
static int add_hosts(const struct cmd_entry *cmd, struct opts *o, const char *arg)
{
	char *copy, *p, *host;

	if (o->nbufs >= CA_HOSTS_MAX || (copy = strdup(arg)) == NULL) {
		return usage_error(cmd, "too many --host options%s", "");
	}
	o->host_buf[o->nbufs++] = copy;
	for (p = copy; (host = strsep(&p, ",")) != NULL;) {
		if (host[0] == '\0') {
			return usage_error(cmd, "empty host name in --host \"%s\"", arg);
		}
		if (o->nhosts >= CA_HOSTS_MAX) {
			return usage_error(cmd, "too many hosts (at most 16): \"%s\"", arg);
		}
		o->hosts[o->nhosts++] = host;
	}
	return 0;
}

/* Parse a --days value, 1..CA_DAYS_MAX. */
static int parse_days(const struct cmd_entry *cmd, struct opts *o, const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (end == arg || *end != '\0' || v < 1 || v > CA_DAYS_MAX) {
		return usage_error(
		    cmd, "--days must be a number of days from 1 to 3650, not \"%s\"", arg);
	}
	o->days = (int)v;
	return 0;
}

/* Parse an --expiring value, 0..CA_DAYS_MAX days. */
static int parse_expiring(const struct cmd_entry *cmd, struct opts *o, const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (end == arg || *end != '\0' || v < 0 || v > CA_DAYS_MAX) {
		return usage_error(
		    cmd, "--expiring must be a number of days from 0 to 3650, not \"%s\"", arg);
	}
	o->expiring = (int)v;
	return 0;
}

/* Print cmd's usage and help on stdout. */
static void cmd_help(const struct cmd_entry *cmd)
{
	printf("usage: refex-ca %s\n\n%s", cmd->usage, cmd->help);
}

/* Store one option into o. Returns 0, 1 for --help, or an exit status. */
static int take_option(const struct cmd_entry *cmd, struct opts *o, int c, const char *arg)
{
	switch (c) {
	case 'd':
		o->dir = arg;
		return 0;
	case 'n':
		o->name = arg;
		return 0;
	case 'o':
		o->out = arg;
		return 0;
	case 'a':
		o->agency = arg;
		return 0;
	case 'w':
		o->holder = arg;
		return 0;
	case 's':
		o->serial = arg;
		return 0;
	case 'r':
		o->reason = arg;
		return 0;
	case 'j':
		o->json = 1;
		return 0;
	case 'c':
		o->csr = arg;
		return 0;
	case 'P':
		o->p12 = arg;
		return 0;
	case 'F':
		o->pass_file = arg;
		return 0;
	case 'e':
		return parse_expiring(cmd, o, arg);
	case 'H':
		return add_hosts(cmd, o, arg);
	case 'N':
		return parse_days(cmd, o, arg);
	default:
		return -1;
	}
}

/* Parse argv (argv[0] is the command name) with cmd's options. Returns 0, 1 (help shown) or 2. */
static int parse_options(const struct cmd_entry *cmd, int argc, char **argv, struct opts *o)
{
	int c, rc;

	optind = 0; /* glibc: fully reinitialise */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", cmd->options, NULL)) != -1) {
		if (c == 'h') {
			cmd_help(cmd);
			return 1;
		}
		if (c == '?' || c == ':') {
			return usage_error(cmd, "bad or incomplete option \"%s\"",
			                   argv[optind - 1]);
		}
		if ((rc = take_option(cmd, o, c, optarg)) != 0) {
			return rc < 0
			           ? usage_error(cmd, "unexpected option \"%s\"", argv[optind - 1])
			           : rc;
		}
	}
	if (optind < argc) {
		return usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
	}
	return 0;
}

/* Check that a required option was given. */
static int need(const struct cmd_entry *cmd, const char *value, const char *option)
{
	if (value == NULL || value[0] == '\0') {
		return usage_error(cmd, "%s is required", option);
	}
	return 0;
}

/* refex-ca init: create the CA. */
static int cmd_init(const struct cmd_entry *cmd, struct opts *o)
{
	char err[512];
	int rc;

	if ((rc = need(cmd, o->dir, "--dir")) || (rc = need(cmd, o->name, "--name"))) {
		return rc;
	}
	if (ca_init(o->dir, o->name, err, sizeof(err)) < 0) {
		return failed(err);
	}
	printf("Created the certificate authority for \"%s\" in %s:\n"
	       "  %s/ca.crt   the network CA: give it to the hub and every partner\n"
	       "  %s/ca.key   SECRET: keep the directory private and backed up\n"
	       "  %s/crl.pem  revocation list for the hub; re-sign it before %d days pass "
	       "(refex-ca crl)\n",
	       o->name, o->dir, o->dir, o->dir, o->dir, CA_CRL_DAYS);
	return 0;
}

/* Issue the certificate req describes and report it. */
static int issue_and_report(struct ca_request *req, struct opts *o)
{
	char err[512], until[16];
	struct ca_record rec;

	req->days = o->days;
	req->out = o->out;
	if (ca_issue(o->dir, req, &rec, err, sizeof(err)) < 0) {
		return failed(err);
	}
	date_of(rec.not_after, until, sizeof(until));
	if (req->kind == CA_KIND_PARTNER) {
		printf("Issued partner certificate %s to \"%s\" of agency %s, valid until %s.\n",
		       rec.serial, rec.holder, rec.agency, until);
	} else {
		printf("Issued server certificate %s for %s, valid until %s.\n", rec.serial,
		       rec.hosts, until);
	}
	printf("  %s.crt  the certificate\n"
	       "  %s.key  its private key: SECRET, give it only to the holder\n",
	       o->out, o->out);
	return 0;
}

/* refex-ca server: issue the hub's certificate. */
static int cmd_server(const struct cmd_entry *cmd, struct opts *o)
{
	struct ca_request req = {.kind = CA_KIND_SERVER};
	int rc;

	if ((rc = need(cmd, o->dir, "--dir")) || (rc = need(cmd, o->out, "--out"))) {
		return rc;
	}
	if (o->nhosts == 0) {
		return usage_error(cmd, "--host is required%s", "");
	}
	req.hosts = o->hosts;
	req.nhosts = o->nhosts;
	return issue_and_report(&req, o);
}

/* Issue as issue_and_report does, then write PREFIX.crt, PREFIX.key and the CA certificate as
 * the PKCS#12 file --p12 for a browser. The passphrase is read (and the file checked absent)
 * before anything is issued. */
static int issue_with_p12(struct ca_request *req, struct opts *o)
{
	char pass[P12_PASS_MAX + 1], err[512], crt[4096], key[4096], ca[4096];
	int rc;

	if (access(o->p12, F_OK) == 0) {
		snprintf(err, sizeof(err), "%s already exists; refex-ca never overwrites a file",
		         o->p12);
		return failed(err);
	}
	if (p12_passphrase(o->pass_file, pass, err, sizeof(err)) < 0) {
		return failed(err);
	}
	snprintf(crt, sizeof(crt), "%s.crt", o->out);
	snprintf(key, sizeof(key), "%s.key", o->out);
	snprintf(ca, sizeof(ca), "%s/ca.crt", o->dir);
	if ((rc = issue_and_report(req, o)) == 0) {
		if (p12_write(crt, key, ca, pass, o->p12, err, sizeof(err)) < 0) {
			rc = failed(err);
		} else {
			printf("  %s  the key, certificate and CA certificate for a browser "
			       "(PKCS#12, passphrase-protected)\n",
			       o->p12);
		}
	}
	OPENSSL_cleanse(pass, sizeof(pass));
	return rc;
}

/* refex-ca issue: issue a partner certificate. */
static int cmd_issue(const struct cmd_entry *cmd, struct opts *o)
{
	struct ca_request req = {.kind = CA_KIND_PARTNER};
	int rc;

	if ((rc = need(cmd, o->dir, "--dir")) || (rc = need(cmd, o->agency, "--agency")) ||
	    (rc = need(cmd, o->holder, "--holder")) || (rc = need(cmd, o->out, "--out"))) {
		return rc;
	}
	req.agency = o->agency;
	req.holder = o->holder;
	if (o->p12 == NULL) {
		return o->pass_file ? usage_error(cmd, "--p12-pass-file needs --p12%s", "")
		                    : issue_and_report(&req, o);
	}
	return issue_with_p12(&req, o);
}

/* Print the serial, agency and holder (or hosts) of each record, one a line. */
static void print_revoked(const struct ca_record *recs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct ca_record *r = &recs[i];

		printf("  %s  %s  %s\n", r->serial, r->agency[0] ? r->agency : "-",
		       r->kind == CA_KIND_SERVER ? r->hosts : r->holder);
	}
}

/* Check revoke's options: a serial, or an agency (maybe a holder); the reason. */
static int revoke_check(const struct cmd_entry *cmd, struct opts *o)
{
	int rc;

	if ((rc = need(cmd, o->dir, "--dir"))) {
		return rc;
	}
	if (o->serial != NULL && (o->agency != NULL || o->holder != NULL)) {
		return usage_error(cmd, "give --serial, or --agency (and --holder), not both%s",
		                   "");
	}
	if (o->serial == NULL && o->agency == NULL) {
		return usage_error(cmd, "--serial or --agency is required%s", "");
	}
	if (o->holder != NULL && o->agency == NULL) {
		return usage_error(cmd, "--holder needs --agency%s", "");
	}
	/* Every revocation says why: issued.json keeps the words for the audit. */
	return need(cmd, o->reason, "--reason");
}

/* refex-ca revoke: revoke certificates and publish the CRL. */
static int cmd_revoke(const struct cmd_entry *cmd, struct opts *o)
{
	struct ca_revoke_filter f = {.serial = o->serial, .agency = o->agency, .holder = o->holder};
	struct ca_record *recs;
	char err[512];
	size_t n;
	int rc;

	if ((rc = revoke_check(cmd, o))) {
		return rc;
	}
	if (ca_revoke_matching(o->dir, &f, o->reason, &recs, &n, err, sizeof(err)) < 0) {
		return failed(err);
	}
	printf("Revoked %zu certificate%s (reason: %s):\n", n, n == 1 ? "" : "s",
	       recs[0].revoke_reason);
	print_revoked(recs, n);
	if (!ca_revoke_reason_is_valid(recs[0].revoke_reason)) {
		printf("(Not an RFC 5280 reason name: the CRL says unspecified; issued.json keeps "
		       "your words.)\n");
	}
	printf("Copy %s/crl.pem to the hub and reload it (SIGHUP).\n", o->dir);
	free(recs);
	return 0;
}

/* Print what sign or renew issued. */
static void report_issued(const struct ca_record *rec, const char *out, int new_key)
{
	char until[16];

	date_of(rec->not_after, until, sizeof(until));
	if (rec->kind == CA_KIND_PARTNER) {
		printf("Issued partner certificate %s to \"%s\" of agency %s, valid until %s.\n",
		       rec->serial, rec->holder, rec->agency, until);
	} else {
		printf("Issued server certificate %s for %s, valid until %s.\n", rec->serial,
		       rec->hosts, until);
	}
	printf("  %s.crt  the certificate: %s\n", out,
	       rec->kind == CA_KIND_PARTNER ? "send it back to its holder" : "for the hub");
	if (new_key) {
		printf("  %s.key  its private key: SECRET, give it only to the holder\n", out);
	}
}

/* refex-ca sign: issue a partner certificate for a signing request. */
static int cmd_sign(const struct cmd_entry *cmd, struct opts *o)
{
	struct ca_record rec;
	char err[512];
	int rc;

	if ((rc = need(cmd, o->dir, "--dir")) || (rc = need(cmd, o->csr, "--csr")) ||
	    (rc = need(cmd, o->agency, "--agency")) || (rc = need(cmd, o->out, "--out"))) {
		return rc;
	}
	if (ca_sign(o->dir, o->csr, o->agency, o->days, o->out, &rec, err, sizeof(err)) < 0) {
		return failed(err);
	}
	report_issued(&rec, o->out, 0);
	printf("The key stayed with the holder. Send them %s.crt and %s/ca.crt.\n", o->out, o->dir);
	return 0;
}

/* refex-ca renew: a new certificate for the holder of an existing one. */
static int cmd_renew(const struct cmd_entry *cmd, struct opts *o)
{
	struct ca_record rec;
	char err[512];
	int rc;

	if ((rc = need(cmd, o->dir, "--dir")) || (rc = need(cmd, o->serial, "--serial")) ||
	    (rc = need(cmd, o->out, "--out"))) {
		return rc;
	}
	if (ca_renew(o->dir, o->serial, o->csr, o->days, o->out, &rec, err, sizeof(err)) < 0) {
		return failed(err);
	}
	report_issued(&rec, o->out, o->csr == NULL);
	printf("It renews %s, which stays valid until it expires (revoke it once the new one is "
	       "in use, if you want it gone sooner).\n",
	       rec.renewed_from);
	return 0;
}

/* refex-ca crl: re-sign the revocation list. */
static int cmd_crl(const struct cmd_entry *cmd, struct opts *o)
{
	char err[512], until[16];
	int rc;

	if ((rc = need(cmd, o->dir, "--dir"))) {
		return rc;
	}
	if (ca_write_crl(o->dir, err, sizeof(err)) < 0) {
		return failed(err);
	}
	date_of(time(NULL) + CA_CRL_DAYS * 24L * 60 * 60, until, sizeof(until));
	printf("Published %s/crl.pem, valid until %s. Copy it to the hub and reload it (SIGHUP).\n",
	       o->dir, until);
	return 0;
}

/* Count the characters (UTF-8 code points) of s, for column widths. */
static int text_width(const char *s)
{
	int n = 0;

	for (; *s; s++) {
		n += ((unsigned char)*s & 0xc0) != 0x80;
	}
	return n;
}

/* Print s left-aligned in a column of width characters, then two spaces. */
static void print_cell(const char *s, int width)
{
	printf("%s%*s  ", s, width - text_width(s), "");
}

/* Print the records as a table. */
static void print_table(const struct ca_record *recs, size_t n)
{
	int wa = text_width("AGENCY"), wh = text_width("HOLDER/HOSTS");
	time_t now = time(NULL);
	char until[16], left[24];
	size_t i;

	for (i = 0; i < n; i++) {
		const char *who = recs[i].kind == CA_KIND_SERVER ? recs[i].hosts : recs[i].holder;

		wa = text_width(recs[i].agency) > wa ? text_width(recs[i].agency) : wa;
		wh = text_width(who) > wh ? text_width(who) : wh;
	}
	printf("%-32s  %-7s  ", "SERIAL", "KIND");
	print_cell("AGENCY", wa);
	print_cell("HOLDER/HOSTS", wh);
	printf("%-10s  %9s  %s\n", "EXPIRES", "DAYS LEFT", "STATUS");
	for (i = 0; i < n; i++) {
		const struct ca_record *r = &recs[i];

		date_of(r->not_after, until, sizeof(until));
		printf("%-32s  %-7s  ", r->serial, ca_kind_name(r->kind));
		print_cell(r->agency[0] ? r->agency : "-", wa);
		print_cell(r->kind == CA_KIND_SERVER ? r->hosts : r->holder, wh);
		if (r->status == CA_STATUS_REVOKED) {
			snprintf(left, sizeof(left), "-");
		} else {
			snprintf(left, sizeof(left), "%ld", ca_record_days_left(r, now));
		}
		printf("%-10s  %9s  %s\n", until, left, ca_record_state(r, now));
	}
}

/* Keep only the records due within days (days < 0: all); returns how many are left. */
static size_t keep_expiring(struct ca_record *recs, size_t n, int days, time_t now)
{
	size_t i, kept = 0;

	for (i = 0; i < n; i++) {
		if (days < 0 || ca_record_expiring(&recs[i], now, days)) {
			recs[kept++] = recs[i];
		}
	}
	return kept;
}

/* refex-ca list --json: the records of issued.json, maybe only those due. */
static int list_json(struct opts *o, time_t now)
{
	char err[512], *text;

	if (ca_list_json_expiring(o->dir, o->expiring, now, &text, err, sizeof(err)) < 0) {
		return failed(err);
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

/* refex-ca list: show what was issued. */
static int cmd_list(const struct cmd_entry *cmd, struct opts *o)
{
	char err[512];
	struct ca_record *recs;
	time_t now = time(NULL);
	size_t n, total;
	int rc;

	if ((rc = need(cmd, o->dir, "--dir"))) {
		return rc;
	}
	if (o->json) {
		return list_json(o, now);
	}
	if (ca_list(o->dir, &recs, &total, err, sizeof(err)) < 0) {
		return failed(err);
	}
	n = keep_expiring(recs, total, o->expiring, now);
	if (total == 0) {
		printf("No certificates issued yet.\n");
	} else if (n == 0) {
		printf("No valid certificate expires within %d days.\n", o->expiring);
	} else {
		print_table(recs, n);
	}
	free(recs);
	return 0;
}

#define OPT_DIR                                                                                    \
	{                                                                                          \
		"dir", required_argument, NULL, 'd'                                                \
	}
#define OPT_HELP                                                                                   \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}
#define OPT_END                                                                                    \
	{                                                                                          \
		NULL, 0, NULL, 0                                                                   \
	}

static const struct option init_options[] = {
    OPT_DIR, {"name", required_argument, NULL, 'n'}, OPT_HELP, OPT_END};
static const struct option server_options[] = {OPT_DIR,
                                               {"host", required_argument, NULL, 'H'},
                                               {"out", required_argument, NULL, 'o'},
                                               {"days", required_argument, NULL, 'N'},
                                               OPT_HELP,
                                               OPT_END};
static const struct option issue_options[] = {OPT_DIR,
                                              {"agency", required_argument, NULL, 'a'},
                                              {"holder", required_argument, NULL, 'w'},
                                              {"out", required_argument, NULL, 'o'},
                                              {"days", required_argument, NULL, 'N'},
                                              {"p12", required_argument, NULL, 'P'},
                                              {"p12-pass-file", required_argument, NULL, 'F'},
                                              OPT_HELP,
                                              OPT_END};
static const struct option sign_options[] = {OPT_DIR,
                                             {"csr", required_argument, NULL, 'c'},
                                             {"agency", required_argument, NULL, 'a'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"days", required_argument, NULL, 'N'},
                                             OPT_HELP,
                                             OPT_END};
static const struct option revoke_options[] = {OPT_DIR,
                                               {"serial", required_argument, NULL, 's'},
                                               {"agency", required_argument, NULL, 'a'},
                                               {"holder", required_argument, NULL, 'w'},
                                               {"reason", required_argument, NULL, 'r'},
                                               OPT_HELP,
                                               OPT_END};
static const struct option renew_options[] = {OPT_DIR,
                                              {"serial", required_argument, NULL, 's'},
                                              {"out", required_argument, NULL, 'o'},
                                              {"csr", required_argument, NULL, 'c'},
                                              {"days", required_argument, NULL, 'N'},
                                              OPT_HELP,
                                              OPT_END};
static const struct option crl_options[] = {OPT_DIR, OPT_HELP, OPT_END};
static const struct option list_options[] = {OPT_DIR,
                                             {"json", no_argument, NULL, 'j'},
                                             {"expiring", required_argument, NULL, 'e'},
                                             OPT_HELP,
                                             OPT_END};

static const struct cmd_entry cmd_table[] = {
    {"init", "init --dir DIR --name \"NETWORK NAME\"",
     "Create the network's certificate authority in DIR (created if missing, mode 0700):\n"
     "ca.key (secret), ca.crt (the CA certificate, 10 years), crl.pem and issued.json.\n"
     "Refuses a DIR that already holds a CA.\n",
     init_options, cmd_init},
    {"server", "server --dir DIR --host NAME_OR_IP[,...] --out PREFIX [--days N]",
     "Issue the hub's certificate for the DNS names and IP addresses it is reached by\n"
     "(--host may be repeated; at most 16). Writes PREFIX.crt and PREFIX.key (mode 0600);\n"
     "never overwrites. Valid 397 days unless --days says otherwise.\n",
     server_options, cmd_server},
    {"issue",
     "issue --dir DIR --agency ID --holder NAME --out PREFIX [--days N] [--p12 FILE "
     "[--p12-pass-file FILE]]",
     "Issue a partner certificate: the agency id (1-63 of a-z, 0-9 and '-', starting with\n"
     "a letter or digit) goes in the subject's O, the holder (a staff member or a system,\n"
     "up to 127 bytes) in its CN. Writes PREFIX.crt and PREFIX.key (mode 0600); never\n"
     "overwrites. Valid 365 days unless --days says otherwise.\n"
     "--p12 FILE also writes the key, certificate and CA certificate as a PKCS#12 file\n"
     "(mode 0600) to import into a browser, protected by a passphrase of at least 8\n"
     "characters (AES-256-CBC, PBKDF2 with SHA-256, a SHA-256 MAC): the first line of\n"
     "--p12-pass-file, or typed twice at the terminal. Never on the command line.\n",
     issue_options, cmd_issue},
    {"sign", "sign --dir DIR --csr FILE --agency ID --out PREFIX [--days N]",
     "Issue a partner certificate for a signing request made with 'refex keygen': the key\n"
     "stays with the partner. The request's signature is checked; its O (agency) must be\n"
     "--agency, which you confirm out of band, and its CN is the holder. Writes\n"
     "PREFIX.crt only; never overwrites. Valid 365 days unless --days says otherwise.\n",
     sign_options, cmd_sign},
    {"revoke", "revoke --dir DIR (--serial HEX | --agency ID [--holder NAME]) --reason REASON",
     "Revoke one certificate by serial (see list), or every valid partner certificate of\n"
     "an agency, or only those of one holder, and re-sign DIR/crl.pem. Prints each\n"
     "certificate revoked; refuses when nothing matches. Reasons: unspecified,\n"
     "keyCompromise, affiliationChanged (a leaver), superseded, cessationOfOperation; or\n"
     "your own words, kept in issued.json (the CRL then says unspecified). --reason is\n"
     "required with --agency; with --serial it defaults to unspecified.\n"
     "Copy crl.pem to the hub and send it SIGHUP.\n",
     revoke_options, cmd_revoke},
    {"renew", "renew --dir DIR --serial HEX --out PREFIX [--csr FILE] [--days N]",
     "Issue a new certificate for the same agency and holder (or hosts) as the one with\n"
     "serial, which stays valid until it expires. With --csr the new key is the request's\n"
     "(its O and CN must match) and only PREFIX.crt is written; --csr is required when\n"
     "the old certificate was signed from a request. Otherwise a new key is made at\n"
     "PREFIX.key. Valid for the kind's default days unless --days says otherwise.\n",
     renew_options, cmd_renew},
    {"crl", "crl --dir DIR",
     "Re-sign DIR/crl.pem (valid 30 days). Run it at least monthly, e.g. from cron,\n"
     "and copy the file to the hub: an expired CRL makes the hub refuse everyone.\n",
     crl_options, cmd_crl},
    {"list", "list --dir DIR [--expiring DAYS] [--json]",
     "List the certificates issued: serial, kind, agency, holder (or hosts), expiry date,\n"
     "days left (negative once expired) and status (valid, expired, revoked).\n"
     "--expiring DAYS shows only valid certificates that expire within DAYS days.\n"
     "--json prints the records of issued.json.\n",
     list_options, cmd_list},
};

#define NCMDS (sizeof(cmd_table) / sizeof(cmd_table[0]))

/* Find a command by name. */
static const struct cmd_entry *find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < NCMDS; i++) {
		if (strcmp(cmd_table[i].name, name) == 0) {
			return &cmd_table[i];
		}
	}
	return NULL;
}

/* Print the overview of every command to fp. */
static void main_usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: refex-ca COMMAND [OPTIONS]\n\n"
	            "The partnership's certificate authority. Commands:\n");
	for (i = 0; i < NCMDS; i++) {
		fprintf(fp, "  refex-ca %s\n", cmd_table[i].usage);
	}
	fprintf(fp, "\n'refex-ca COMMAND --help' describes a command; refex-ca --version shows "
	            "the version.\n"
	            "Exit status: 0 done, 1 the operation failed, 2 usage error.\n");
}

/* Find the command named by argv[1], parse its options and run it. */
int main(int argc, char **argv)
{
	const struct cmd_entry *cmd;
	struct opts o;
	size_t i;
	int rc;

	if (argc < 2) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		main_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("refex-ca %s\n", REFEX_VERSION);
		return 0;
	}
	if ((cmd = find_cmd(argv[1])) == NULL) {
		fprintf(stderr, "refex-ca: unknown command \"%s\"\n", argv[1]);
		main_usage(stderr);
		return EXIT_USAGE;
	}
	memset(&o, 0, sizeof(o));
	o.expiring = -1;
	rc = parse_options(cmd, argc - 1, argv + 1, &o);
	if (rc == 1) {
		rc = 0; /* help was shown */
	} else if (rc == 0) {
		rc = cmd->exec(cmd, &o);
	}
	for (i = 0; i < o.nbufs; i++) {
		free(o.host_buf[i]);
	}
	return rc;
}
