/* The CA (ca.h), certificate identity (identity.h), TLS contexts (tls.h) and the CRL a client
 * keeps (crl_keep.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca.h"
#include "crl_keep.h"
#include "csr.h"
#include "identity.h"
#include "tls.h"

static char tmp[64]; /* this test's scratch directory (short: paths are built from it) */
static char cadir[128];
static char err[512];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/refex-test-ca-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(cadir, sizeof(cadir), "%s/ca", tmp);
	err[0] = '\0';
}

static void teardown(void)
{
	nftw(tmp, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(ca, .init = setup, .fini = teardown);

/* tmp/name into buf (256 bytes). */
static const char *in_tmp(const char *name, char *buf)
{
	snprintf(buf, 256, "%s/%s", tmp, name);
	return buf;
}

static X509 *read_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x;

	cr_assert_not_null(fp, "cannot open %s", path);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	cr_assert_not_null(x, "%s is not a PEM certificate", path);
	return x;
}

static X509_CRL *read_crl(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509_CRL *crl;

	cr_assert_not_null(fp, "cannot open %s", path);
	crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
	fclose(fp);
	cr_assert_not_null(crl);
	return crl;
}

static X509 *ca_cert(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/ca.crt", cadir);
	return read_cert(path);
}

static void make_ca(void)
{
	cr_assert_eq(ca_init(cadir, "Test Partnership", err, sizeof(err)), 0, "%s", err);
}

static int issue_partner(const char *agency, const char *holder, const char *out,
                         struct ca_record *rec)
{
	struct ca_request req = {
	    .kind = CA_KIND_PARTNER, .agency = agency, .holder = holder, .out = out};

	return ca_issue(cadir, &req, rec, err, sizeof(err));
}

static int issue_server(const char *out, struct ca_record *rec)
{
	static const char *const hosts[] = {"hub.example.org", "127.0.0.1", "::1"};
	struct ca_request req = {.kind = CA_KIND_SERVER, .hosts = hosts, .nhosts = 3, .out = out};

	return ca_issue(cadir, &req, rec, err, sizeof(err));
}

/* Verify cert against the CA (and the CRL when crl) for purpose; return the X509_V_ code. */
static int verify(X509 *cert, int purpose, int with_crl)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *ca = ca_cert();
	X509_CRL *crl = NULL;
	char path[PATH_MAX];
	int rc;

	cr_assert(X509_STORE_add_cert(store, ca));
	if (with_crl) {
		snprintf(path, sizeof(path), "%s/crl.pem", cadir);
		crl = read_crl(path);
		cr_assert(X509_STORE_add_crl(store, crl));
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	}
	cr_assert(X509_STORE_CTX_init(ctx, store, cert, NULL));
	X509_STORE_CTX_set_purpose(ctx, purpose);
	rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_CRL_free(crl);
	X509_free(ca);
	return rc;
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

Test(ca, init_creates_a_private_key_a_ca_and_a_signed_crl)
{
	char path[PATH_MAX];
	X509 *ca;
	X509_CRL *crl;

	make_ca();
	snprintf(path, sizeof(path), "%s/ca.key", cadir);
	cr_assert_eq(file_mode(path), 0600, "ca.key must be readable by its owner only");
	ca = ca_cert();
	cr_assert_eq(X509_check_ca(ca), 1, "ca.crt must be a CA certificate");
	cr_assert(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
	cr_assert(X509_get_key_usage(ca) & KU_CRL_SIGN);
	snprintf(path, sizeof(path), "%s/crl.pem", cadir);
	crl = read_crl(path);
	cr_assert_eq(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1,
	             "crl.pem must be signed by the CA");
	cr_assert_null(
	    X509_CRL_get_REVOKED(crl) ? sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), 0) : NULL);
	X509_CRL_free(crl);
	X509_free(ca);
}

Test(ca, init_refuses_to_overwrite_an_existing_ca)
{
	X509 *before, *after;

	make_ca();
	before = ca_cert();
	cr_assert_eq(ca_init(cadir, "Another", err, sizeof(err)), -1);
	cr_assert(strstr(err, "already exists") != NULL, "err: %s", err);
	after = ca_cert();
	cr_assert_eq(X509_cmp(before, after), 0, "the CA must be untouched");
	X509_free(before);
	X509_free(after);
}

Test(ca, a_partner_certificate_verifies_and_names_agency_and_holder)
{
	char out[256], path[PATH_MAX];
	struct ca_record rec;
	struct identity id;
	X509 *cert;

	make_ca();
	cr_assert_eq(issue_partner("north-advice", "Jane Smith", in_tmp("jane", out), &rec), 0,
	             "%s", err);
	snprintf(path, sizeof(path), "%s.key", out);
	cr_assert_eq(file_mode(path), 0600, "the key must be readable by its owner only");
	snprintf(path, sizeof(path), "%s.crt", out);
	cert = read_cert(path);
	cr_assert_eq(verify(cert, X509_PURPOSE_SSL_CLIENT, 1), X509_V_OK);
	cr_assert_eq(identity_from_cert(cert, &id, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(id.agency, "north-advice");
	cr_assert_str_eq(id.holder, "Jane Smith");
	cr_assert_str_eq(id.serial, rec.serial);
	cr_assert_str_eq(id.fingerprint, rec.fingerprint);
	cr_assert_eq(strlen(id.fingerprint), 95, "SHA-256 as 32 hex pairs: %s", id.fingerprint);
	snprintf(path, sizeof(path), "%s/issued/%s.pem", cadir, rec.serial);
	cr_assert_eq(access(path, R_OK), 0, "the CA keeps a copy of what it issued");
	X509_free(cert);
}

Test(ca, a_bad_agency_id_or_holder_is_refused_and_nothing_written)
{
	char out[256], path[PATH_MAX];
	char longname[IDENTITY_HOLDER_MAX + 2];

	make_ca();
	cr_assert_eq(issue_partner("North Advice", "Jane", in_tmp("x", out), NULL), -1);
	cr_assert(strstr(err, "agency id") != NULL, "err: %s", err);
	cr_assert_eq(issue_partner("-north", "Jane", out, NULL), -1);
	cr_assert_eq(issue_partner("north", "", out, NULL), -1);
	cr_assert(strstr(err, "holder") != NULL, "err: %s", err);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert_eq(issue_partner("north", longname, out, NULL), -1);
	snprintf(path, sizeof(path), "%s.key", out);
	cr_assert_eq(access(path, F_OK), -1, "no key may be left behind");
}

Test(ca, a_long_holder_up_to_the_limit_is_carried_whole)
{
	char out[256], path[PATH_MAX];
	char holder[IDENTITY_HOLDER_MAX + 1];
	struct identity id;
	X509 *cert;

	make_ca();
	memset(holder, 'h', IDENTITY_HOLDER_MAX);
	holder[IDENTITY_HOLDER_MAX] = '\0';
	cr_assert_eq(issue_partner("north", holder, in_tmp("long", out), NULL), 0, "%s", err);
	snprintf(path, sizeof(path), "%s.crt", out);
	cert = read_cert(path);
	cr_assert_eq(identity_from_cert(cert, &id, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(id.holder, holder);
	X509_free(cert);
}

Test(ca, issue_never_overwrites_existing_files)
{
	char out[256];
	size_t n;
	struct ca_record *recs;

	make_ca();
	cr_assert_eq(issue_partner("north", "Jane", in_tmp("jane", out), NULL), 0, "%s", err);
	cr_assert_eq(issue_partner("north", "Jane", out, NULL), -1);
	cr_assert(strstr(err, "already exists") != NULL, "err: %s", err);
	cr_assert_eq(ca_list(cadir, &recs, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(n, 1, "a refused issue is not recorded");
	free(recs);
}

Test(ca, a_server_certificate_names_its_hosts_and_is_no_partner)
{
	char out[256], path[PATH_MAX];
	struct identity id;
	X509 *cert;

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), NULL), 0, "%s", err);
	snprintf(path, sizeof(path), "%s.crt", out);
	cert = read_cert(path);
	cr_assert_eq(verify(cert, X509_PURPOSE_SSL_SERVER, 1), X509_V_OK);
	cr_assert_eq(X509_check_host(cert, "hub.example.org", 0, 0, NULL), 1);
	cr_assert_eq(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
	cr_assert_eq(X509_check_ip_asc(cert, "::1", 0), 1);
	cr_assert_neq(X509_check_host(cert, "other.example.org", 0, 0, NULL), 1);
	cr_assert_eq(identity_from_cert(cert, &id, err, sizeof(err)), -1);
	cr_assert(strstr(err, "clientAuth") != NULL, "err: %s", err);
	cr_assert_neq(verify(cert, X509_PURPOSE_SSL_CLIENT, 0), X509_V_OK,
	              "a server certificate must not pass as a client");
	X509_free(cert);
}

Test(ca, a_bad_host_is_refused)
{
	static const char *const hosts[] = {"hub..example.org"};
	char out[256];
	struct ca_request req = {
	    .kind = CA_KIND_SERVER, .hosts = hosts, .nhosts = 1, .out = in_tmp("server", out)};

	make_ca();
	cr_assert_eq(ca_issue(cadir, &req, NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "hub..example.org") != NULL, "err: %s", err);
	cr_assert(ca_host_is_valid("hub-1.example.org"));
	cr_assert(ca_host_is_valid("fe80::1"));
	cr_assert_not(ca_host_is_valid("-hub.example.org"));
	cr_assert_not(ca_host_is_valid("hub_1"));
}

Test(ca, the_ca_certificate_is_no_partner)
{
	struct identity id;
	X509 *ca;

	make_ca();
	ca = ca_cert();
	cr_assert_eq(identity_from_cert(ca, &id, err, sizeof(err)), -1);
	cr_assert(strstr(err, "CA certificate") != NULL, "err: %s", err);
	cr_assert_str_eq(id.agency, "");
	X509_free(ca);
}

Test(ca, agency_ids_follow_the_rule)
{
	char s[IDENTITY_AGENCY_MAX + 2];

	cr_assert(identity_agency_is_valid("north-advice"));
	cr_assert(identity_agency_is_valid("0"));
	cr_assert_not(identity_agency_is_valid(""));
	cr_assert_not(identity_agency_is_valid("-x"));
	cr_assert_not(identity_agency_is_valid("North"));
	cr_assert_not(identity_agency_is_valid("a b"));
	memset(s, 'a', IDENTITY_AGENCY_MAX);
	s[IDENTITY_AGENCY_MAX] = '\0';
	cr_assert(identity_agency_is_valid(s));
	s[IDENTITY_AGENCY_MAX] = 'a';
	s[IDENTITY_AGENCY_MAX + 1] = '\0';
	cr_assert_not(identity_agency_is_valid(s));
}

Test(ca, list_shows_every_certificate_issued)
{
	char out[256];
	struct ca_record *recs;
	size_t n;
	char *text;
	json_t *arr;

	make_ca();
	cr_assert_eq(ca_list(cadir, &recs, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(n, 0);
	free(recs);
	cr_assert_eq(issue_server(in_tmp("server", out), NULL), 0, "%s", err);
	cr_assert_eq(issue_partner("north-advice", "Jane Smith", in_tmp("jane", out), NULL), 0,
	             "%s", err);
	cr_assert_eq(ca_list(cadir, &recs, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(n, 2);
	cr_assert_eq(recs[0].kind, CA_KIND_SERVER);
	cr_assert_str_eq(recs[0].hosts, "hub.example.org,127.0.0.1,::1");
	cr_assert_eq(recs[1].kind, CA_KIND_PARTNER);
	cr_assert_str_eq(recs[1].agency, "north-advice");
	cr_assert_str_eq(recs[1].holder, "Jane Smith");
	cr_assert_str_eq(ca_record_state(&recs[1], time(NULL)), "valid");
	cr_assert_str_eq(ca_record_state(&recs[1], recs[1].not_after + 1), "expired");
	cr_assert(recs[1].not_after - time(NULL) > 364 * 86400L);
	cr_assert(recs[0].not_after - time(NULL) > 396 * 86400L);
	free(recs);

	cr_assert_eq(ca_list_json(cadir, &text, err, sizeof(err)), 0, "%s", err);
	arr = json_loads(text, 0, NULL);
	cr_assert(json_is_array(arr));
	cr_assert_eq(json_array_size(arr), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 1), "key_origin")),
	                 "ca-generated");
	json_decref(arr);
	free(text);
}

Test(ca, revoking_lists_the_certificate_in_the_crl)
{
	char out[256], path[PATH_MAX];
	struct ca_record rec, *recs;
	size_t n;
	X509 *cert;

	make_ca();
	cr_assert_eq(issue_partner("north", "Leaver", in_tmp("leaver", out), &rec), 0, "%s", err);
	cr_assert_eq(ca_revoke(cadir, rec.serial, "affiliationChanged", err, sizeof(err)), 0, "%s",
	             err);
	snprintf(path, sizeof(path), "%s.crt", out);
	cert = read_cert(path);
	cr_assert_eq(verify(cert, X509_PURPOSE_SSL_CLIENT, 1), X509_V_ERR_CERT_REVOKED);
	cr_assert_eq(ca_revoke(cadir, rec.serial, NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "already revoked") != NULL, "err: %s", err);
	cr_assert_eq(ca_revoke(cadir, "ABCDEF", NULL, err, sizeof(err)), -1);
	cr_assert_eq(ca_revoke(cadir, rec.serial, "bad\nreason", err, sizeof(err)), -1);
	cr_assert_eq(ca_list(cadir, &recs, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(ca_record_state(&recs[0], time(NULL)), "revoked");
	cr_assert_str_eq(recs[0].revoke_reason, "affiliationChanged");
	free(recs);
	/* Re-signing keeps the revocation. */
	cr_assert_eq(ca_write_crl(cadir, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(verify(cert, X509_PURPOSE_SSL_CLIENT, 1), X509_V_ERR_CERT_REVOKED);
	X509_free(cert);
}

Test(ca, operations_on_a_directory_without_a_ca_say_so)
{
	struct ca_record *recs;
	size_t n;

	cr_assert_eq(ca_list(cadir, &recs, &n, err, sizeof(err)), -1);
	cr_assert(strstr(err, "not a refex CA directory") != NULL, "err: %s", err);
	cr_assert_eq(issue_partner("north", "Jane", "/nonexistent/x", NULL), -1);
	cr_assert(strstr(err, "not a refex CA directory") != NULL, "err: %s", err);
}

/* Paths of the CA's files and an issued pair PREFIX.crt/.key under tmp. */
struct files {
	char ca[PATH_MAX], crl[PATH_MAX], crt[PATH_MAX], key[PATH_MAX];
};

static void files_of(struct files *f, const char *prefix)
{
	snprintf(f->ca, sizeof(f->ca), "%s/ca.crt", cadir);
	snprintf(f->crl, sizeof(f->crl), "%s/crl.pem", cadir);
	snprintf(f->crt, sizeof(f->crt), "%s/%s.crt", tmp, prefix);
	snprintf(f->key, sizeof(f->key), "%s/%s.key", tmp, prefix);
}

Test(ca, tls_contexts_build_from_issued_files)
{
	char out[256];
	struct files srv, cli;
	SSL_CTX *ctx;

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), NULL), 0, "%s", err);
	cr_assert_eq(issue_partner("north", "Jane", in_tmp("jane", out), NULL), 0, "%s", err);
	files_of(&srv, "server");
	files_of(&cli, "jane");

	ctx = tls_server_ctx_new(&(struct tls_paths){srv.crt, srv.key, srv.ca, srv.crl}, err,
	                         sizeof(err));
	cr_assert_not_null(ctx, "%s", err);
	cr_assert_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	cr_assert_eq(SSL_CTX_get_verify_mode(ctx),
	             SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	cr_assert_eq(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(ctx)), 1);
	cr_assert(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET);
	cr_assert_eq(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_OFF);
	SSL_CTX_free(ctx);

	ctx = tls_client_ctx_new(&(struct tls_paths){cli.crt, cli.key, cli.ca, NULL}, err,
	                         sizeof(err));
	cr_assert_not_null(ctx, "%s", err);
	SSL_CTX_free(ctx);

	/* The partner's key with the server's certificate. */
	ctx = tls_server_ctx_new(&(struct tls_paths){srv.crt, cli.key, srv.ca, NULL}, err,
	                         sizeof(err));
	cr_assert_null(ctx);
	cr_assert(strstr(err, "does not match") != NULL, "err: %s", err);
	ctx = tls_client_ctx_new(&(struct tls_paths){cli.crt, srv.key, cli.ca, NULL}, err,
	                         sizeof(err));
	cr_assert_null(ctx);
	cr_assert(strstr(err, "does not match") != NULL, "err: %s", err);
	cr_assert_eq(ERR_peek_error(), 0, "the error queue is left clean");
}

Test(ca, tls_server_refuses_missing_files_and_a_foreign_crl)
{
	char out[256], other[256], crl[PATH_MAX];
	struct files srv;
	SSL_CTX *ctx;

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), NULL), 0, "%s", err);
	files_of(&srv, "server");
	ctx = tls_server_ctx_new(&(struct tls_paths){srv.crt, srv.key, "/nonexistent/ca.crt", NULL},
	                         err, sizeof(err));
	cr_assert_null(ctx);
	cr_assert(strstr(err, "/nonexistent/ca.crt") != NULL, "err: %s", err);

	cr_assert_eq(ca_init(in_tmp("other", other), "Other", err, sizeof(err)), 0, "%s", err);
	snprintf(crl, sizeof(crl), "%s/crl.pem", other);
	ctx = tls_server_ctx_new(&(struct tls_paths){srv.crt, srv.key, srv.ca, crl}, err,
	                         sizeof(err));
	cr_assert_null(ctx);
	cr_assert(strstr(err, "not signed by the network CA") != NULL, "err: %s", err);
	ctx = tls_server_ctx_new(&(struct tls_paths){srv.crt, srv.key, srv.ca, srv.crt}, err,
	                         sizeof(err));
	cr_assert_null(ctx, "a certificate is not a CRL");
}

/* A client and a server talking over a socketpair in this process. */
struct pair {
	SSL *c, *s;
	int fds[2];
	int c_done, s_done; /* 1 finished, -1 failed */
	char why[256];      /* the client's tls_describe_failure, when it failed */
};

/* Run the handshake (and a first client read, where TLS 1.3 alerts arrive) to its end. */
static void talk(struct pair *p, SSL_CTX *sctx, SSL_CTX *cctx, const char *host)
{
	int i, r;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fds), 0);
	p->c = SSL_new(cctx);
	p->s = SSL_new(sctx);
	SSL_set_fd(p->c, p->fds[0]);
	SSL_set_fd(p->s, p->fds[1]);
	cr_assert_eq(tls_client_expect_host(p->c, host), 0);
	p->c_done = p->s_done = 0;
	p->why[0] = '\0';
	for (i = 0; i < 100 && p->c_done >= 0; i++) {
		if (p->s_done == 0 && (r = SSL_accept(p->s)) != 1 &&
		    SSL_get_error(p->s, r) != SSL_ERROR_WANT_READ) {
			p->s_done = -1;
			ERR_clear_error(); /* the server's errors are not the client's */
		} else if (p->s_done == 0 && r == 1) {
			p->s_done = 1;
		}
		if (p->c_done == 0 && !SSL_is_init_finished(p->c)) {
			r = SSL_connect(p->c);
		} else {
			char b;

			r = SSL_read(p->c, &b, 1);
		}
		if (r <= 0 && SSL_get_error(p->c, r) != SSL_ERROR_WANT_READ) {
			tls_describe_failure(p->c, r, p->why, sizeof(p->why));
			p->c_done = -1;
		}
	}
	if (p->c_done == 0 && SSL_is_init_finished(p->c)) {
		p->c_done = 1;
	}
}

static void pair_free(struct pair *p)
{
	SSL_free(p->c);
	SSL_free(p->s);
	close(p->fds[0]);
	close(p->fds[1]);
}

/* Build the server context of this CA and a client context for PREFIX. */
static void contexts(const char *prefix, SSL_CTX **sctx, SSL_CTX **cctx)
{
	struct files srv, cli;

	files_of(&srv, "server");
	files_of(&cli, prefix);
	*sctx = tls_server_ctx_new(&(struct tls_paths){srv.crt, srv.key, srv.ca, srv.crl}, err,
	                           sizeof(err));
	cr_assert_not_null(*sctx, "%s", err);
	*cctx = tls_client_ctx_new(&(struct tls_paths){cli.crt, cli.key, cli.ca, NULL}, err,
	                           sizeof(err));
	cr_assert_not_null(*cctx, "%s", err);
}

Test(ca, a_partner_connects_and_the_server_reads_its_identity)
{
	char out[256];
	SSL_CTX *sctx, *cctx;
	struct pair p;
	struct identity id;

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), NULL), 0, "%s", err);
	cr_assert_eq(issue_partner("north", "Jane", in_tmp("jane", out), NULL), 0, "%s", err);
	contexts("jane", &sctx, &cctx);
	talk(&p, sctx, cctx, "127.0.0.1");
	cr_assert_eq(p.s_done, 1);
	cr_assert_eq(p.c_done, 1, "client: %s", p.why);
	cr_assert_eq(SSL_version(p.c), TLS1_3_VERSION);
	cr_assert_eq(identity_from_cert(SSL_get0_peer_certificate(p.s), &id, err, sizeof(err)), 0);
	cr_assert_str_eq(id.agency, "north");
	cr_assert_str_eq(id.holder, "Jane");
	pair_free(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

Test(ca, a_revoked_partner_is_told_why_it_was_refused)
{
	char out[256];
	struct ca_record rec;
	SSL_CTX *sctx, *cctx;
	struct pair p;

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), NULL), 0, "%s", err);
	cr_assert_eq(issue_partner("north", "Leaver", in_tmp("leaver", out), &rec), 0, "%s", err);
	cr_assert_eq(ca_revoke(cadir, rec.serial, "affiliationChanged", err, sizeof(err)), 0);
	contexts("leaver", &sctx, &cctx);
	talk(&p, sctx, cctx, "hub.example.org");
	cr_assert_eq(p.s_done, -1);
	cr_assert_eq(p.c_done, -1);
	cr_assert_str_eq(p.why, "the server refused our certificate: it has been revoked");
	pair_free(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

Test(ca, a_crl_past_its_next_update_refuses_every_partner)
{
	char out[256];
	SSL_CTX *sctx, *cctx;
	struct pair p;
	long ve = X509_V_OK;

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), NULL), 0, "%s", err);
	cr_assert_eq(issue_partner("north", "Jane", in_tmp("jane", out), NULL), 0, "%s", err);
	contexts("jane", &sctx, &cctx);
	/* The CRL is good for 30 days, the certificates for longer: 40 days on, only the
	 * CRL has run out, and the hub must refuse rather than stop checking. */
	X509_VERIFY_PARAM_set_time(SSL_CTX_get0_param(sctx), time(NULL) + 40L * 24 * 3600);
	talk(&p, sctx, cctx, "127.0.0.1");
	cr_assert_eq(p.s_done, -1);
	cr_assert_eq(p.c_done, -1);
	cr_assert_eq(tls_peer_failure(p.s, &ve, NULL, 0, NULL, 0), 0);
	cr_assert_eq(ve, X509_V_ERR_CRL_HAS_EXPIRED, "verify error %ld", ve);
	/* The partner is told it is the hub's CRL, not its own certificate. */
	cr_assert_str_eq(p.why, "the hub cannot check revocations (its revocation list expired): "
	                        "tell the hub's operator");
	pair_free(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

Test(ca, a_client_dialling_the_wrong_name_refuses_the_server)
{
	char out[256];
	SSL_CTX *sctx, *cctx;
	struct pair p;

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), NULL), 0, "%s", err);
	cr_assert_eq(issue_partner("north", "Jane", in_tmp("jane", out), NULL), 0, "%s", err);
	contexts("jane", &sctx, &cctx);
	talk(&p, sctx, cctx, "evil.example.org");
	cr_assert_eq(p.c_done, -1);
	cr_assert(strstr(p.why, "could not be verified") != NULL, "why: %s", p.why);
	cr_assert(strstr(p.why, "does not name the host") != NULL, "why: %s", p.why);
	pair_free(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

Test(ca, a_partner_of_another_network_is_refused)
{
	char out[256], other[256];
	struct files srv;
	SSL_CTX *sctx, *cctx;
	struct pair p;
	struct ca_request req = {.kind = CA_KIND_PARTNER, .agency = "north", .holder = "Eve"};
	char eve_crt[PATH_MAX], eve_key[PATH_MAX];

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), NULL), 0, "%s", err);
	cr_assert_eq(ca_init(in_tmp("other", other), "Other", err, sizeof(err)), 0, "%s", err);
	req.out = in_tmp("eve", out);
	cr_assert_eq(ca_issue(other, &req, NULL, err, sizeof(err)), 0, "%s", err);
	files_of(&srv, "server");
	sctx = tls_server_ctx_new(&(struct tls_paths){srv.crt, srv.key, srv.ca, srv.crl}, err,
	                          sizeof(err));
	cr_assert_not_null(sctx, "%s", err);
	snprintf(eve_crt, sizeof(eve_crt), "%s.crt", out);
	snprintf(eve_key, sizeof(eve_key), "%s.key", out);
	/* Eve trusts the real CA (to reach the hub) but holds a certificate from another. */
	cctx = tls_client_ctx_new(&(struct tls_paths){eve_crt, eve_key, srv.ca, NULL}, err,
	                          sizeof(err));
	cr_assert_not_null(cctx, "%s", err);
	talk(&p, sctx, cctx, "hub.example.org");
	cr_assert_eq(p.s_done, -1);
	cr_assert_eq(p.c_done, -1);
	cr_assert_str_eq(p.why, "the server refused our certificate: it was not issued by the "
	                        "network's CA");
	pair_free(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
}

Test(ca, verify_errors_read_as_plain_words)
{
	cr_assert_str_eq(tls_verify_error_text(X509_V_ERR_CERT_HAS_EXPIRED),
	                 "the certificate has expired");
	cr_assert_str_eq(tls_verify_error_text(X509_V_ERR_CERT_REVOKED),
	                 "the certificate has been revoked");
	cr_assert(strstr(tls_verify_error_text(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
	                 "network's CA") != NULL);
	cr_assert_str_eq(tls_verify_error_text(X509_V_ERR_OUT_OF_MEM),
	                 X509_verify_cert_error_string(X509_V_ERR_OUT_OF_MEM));
}

/* The record with serial, read back from issued.json. */
static struct ca_record record_of(const char *serial)
{
	struct ca_record *recs, r;
	size_t i, n;

	cr_assert_eq(ca_list(cadir, &recs, &n, err, sizeof(err)), 0, "%s", err);
	for (i = 0; i < n && strcmp(recs[i].serial, serial) != 0; i++) {
	}
	cr_assert_lt(i, n, "no record of %s", serial);
	r = recs[i];
	free(recs);
	return r;
}

/* Say whether the certificate at prefix.crt certifies the key at prefix.key (or key_prefix). */
static int cert_matches_key(const char *crt_prefix, const char *key_prefix)
{
	char path[PATH_MAX];
	FILE *fp;
	EVP_PKEY *key;
	X509 *cert;
	int ok;

	snprintf(path, sizeof(path), "%s.key", key_prefix);
	cr_assert_not_null(fp = fopen(path, "r"), "%s", path);
	key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	cr_assert_not_null(key);
	snprintf(path, sizeof(path), "%s.crt", crt_prefix);
	cert = read_cert(path);
	ok = X509_check_private_key(cert, key) == 1;
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);
	return ok;
}

Test(ca, keygen_makes_a_private_key_and_a_request_and_never_overwrites)
{
	char out[256], path[PATH_MAX];
	struct csr_info info;
	EVP_PKEY *key;

	cr_assert_eq(csr_make("north-advice", "Ann Lee", in_tmp("ann", out), err, sizeof(err)), 0,
	             "%s", err);
	snprintf(path, sizeof(path), "%s.key", out);
	cr_assert_eq(file_mode(path), 0600, "the key must be readable by its owner only");
	snprintf(path, sizeof(path), "%s.csr", out);
	cr_assert_eq(csr_read(path, &info, &key, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(info.agency, "north-advice");
	cr_assert_str_eq(info.holder, "Ann Lee");
	EVP_PKEY_free(key);
	cr_assert_eq(csr_make("north-advice", "Ann Lee", out, err, sizeof(err)), -1);
	cr_assert(strstr(err, "already exists") != NULL, "err: %s", err);
	cr_assert_eq(csr_make("North", "Ann", in_tmp("bad", out), err, sizeof(err)), -1);
	cr_assert(strstr(err, "agency id") != NULL, "err: %s", err);
	snprintf(path, sizeof(path), "%s.key", out);
	cr_assert_eq(access(path, F_OK), -1, "no key may be left behind");
}

Test(ca, a_request_with_a_broken_signature_is_refused)
{
	char out[256], path[PATH_MAX], copy[PATH_MAX];
	struct csr_info info;
	EVP_PKEY *key;
	X509_REQ *req;
	unsigned char *der = NULL;
	int len;
	FILE *fp;

	cr_assert_eq(csr_make("north", "Ann", in_tmp("ann", out), err, sizeof(err)), 0, "%s", err);
	snprintf(path, sizeof(path), "%s.csr", out);
	cr_assert_not_null(fp = fopen(path, "r"));
	req = PEM_read_X509_REQ(fp, NULL, NULL, NULL);
	fclose(fp);
	cr_assert_not_null(req);
	cr_assert_gt(len = i2d_X509_REQ(req, &der), 0);
	der[len - 1] ^= 0x01; /* the last byte of the signature */
	snprintf(copy, sizeof(copy), "%s/forged.csr", tmp);
	cr_assert_not_null(fp = fopen(copy, "w"));
	cr_assert(PEM_write(fp, "CERTIFICATE REQUEST", "", der, len));
	fclose(fp);
	OPENSSL_free(der);
	X509_REQ_free(req);
	cr_assert_eq(csr_read(copy, &info, &key, err, sizeof(err)), -1);
	cr_assert(strstr(err, "signature") != NULL, "err: %s", err);
	cr_assert_null(key);
}

Test(ca, sign_refuses_a_request_for_another_agency_naming_both)
{
	char out[256], csr[PATH_MAX], path[PATH_MAX];

	make_ca();
	cr_assert_eq(csr_make("north-advice", "Ann Lee", in_tmp("ann", out), err, sizeof(err)), 0,
	             "%s", err);
	snprintf(csr, sizeof(csr), "%s.csr", out);
	cr_assert_eq(ca_sign(cadir, csr, "eastside-housing", 0, out, NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "the request is for agency north-advice, not eastside-housing") !=
	              NULL,
	          "err: %s", err);
	snprintf(path, sizeof(path), "%s.crt", out);
	cr_assert_eq(access(path, F_OK), -1, "nothing may be signed");
}

Test(ca, a_signed_request_verifies_names_its_holder_and_keeps_the_key_at_the_partner)
{
	char out[256], csr[PATH_MAX], path[PATH_MAX];
	struct ca_record rec;
	struct identity id;
	struct stat st;
	X509 *cert;

	make_ca();
	cr_assert_eq(csr_make("north-advice", "Ann Lee", in_tmp("ann", out), err, sizeof(err)), 0,
	             "%s", err);
	snprintf(csr, sizeof(csr), "%s.csr", out);
	snprintf(path, sizeof(path), "%s.key", out);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(ca_sign(cadir, csr, "north-advice", 30, out, &rec, err, sizeof(err)), 0, "%s",
	             err);
	snprintf(path, sizeof(path), "%s.crt", out);
	cert = read_cert(path);
	cr_assert_eq(verify(cert, X509_PURPOSE_SSL_CLIENT, 1), X509_V_OK);
	cr_assert_eq(identity_from_cert(cert, &id, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(id.agency, "north-advice");
	cr_assert_str_eq(id.holder, "Ann Lee");
	cr_assert_str_eq(id.serial, rec.serial);
	cr_assert(cert_matches_key(out, out), "the certificate must carry the partner's own key");
	cr_assert_str_eq(rec.key_origin, "csr");
	cr_assert_str_eq(record_of(rec.serial).key_origin, "csr");
	cr_assert(ca_record_days_left(&rec, time(NULL)) >= 29 &&
	              ca_record_days_left(&rec, time(NULL)) <= 30,
	          "--days 30 is honoured");
	X509_free(cert);
	/* Signing the same request to the same place again is refused, not overwritten. */
	cr_assert_eq(ca_sign(cadir, csr, "north-advice", 0, out, NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "already exists") != NULL, "err: %s", err);
}

/* Issue a partner certificate to tmp/name and return its serial in serial (64 bytes). */
static void issue_named(const char *agency, const char *holder, const char *name, char *serial)
{
	char out[256];
	struct ca_record rec;

	cr_assert_eq(issue_partner(agency, holder, in_tmp(name, out), &rec), 0, "%s", err);
	snprintf(serial, 64, "%s", rec.serial);
}

/* Verify tmp/name.crt against the CA and its CRL. */
static int verify_named(const char *name)
{
	char path[PATH_MAX];
	X509 *cert;
	int rc;

	snprintf(path, sizeof(path), "%s/%s.crt", tmp, name);
	cert = read_cert(path);
	rc = verify(cert, X509_PURPOSE_SSL_CLIENT, 1);
	X509_free(cert);
	return rc;
}

Test(ca, revoking_a_holder_revokes_all_theirs_and_nothing_else)
{
	char jane[64], bob1[64], bob2[64], sam[64];
	struct ca_revoke_filter f = {.agency = "north", .holder = "Bob"};
	struct ca_record *recs;
	size_t n;

	make_ca();
	issue_named("north", "Jane", "jane", jane);
	issue_named("north", "Bob", "bob1", bob1);
	issue_named("north", "Bob", "bob2", bob2);
	issue_named("east", "Bob", "sam", sam);
	cr_assert_eq(ca_revoke_matching(cadir, &f, "left the team", &recs, &n, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(recs[0].serial, bob1);
	cr_assert_str_eq(recs[1].serial, bob2);
	cr_assert_str_eq(recs[0].holder, "Bob");
	cr_assert_str_eq(recs[0].agency, "north");
	cr_assert_str_eq(recs[0].revoke_reason, "left the team");
	free(recs);
	cr_assert_eq(verify_named("bob1"), X509_V_ERR_CERT_REVOKED);
	cr_assert_eq(verify_named("bob2"), X509_V_ERR_CERT_REVOKED);
	cr_assert_eq(verify_named("jane"), X509_V_OK);
	cr_assert_eq(verify_named("sam"), X509_V_OK, "another agency's Bob is untouched");
	cr_assert_str_eq(record_of(bob1).revoke_reason, "left the team");

	/* Nothing left to match: refused, naming what was asked for. */
	cr_assert_eq(ca_revoke_matching(cadir, &f, "again", &recs, &n, err, sizeof(err)), -1);
	cr_assert(strstr(err, "north") != NULL && strstr(err, "Bob") != NULL, "err: %s", err);
	cr_assert_null(recs);
}

Test(ca, revoking_an_agency_revokes_every_valid_partner_certificate)
{
	char jane[64], bob[64], sam[64], out[256];
	struct ca_revoke_filter f = {.agency = "north"};
	struct ca_record *recs;
	size_t n;

	make_ca();
	issue_named("north", "Jane", "jane", jane);
	issue_named("north", "Bob", "bob", bob);
	issue_named("east", "Sam", "sam", sam);
	cr_assert_eq(issue_server(in_tmp("server", out), NULL), 0, "%s", err);
	cr_assert_eq(ca_revoke(cadir, bob, "KEYCOMPROMISE", err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(record_of(bob).revoke_reason, "keyCompromise",
	                 "a reason name is recorded as RFC 5280 spells it");
	cr_assert_eq(
	    ca_revoke_matching(cadir, &f, "cessationOfOperation", &recs, &n, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(n, 1, "only Jane's was still valid");
	cr_assert_str_eq(recs[0].serial, jane);
	free(recs);
	cr_assert_eq(verify_named("jane"), X509_V_ERR_CERT_REVOKED);
	cr_assert_eq(verify_named("sam"), X509_V_OK);
	f.agency = "nobody";
	cr_assert_eq(ca_revoke_matching(cadir, &f, "x", &recs, &n, err, sizeof(err)), -1);
	cr_assert(strstr(err, "nothing was revoked") != NULL, "err: %s", err);
	f = (struct ca_revoke_filter){.serial = sam, .agency = "east"};
	cr_assert_eq(ca_revoke_matching(cadir, &f, "x", NULL, NULL, err, sizeof(err)), -1,
	             "a serial and an agency together are ambiguous");
}

Test(ca, expiring_picks_valid_certificates_due_within_the_days)
{
	time_t now = 1800000000;
	struct ca_record r = {.status = CA_STATUS_VALID, .not_after = now + 10 * 86400 + 5};

	cr_assert_eq(ca_record_days_left(&r, now), 10);
	cr_assert(ca_record_expiring(&r, now, 30));
	cr_assert(ca_record_expiring(&r, now, 11));
	cr_assert_not(ca_record_expiring(&r, now, 10), "10 days and 5 seconds are left");
	r.not_after = now - 1;
	cr_assert_eq(ca_record_days_left(&r, now), -1);
	cr_assert_not(ca_record_expiring(&r, now, 30), "an expired one is not expiring");
	r.not_after = now - 86400;
	cr_assert_eq(ca_record_days_left(&r, now), -1);
	r.not_after = now - 86401;
	cr_assert_eq(ca_record_days_left(&r, now), -2);
	r.not_after = now + 86400;
	r.status = CA_STATUS_REVOKED;
	cr_assert_not(ca_record_expiring(&r, now, 30), "a revoked one is not expiring");
}

Test(ca, list_json_expiring_keeps_only_those_due)
{
	char out[256], *text;
	struct ca_request req = {.kind = CA_KIND_PARTNER, .agency = "north", .holder = "Short"};
	json_t *arr;

	make_ca();
	req.days = 20;
	req.out = in_tmp("short", out);
	cr_assert_eq(ca_issue(cadir, &req, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(issue_partner("north", "Long", in_tmp("long", out), NULL), 0, "%s", err);
	cr_assert_eq(ca_list_json_expiring(cadir, 30, time(NULL), &text, err, sizeof(err)), 0, "%s",
	             err);
	arr = json_loads(text, 0, NULL);
	free(text);
	cr_assert_eq(json_array_size(arr), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0), "holder")),
	                 "Short");
	json_decref(arr);
	cr_assert_eq(ca_list_json_expiring(cadir, -1, time(NULL), &text, err, sizeof(err)), 0);
	arr = json_loads(text, 0, NULL);
	free(text);
	cr_assert_eq(json_array_size(arr), 2);
	json_decref(arr);
}

Test(ca, renewing_a_ca_generated_certificate_makes_a_new_key_and_keeps_the_old_valid)
{
	char old[64], out[256];
	struct ca_record rec;
	struct identity id;
	char path[PATH_MAX];
	X509 *cert;

	make_ca();
	issue_named("north", "Jane", "jane", old);
	cr_assert_eq(ca_renew(cadir, old, NULL, 0, in_tmp("jane2", out), &rec, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_str_eq(rec.renewed_from, old);
	cr_assert_str_neq(rec.serial, old);
	cr_assert_str_eq(rec.key_origin, "ca-generated");
	snprintf(path, sizeof(path), "%s.key", out);
	cr_assert_eq(file_mode(path), 0600);
	cr_assert(cert_matches_key(out, out));
	snprintf(path, sizeof(path), "%s.crt", out);
	cert = read_cert(path);
	cr_assert_eq(verify(cert, X509_PURPOSE_SSL_CLIENT, 1), X509_V_OK);
	cr_assert_eq(identity_from_cert(cert, &id, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(id.agency, "north");
	cr_assert_str_eq(id.holder, "Jane");
	X509_free(cert);
	cr_assert_eq(verify_named("jane"), X509_V_OK, "the old certificate stays valid");
	cr_assert_str_eq(record_of(old).renewed_from, "");
	cr_assert_str_eq(record_of(rec.serial).renewed_from, old);

	cr_assert_eq(ca_revoke(cadir, old, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(ca_renew(cadir, old, NULL, 0, in_tmp("jane3", out), NULL, err, sizeof(err)),
	             -1);
	cr_assert(strstr(err, "revoked") != NULL, "err: %s", err);
}

Test(ca, renewing_a_signed_request_needs_a_matching_new_request)
{
	char out[256], csr[PATH_MAX], old[64];
	struct ca_record rec;

	make_ca();
	cr_assert_eq(csr_make("north", "Ann", in_tmp("ann", out), err, sizeof(err)), 0, "%s", err);
	snprintf(csr, sizeof(csr), "%s.csr", out);
	cr_assert_eq(ca_sign(cadir, csr, "north", 0, out, &rec, err, sizeof(err)), 0, "%s", err);
	snprintf(old, sizeof(old), "%s", rec.serial);

	cr_assert_eq(ca_renew(cadir, old, NULL, 0, in_tmp("ann2", out), NULL, err, sizeof(err)),
	             -1);
	cr_assert(strstr(err, "--csr") != NULL, "err: %s", err);
	cr_assert_eq(csr_make("north", "Someone Else", in_tmp("other", out), err, sizeof(err)), 0);
	snprintf(csr, sizeof(csr), "%s.csr", out);
	cr_assert_eq(ca_renew(cadir, old, csr, 0, in_tmp("ann2", out), NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "Someone Else") != NULL && strstr(err, "\"Ann\"") != NULL, "err: %s",
	          err);

	cr_assert_eq(csr_make("north", "Ann", in_tmp("ann2", out), err, sizeof(err)), 0, "%s", err);
	snprintf(csr, sizeof(csr), "%s.csr", out);
	cr_assert_eq(ca_renew(cadir, old, csr, 0, out, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(rec.renewed_from, old);
	cr_assert_str_eq(rec.key_origin, "csr");
	cr_assert(cert_matches_key(out, out), "the renewal carries the partner's new key");
	cr_assert_eq(verify_named("ann2"), X509_V_OK);
	cr_assert_eq(verify_named("ann"), X509_V_OK, "the old certificate stays valid");
}

Test(ca, renewing_a_server_certificate_keeps_its_hosts)
{
	char out[256];
	struct ca_record old, rec;
	char path[PATH_MAX];
	X509 *cert;

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), &old), 0, "%s", err);
	cr_assert_eq(
	    ca_renew(cadir, old.serial, NULL, 0, in_tmp("server2", out), &rec, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_str_eq(rec.hosts, "hub.example.org,127.0.0.1,::1");
	snprintf(path, sizeof(path), "%s.crt", out);
	cert = read_cert(path);
	cr_assert_eq(verify(cert, X509_PURPOSE_SSL_SERVER, 1), X509_V_OK);
	cr_assert_eq(X509_check_ip_asc(cert, "::1", 0), 1);
	X509_free(cert);
}

/* The CA's crl.pem as DER (free with OPENSSL_free), its length in *len. */
static unsigned char *crl_der(int *len)
{
	char path[PATH_MAX];
	X509_CRL *crl;
	unsigned char *der = NULL;

	snprintf(path, sizeof(path), "%s/crl.pem", cadir);
	crl = read_crl(path);
	cr_assert_gt(*len = i2d_X509_CRL(crl, &der), 0);
	X509_CRL_free(crl);
	return der;
}

/* Open a keep for this CA, kept in dir (NULL: memory only). */
static struct crl_keep *keep_open(const char *dir)
{
	char ca[PATH_MAX];
	struct crl_keep *k;

	snprintf(ca, sizeof(ca), "%s/ca.crt", cadir);
	cr_assert_not_null(k = crl_keep_open(ca, dir, err, sizeof(err)), "%s", err);
	return k;
}

/* Offer der to k and return what became of it. */
static enum crl_offer offer_der(struct crl_keep *k, const unsigned char *der, int len)
{
	return crl_keep_offer(k, der, (size_t)len, err, sizeof(err));
}

Test(ca, a_crl_keep_keeps_the_newest_crl_the_ca_signed)
{
	char out[256], state[256], kept[PATH_MAX], desc[128];
	struct ca_record rec;
	struct crl_keep *k;
	unsigned char *one, *two;
	int n1, n2;
	X509 *hub;
	glob_t g;

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), &rec), 0, "%s", err);
	hub = read_cert(strcat(out, ".crt"));
	one = crl_der(&n1);
	cr_assert_eq(ca_revoke(cadir, rec.serial, "keyCompromise", err, sizeof(err)), 0, "%s", err);
	two = crl_der(&n2);

	k = keep_open(in_tmp("state/refex", state));
	cr_assert_eq(offer_der(k, one, n1), CRL_OFFER_KEPT, "%s", err);
	cr_assert_not(crl_keep_revokes(k, hub));
	cr_assert_eq(offer_der(k, two, n2), CRL_OFFER_KEPT, "%s", err);
	cr_assert(crl_keep_revokes(k, hub));
	cr_assert_eq(offer_der(k, one, n1), CRL_OFFER_OLDER, "an older list is ignored");
	cr_assert_eq(offer_der(k, two, n2), CRL_OFFER_OLDER, "the same list is not kept again");
	cr_assert(crl_keep_revokes(k, hub));
	crl_keep_describe(k, desc, sizeof(desc));
	cr_assert(strncmp(desc, "number 2, next update ", 22) == 0, "%s", desc);
	crl_keep_free(k);

	/* Kept on disk, readable by its owner only, for the next run. */
	cr_assert_eq(file_mode(state), 0700);
	k = keep_open(state);
	cr_assert(crl_keep_revokes(k, hub), "the kept CRL was not read back");
	crl_keep_free(k);
	/* One file, named after the CA (its SHA-256 fingerprint), owner-only. */
	snprintf(kept, sizeof(kept), "%s/crl-*.der", state);
	cr_assert_eq(glob(kept, 0, NULL, &g), 0, "nothing kept in %s", state);
	cr_assert_eq(g.gl_pathc, 1);
	cr_assert_eq(strlen(g.gl_pathv[0]), strlen(state) + strlen("/crl-.der") + 64);
	cr_assert_eq(file_mode(g.gl_pathv[0]), 0600);
	globfree(&g);
	OPENSSL_free(one);
	OPENSSL_free(two);
	X509_free(hub);
}

Test(ca, a_crl_keep_ignores_a_crl_the_ca_did_not_sign)
{
	char path[PATH_MAX];
	struct crl_keep *k;
	unsigned char *der, *foreign, junk[] = "not a CRL";
	int n, nf;

	make_ca();
	der = crl_der(&n);
	k = keep_open(NULL);
	der[n - 1] ^= 0x01; /* inside the signature */
	cr_assert_eq(offer_der(k, der, n), CRL_OFFER_BAD);
	der[n - 1] ^= 0x01;
	cr_assert_eq(offer_der(k, junk, (int)sizeof(junk)), CRL_OFFER_BAD);
	cr_assert_eq(crl_keep_offer(k, der, (size_t)n - 1, err, sizeof(err)), CRL_OFFER_BAD);
	/* Another network's CA under the same name. */
	snprintf(cadir, sizeof(cadir), "%s/other", tmp);
	cr_assert_eq(ca_init(cadir, "Test Partnership", err, sizeof(err)), 0, "%s", err);
	foreign = crl_der(&nf);
	cr_assert_eq(offer_der(k, foreign, nf), CRL_OFFER_BAD);
	snprintf(path, sizeof(path), "%s/crl.pem", cadir);
	cr_assert_eq(crl_keep_pin(k, path, err, sizeof(err)), -1);
	cr_assert(strstr(err, "was not signed by the network CA") != NULL, "%s", err);
	cr_assert_eq(offer_der(k, der, n), CRL_OFFER_KEPT, "%s", err);
	crl_keep_free(k);
	OPENSSL_free(der);
	OPENSSL_free(foreign);
}

Test(ca, a_client_guarded_by_the_keep_refuses_a_revoked_hub_before_sending_its_certificate)
{
	char out[256];
	struct ca_record rec;
	SSL_CTX *sctx, *cctx;
	struct crl_keep *k;
	struct pair p;
	unsigned char *der;
	int n;

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), &rec), 0, "%s", err);
	cr_assert_eq(issue_partner("north", "Jane", in_tmp("jane", out), NULL), 0, "%s", err);
	cr_assert_eq(ca_revoke(cadir, rec.serial, "keyCompromise", err, sizeof(err)), 0, "%s", err);
	k = keep_open(NULL);
	der = crl_der(&n);
	cr_assert_eq(offer_der(k, der, n), CRL_OFFER_KEPT, "%s", err);
	contexts("jane", &sctx, &cctx);
	cr_assert_eq(crl_keep_guard(cctx, k), 0);
	talk(&p, sctx, cctx, "127.0.0.1");
	cr_assert_eq(p.c_done, -1);
	cr_assert_eq(SSL_get_verify_result(p.c), X509_V_ERR_CERT_REVOKED);
	cr_assert_null(SSL_get0_peer_certificate(p.s), "the hub got our certificate");
	pair_free(&p);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	crl_keep_free(k);
	OPENSSL_free(der);
}

Test(ca, the_hub_hands_out_the_crl_it_checks_partners_against)
{
	char out[256];
	struct files srv;
	SSL_CTX *ctx;
	unsigned char *want, *got = NULL;
	int n, len;

	make_ca();
	cr_assert_eq(issue_server(in_tmp("server", out), NULL), 0, "%s", err);
	files_of(&srv, "server");
	ctx = tls_server_ctx_new(&(struct tls_paths){srv.crt, srv.key, srv.ca, srv.crl}, err,
	                         sizeof(err));
	cr_assert_not_null(ctx, "%s", err);
	want = crl_der(&n);
	len = crl_keep_ctx_der(ctx, &got);
	cr_assert_eq(len, n);
	cr_assert_eq(memcmp(got, want, (size_t)n), 0);
	OPENSSL_free(got);
	SSL_CTX_free(ctx);
	ctx = tls_server_ctx_new(&(struct tls_paths){srv.crt, srv.key, srv.ca, NULL}, err,
	                         sizeof(err));
	cr_assert_not_null(ctx, "%s", err);
	cr_assert_eq(crl_keep_ctx_der(ctx, &got), 0, "a hub without a CRL sends none");
	SSL_CTX_free(ctx);
	OPENSSL_free(want);
}

/* The CA's crl.pem signed again with the CRL number hex (NULL: none), issued ago seconds
 * before now, as DER (OPENSSL_free). */
static unsigned char *crl_der_numbered(const char *hex, long ago, int *len)
{
	char path[PATH_MAX];
	X509_CRL *crl;
	EVP_PKEY *key;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *n;
	unsigned char *der = NULL;
	ASN1_TIME *t;
	FILE *fp;
	int i;

	snprintf(path, sizeof(path), "%s/crl.pem", cadir);
	crl = read_crl(path);
	cr_assert_not_null(t = X509_time_adj(NULL, -ago, NULL));
	cr_assert_eq(X509_CRL_set1_lastUpdate(crl, t), 1);
	ASN1_TIME_free(t);
	snprintf(path, sizeof(path), "%s/ca.key", cadir);
	cr_assert_not_null(fp = fopen(path, "r"), "%s", path);
	cr_assert_not_null(key = PEM_read_PrivateKey(fp, NULL, NULL, NULL));
	fclose(fp);
	if ((i = X509_CRL_get_ext_by_NID(crl, NID_crl_number, -1)) >= 0) {
		X509_EXTENSION_free(X509_CRL_delete_ext(crl, i));
	}
	if (hex != NULL) {
		cr_assert(BN_hex2bn(&bn, hex) > 0);
		cr_assert_not_null(n = BN_to_ASN1_INTEGER(bn, NULL));
		cr_assert_eq(X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, 0), 1);
		ASN1_INTEGER_free(n);
		BN_free(bn);
	}
	cr_assert_gt(X509_CRL_sign(crl, key, EVP_sha256()), 0);
	cr_assert_gt(*len = i2d_X509_CRL(crl, &der), 0);
	EVP_PKEY_free(key);
	X509_CRL_free(crl);
	return der;
}

Test(ca, a_crl_keep_orders_crl_numbers_of_any_size)
{
	/* RFC 5280 allows CRL numbers of up to 20 octets: a CA may well use large ones. */
	static const char *const numbers[] = {"7FFFFFFFFFFFFFFF", "010000000000000000",
	                                      "010000000000000001", "FFFFFFFFFFFFFFFFFFFFFFFF"};
	unsigned char *der[4], *unnumbered;
	struct crl_keep *k;
	int len[4], n;

	make_ca();
	k = keep_open(NULL);
	unnumbered = crl_der_numbered(NULL, 0, &n);
	cr_assert_eq(offer_der(k, unnumbered, n), CRL_OFFER_KEPT, "%s", err);
	for (int i = 0; i < 4; i++) {
		der[i] = crl_der_numbered(numbers[i], 0, &len[i]);
		cr_assert_eq(offer_der(k, der[i], len[i]), CRL_OFFER_KEPT, "number %s: %s",
		             numbers[i], err);
		for (int j = 0; j <= i; j++) {
			cr_assert_eq(offer_der(k, der[j], len[j]), CRL_OFFER_OLDER,
			             "number %s after %s", numbers[j], numbers[i]);
		}
		cr_assert_eq(offer_der(k, unnumbered, n), CRL_OFFER_OLDER);
	}
	for (int i = 0; i < 4; i++) {
		OPENSSL_free(der[i]);
	}
	OPENSSL_free(unnumbered);
	crl_keep_free(k);
}

Test(ca, a_crl_keep_orders_crls_without_a_number_by_their_date)
{
	/* A CA that numbers no CRL (openssl ca without a crlnumber file): the later one is newer,
	 * or a hub revoked after the first would never be refused. */
	unsigned char *older, *newer;
	struct crl_keep *k;
	int n_older, n_newer;

	make_ca();
	k = keep_open(NULL);
	older = crl_der_numbered(NULL, 3600, &n_older);
	newer = crl_der_numbered(NULL, 60, &n_newer);
	cr_assert_eq(offer_der(k, older, n_older), CRL_OFFER_KEPT, "%s", err);
	cr_assert_eq(offer_der(k, newer, n_newer), CRL_OFFER_KEPT, "%s", err);
	cr_assert_eq(offer_der(k, older, n_older), CRL_OFFER_OLDER);
	cr_assert_eq(offer_der(k, newer, n_newer), CRL_OFFER_OLDER, "the same list again");
	OPENSSL_free(older);
	OPENSSL_free(newer);
	crl_keep_free(k);
}
