/* Partners refuse a hub whose certificate was revoked: the hub hands out the network's CRL,
 * refex keeps the newest it has seen and checks the hub against it on every connection. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "identity.h"
#include "tls.h"

#define REVOKED_TEXT                                                                               \
	"the hub's certificate has been revoked: do not send anything; tell your partnership "     \
	"admin"

static struct net *net;
static const char *ann;

static void setup(void)
{
	net = net_new();
	ann = net_issue(net, "north-advice", "Ann");
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
}

TestSuite(hub_crl, .init = setup, .fini = teardown, .timeout = 120);

/* Run a refex command that must succeed; return its stderr (malloc'd). */
static char *refex_ok(const struct net *n, const char *cmd, const char *cfg)
{
	struct run_result r;
	char *err;

	run_refex(&r, n, ann, cmd, cfg ? "--config" : NULL, cfg, NULL);
	cr_assert_eq(r.status, 0, "refex %s exited %d: %s", cmd, r.status, r.err);
	err = strdup(r.err);
	run_result_free(&r);
	return err;
}

/* Move the net's dir/from.{crt,key} to dir/to.{crt,key}. */
static void move_pair(const struct net *n, const char *from, const char *to)
{
	static const char *const ext[] = {"crt", "key"};
	char a[NET_PATH_MAX + 32], b[NET_PATH_MAX + 32];

	for (size_t i = 0; i < 2; i++) {
		snprintf(a, sizeof(a), "%s/%s.%s", n->dir, from, ext[i]);
		snprintf(b, sizeof(b), "%s/%s.%s", n->dir, to, ext[i]);
		cr_assert_eq(rename(a, b), 0, "cannot move %s to %s", a, b);
	}
}

/* Copy the file dir/from to dir/to. */
static void copy_file(const struct net *n, const char *from, const char *to)
{
	char a[NET_PATH_MAX + 32], b[NET_PATH_MAX + 32];
	struct run_result r;

	snprintf(a, sizeof(a), "%s/%s", n->dir, from);
	snprintf(b, sizeof(b), "%s/%s", n->dir, to);
	cr_assert_eq(run(&r, (char *[]){"/bin/cp", a, b, NULL}, NULL), 0, "cp: %s", r.err);
	run_result_free(&r);
}

/* Run refex-ca with the net's CA directory and expect it to succeed. */
static void ca_do(const char *cmd, const char *a1, const char *a2, const char *a3, const char *a4)
{
	struct run_result r;

	run_refex_ca(&r, cmd, "--dir", net->ca_dir, a1, a2, a3, a4, NULL);
	cr_assert_eq(r.status, 0, "refex-ca %s exited %d: %s", cmd, r.status, r.err);
	run_result_free(&r);
}

/* Revoke the hub's certificate, publishing the CRL (the one from before is left as
 * crl-old.pem), and restart the hub. */
static void revoke_hub_cert(void)
{
	char err[256], path[NET_PATH_MAX + 16];
	struct identity id;
	X509 *hub;

	snprintf(path, sizeof(path), "%s/server.crt", net->dir);
	cr_assert_not_null(hub = tls_read_cert(path, err, sizeof(err)), "%s", err);
	identity_cert_ids(hub, &id);
	X509_free(hub);
	copy_file(net, "ca/crl.pem", "crl-old.pem");
	ca_do("revoke", "--serial", id.serial, "--reason", "keyCompromise");
	net_stop(net);
	net_must_start(net);
}

/* The admin's side of a stolen hub key: revoke the hub's certificate, issue a new one under
 * the same name, and restart the hub with both. The stolen pair is left as stolen.crt and
 * stolen.key, the CRL from before as crl-old.pem. */
static void revoke_hub(void)
{
	char path[NET_PATH_MAX + 16];

	revoke_hub_cert();
	move_pair(net, "server", "stolen");
	snprintf(path, sizeof(path), "%s/server", net->dir);
	ca_do("server", "--host", "127.0.0.1,localhost", "--out", path);
	net_stop(net);
	net_must_start(net);
}

/* Start a second hub on the net's directory, as whoever holds the stolen key would: its
 * certificate and key, the CRL from before the revocation (the newest it can show). In
 * *rogue, a copy of the net that talks to it. */
static void start_rogue(struct net *rogue)
{
	char *path;

	*rogue = *net;
	snprintf(rogue->config, sizeof(rogue->config), "%s/rogue.conf", net->dir);
	snprintf(rogue->log, sizeof(rogue->log), "%s/rogue.log", net->dir);
	rogue->pid = 0;
	path = net_write_file(net, "rogue.conf",
	                      "[server]\n"
	                      "listen = 127.0.0.1:0\n"
	                      "certificate = stolen.crt\n"
	                      "key = stolen.key\n"
	                      "ca = ca/ca.crt\n"
	                      "crl = crl-old.pem\n"
	                      "database = rogue.db\n"
	                      "\n" NET_DEFAULT_AGENCIES);
	cr_assert_not_null(path);
	free(path);
	net_must_start(rogue);
}

/* A refex with another home (HOME): one that has seen nothing yet. */
static void fresh_home(const struct net *n, struct net *fresh, const char *name)
{
	*fresh = *n;
	snprintf(fresh->dir, sizeof(fresh->dir), "%.40s/%.16s", n->dir, name);
	cr_assert_eq(mkdir(fresh->dir, 0700), 0, "cannot make %s", fresh->dir);
}

/* Expect a run of refex CMD (with --config cfg when given) to be refused as revoked. */
static void expect_revoked(const struct net *n, const char *cmd, const char *cfg)
{
	struct run_result r;

	run_refex(&r, n, ann, cmd, cfg ? "--config" : NULL, cfg, NULL);
	cr_expect_eq(r.status, 3, "refex %s against a revoked hub exited %d: %s%s", cmd, r.status,
	             r.out, r.err);
	cr_expect(strstr(r.err, REVOKED_TEXT) != NULL || strstr(r.out, REVOKED_TEXT) != NULL,
	          "refex %s did not say the hub is revoked:\n%s%s", cmd, r.out, r.err);
	run_result_free(&r);
}

Test(hub_crl, refex_that_saw_the_new_crl_refuses_the_rogue_hub)
{
	struct net rogue;
	struct run_result r;
	char *log;

	free(refex_ok(net, "partners", NULL)); /* keeps CRL 1 */
	revoke_hub();
	free(refex_ok(net, "partners", NULL)); /* the real hub's new certificate; keeps CRL 2 */
	start_rogue(&rogue);
	expect_revoked(&rogue, "partners", NULL);
	expect_revoked(&rogue, "inbox", NULL);
	expect_revoked(&rogue, "doctor", NULL);
	/* --json changes what doctor prints, not how it exits. */
	run_refex(&r, &rogue, ann, "doctor", "--json", NULL);
	cr_expect_eq(r.status, 3, "refex doctor --json against a revoked hub exited %d: %s%s",
	             r.status, r.out, r.err);
	cr_expect(strstr(r.out, "\"ok\": false") != NULL && strstr(r.out, REVOKED_TEXT) != NULL,
	          "refex doctor --json said:\n%s", r.out);
	run_result_free(&r);
	run_refex(&r, &rogue, ann, "submit", "--to", "eastside-housing", "--form",
	          "housing_support", "--client", FIXTURE("client.json"), "--data",
	          FIXTURE("housing.json"), "--consent", FIXTURE("consent.json"), NULL);
	cr_expect_eq(r.status, 3, "refex submit to a revoked hub exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, REVOKED_TEXT) != NULL, "refex submit said: %s", r.err);
	run_result_free(&r);
	/* Refused in the handshake: the rogue never saw who was calling, nor any request. */
	net_stop(&rogue);
	log = net_read_log(&rogue);
	cr_expect(strstr(log, "north-advice") == NULL && strstr(log, "type=") == NULL,
	          "the rogue hub learnt something:\n%s", log);
	free(log);
	/* The real hub with its new certificate still works. */
	free(refex_ok(net, "partners", NULL));
}

Test(hub_crl, refex_that_has_not_seen_it_is_the_limit_unless_it_pins_the_crl)
{
	struct net rogue, fresh;
	char *cfg, *text, line[NET_PATH_MAX + 16];

	revoke_hub();
	start_rogue(&rogue);
	/* The limit (README): a refex that never talked to the real hub since the revocation
	 * knows only what the rogue shows it, the CRL from before. */
	fresh_home(&rogue, &fresh, "fresh");
	free(refex_ok(&fresh, "partners", NULL));
	/* A partner who pins the CRL the admin published refuses it. */
	snprintf(line, sizeof(line), "crl = %s/crl.pem\n", net->ca_dir);
	cfg = net_write_file(net, "pinned.conf", line);
	cr_assert_not_null(cfg);
	expect_revoked(&fresh, "partners", cfg);
	/* And keeps it: the pin is no longer needed. */
	expect_revoked(&fresh, "inbox", NULL);
	text = refex_ok(net, "partners", cfg); /* the real hub */
	cr_expect_str_empty(text, "refex warned against the real hub: %s", text);
	free(text);
	free(cfg);
	net_stop(&rogue);
}

Test(hub_crl, hub_handing_out_a_crl_that_revokes_it_is_refused_after_hello)
{
	char *log;
	size_t before;

	free(refex_ok(net, "partners", NULL)); /* keeps CRL 1 */
	revoke_hub_cert();                     /* CRL 2 revokes the hub, which hands it out */
	log = net_read_log(net);
	before = strlen(log);
	free(log);
	expect_revoked(net, "partners", NULL);
	/* CRL 2 came in the Hello reply; nothing was sent after it. */
	log = net_read_log(net);
	cr_expect(strstr(log + before, "type=hello") != NULL &&
	              strstr(log + before, "type=list_partners") == NULL,
	          "refex did not stop after Hello:\n%s", log + before);
	before = strlen(log);
	free(log);
	/* Kept: next time it is refused in the handshake, before Hello. */
	expect_revoked(net, "inbox", NULL);
	log = net_read_log(net);
	cr_expect(strstr(log + before, "type=") == NULL,
	          "refex sent a request to a hub it knows is revoked:\n%s", log + before);
	free(log);
}

/* Return what refex doctor says (stdout) against n, expecting it to pass. */
static char *doctor_says(const struct net *n, const char *cfg)
{
	struct run_result r;
	char *out;

	run_refex(&r, n, ann, "doctor", cfg ? "--config" : NULL, cfg, NULL);
	cr_assert_eq(r.status, 0, "refex doctor exited %d:\n%s%s", r.status, r.out, r.err);
	out = strdup(r.out);
	run_result_free(&r);
	return out;
}

Test(hub_crl, older_crl_from_the_hub_is_ignored)
{
	char *out;

	out = doctor_says(net, NULL);
	cr_expect(strstr(out, "revocation list (number 1,") != NULL, "doctor said:\n%s", out);
	free(out);
	copy_file(net, "ca/crl.pem", "crl-old.pem");
	ca_do("crl", NULL, NULL, NULL, NULL);
	net_stop(net);
	net_must_start(net);
	free(refex_ok(net, "partners", NULL)); /* keeps CRL 2 */
	/* The hub goes back to the old list (a restore from backup, or an impostor). */
	copy_file(net, "crl-old.pem", "ca/crl.pem");
	net_stop(net);
	net_must_start(net);
	out = doctor_says(net, NULL);
	cr_expect(strstr(out, "revocation list (number 2,") != NULL,
	          "refex did not keep the newer CRL; doctor said:\n%s", out);
	free(out);
}

Test(hub_crl, a_crl_reloaded_by_sighup_is_handed_out_at_once)
{
	char *out;

	out = doctor_says(net, NULL);
	cr_expect(strstr(out, "revocation list (number 1,") != NULL, "doctor said:\n%s", out);
	free(out);
	/* The admin re-signs the list in place and reloads the hub: no restart. */
	ca_do("crl", NULL, NULL, NULL, NULL);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded"));
	out = doctor_says(net, NULL);
	cr_expect(strstr(out, "revocation list (number 2,") != NULL,
	          "the hub still handed out the CRL from before the reload; doctor said:\n%s", out);
	free(out);
}

Test(hub_crl, crl_with_a_bad_signature_is_refused)
{
	struct run_result r;
	char line[NET_PATH_MAX + 16], *cfg, *out;

	snprintf(line, sizeof(line), "crl = %s\n", net_sign_crl(net, "forged.pem", 99, 30, true));
	cfg = net_write_file(net, "forged.conf", line);
	cr_assert_not_null(cfg);
	run_refex(&r, net, ann, "partners", "--config", cfg, NULL);
	cr_expect_eq(r.status, 2, "refex with a forged CRL exited %d: %s", r.status, r.err);
	cr_expect(strstr(r.err, "was not signed by the network CA") != NULL, "refex said: %s",
	          r.err);
	run_result_free(&r);
	/* Nothing of it was kept. */
	out = doctor_says(net, NULL);
	cr_expect(strstr(out, "revocation list (number 1,") != NULL, "doctor said:\n%s", out);
	free(out);
	free(cfg);
}

Test(hub_crl, crl_past_its_next_update_warns_and_refex_works)
{
	char line[NET_PATH_MAX + 16], *cfg, *err, *out;

	snprintf(line, sizeof(line), "crl = %s\n", net_sign_crl(net, "stale.pem", 5, -2, false));
	cfg = net_write_file(net, "stale.conf", line);
	cr_assert_not_null(cfg);
	err = refex_ok(net, "partners", cfg);
	cr_expect(strstr(err, "warning: the network's revocation list (CRL) is out of date") !=
	              NULL,
	          "refex did not warn: %s", err);
	free(err);
	/* Kept: the warning stays without the pin, until a newer list comes. */
	err = refex_ok(net, "inbox", NULL);
	cr_expect(strstr(err, "out of date") != NULL, "refex did not warn: %s", err);
	free(err);
	out = doctor_says(net, NULL);
	cr_expect(strstr(out, "warn  hub revocation") != NULL, "doctor said:\n%s", out);
	free(out);
	free(cfg);
}
