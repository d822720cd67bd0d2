/* Revocation that takes effect: SIGHUP reloads the CA and CRL without dropping anyone else,
 * closes the revoked holder's open connection and refuses its new ones. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct net *net;
static const char *alice, *bob;

static void setup(void)
{
	net = net_new();
	alice = net_issue(net, "north-advice", "Alice Smith");
	bob = net_issue(net, "north-advice", "Bob Jones");
	net_must_start(net);
}

static void teardown(void)
{
	net_teardown(net);
	net = NULL;
}

TestSuite(reload, .init = setup, .fini = teardown, .timeout = 120);

/* Return the serial of the certificate issued to holder (from refex-ca list --json). */
static char *serial_of(const char *holder)
{
	struct run_result r;
	json_t *root, *list, *rec;
	char *serial = NULL;
	size_t i;

	cr_assert_eq(run_refex_ca(&r, "list", "--dir", net->ca_dir, "--json", NULL), 0, "%s",
	             r.err);
	root = list = run_json(&r);
	cr_assert_not_null(list, "refex-ca list --json printed no JSON: %s", r.out);
	if (json_is_object(list)) {
		list = json_object_get(list, "certificates");
	}
	json_array_foreach(list, i, rec)
	{
		const char *h = json_string_value(json_object_get(rec, "holder"));

		if (h && strcmp(h, holder) == 0) {
			serial = strdup(json_string_value(json_object_get(rec, "serial")));
		}
	}
	json_decref(root);
	run_result_free(&r);
	cr_assert_not_null(serial, "no certificate for %s", holder);
	return serial;
}

static void revoke_serial(const char *serial)
{
	struct run_result r;

	cr_assert_eq(run_refex_ca(&r, "revoke", "--dir", net->ca_dir, "--serial", serial,
	                          "--reason", "affiliationChanged", NULL),
	             0, "%s", r.err);
	run_result_free(&r);
}

/* Say whether an open connection still gets answers. */
static bool answers(struct raw *c)
{
	return raw_list_forms(c, 77) > 0;
}

Test(reload, a_revoked_holder_is_cut_off_while_a_colleague_carries_on)
{
	struct raw *a = raw_connect(net, alice, NULL), *b = raw_connect(net, bob, NULL), *again;
	char *serial = serial_of("Alice Smith");

	cr_assert(a && b && raw_hello(a) == 0 && raw_hello(b) == 0, "both holders connect");
	revoke_serial(serial);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_expect(raw_wait_closed(a, HARNESS_READ_TIMEOUT_MS),
	          "the revoked holder's open connection is closed on reload");
	cr_expect(answers(b), "the colleague's connection of the same agency stays up");
	again = raw_connect(net, alice, NULL);
	cr_expect(again == NULL || (raw_hello(again) != 0 && raw_wait_closed(again, 10000)),
	          "a new connection with the revoked certificate is refused");
	cr_expect(net_log_wait(net, "certificate no longer accepted"));
	cr_expect(net_log_wait(net, serial), "the log names the revoked certificate's serial");
	cr_expect(net_log_wait(
	              net, "msg=\"handshake refused\" reason=\"the certificate has been revoked\" "
	                   "serial="),
	          "the refused handshake is logged with its reason and the certificate's serial");
	raw_free(again);
	raw_free(a);
	raw_free(b);
	free(serial);
	net_expect_clean_stop(net);
}

Test(reload, a_broken_crl_is_refused_and_the_old_one_stays_in_force)
{
	struct raw *b = raw_connect(net, bob, NULL), *fresh;
	char path[NET_PATH_MAX + 16];
	FILE *f;

	cr_assert(b && raw_hello(b) == 0);
	snprintf(path, sizeof(path), "%s/crl.pem", net->ca_dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n", f);
	fclose(f);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_expect(net_log_wait(net, "reload refused"),
	          "the bad CRL is refused with a logged reason");
	cr_expect(answers(b), "open connections carry on");
	fresh = raw_connect(net, alice, NULL);
	cr_expect(fresh && raw_hello(fresh) == 0, "new connections still get in");
	raw_free(fresh);
	raw_free(b);
	net_expect_clean_stop(net);
}

Test(reload, a_server_certificate_near_its_end_is_warned_about)
{
	char crt[NET_PATH_MAX + 16], key[NET_PATH_MAX + 16], prefix[NET_PATH_MAX + 16];
	struct run_result r;

	cr_assert_eq(net_stop(net), 0);
	snprintf(crt, sizeof(crt), "%s/server.crt", net->dir);
	snprintf(key, sizeof(key), "%s/server.key", net->dir);
	snprintf(prefix, sizeof(prefix), "%s/server", net->dir);
	cr_assert_eq(unlink(crt) | unlink(key), 0);
	cr_assert_eq(run_refex_ca(&r, "server", "--dir", net->ca_dir, "--host", "127.0.0.1",
	                          "--out", prefix, "--days", "10", NULL),
	             0, "%s", r.err);
	run_result_free(&r);
	net_must_start(net);
	cr_expect(net_log_wait(net, "msg=\"server certificate expires soon\" days_left="),
	          "refexd warns at start about its own certificate");
	net_expect_clean_stop(net);
}
