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
	char *serial = net_serial_of(net, "Alice Smith");

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

Test(reload, a_handshake_finished_after_a_revoking_reload_is_refused)
{
	char *serial = net_serial_of(net, "Alice Smith");
	char line[256];
	struct raw *a, *b;

	/* Room for the revocation and reload inside the handshake deadline, however slow. */
	cr_assert_eq(net_stop(net), 0);
	cr_assert_eq(net_write_config(net, NET_DEFAULT_AGENCIES "\n[limits]\n"
	                                                        "handshake_timeout = 300\n"),
	             0);
	net_must_start(net);
	/* Both handshakes verified under the old CRL, only Finished still to come. */
	a = raw_connect_holding_finished(net, alice);
	b = raw_connect_holding_finished(net, bob);
	cr_assert(a && b, "both holders start their handshake");
	revoke_serial(serial);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
	cr_assert(net_log_wait(net, "msg=reloaded"));
	cr_assert(raw_release_finished(a) == 0 && raw_release_finished(b) == 0);
	cr_expect(raw_hello(a) != 0 && raw_wait_closed(a, HARNESS_READ_TIMEOUT_MS),
	          "the revoked holder is not let in by finishing its handshake after the reload");
	cr_expect(raw_hello(b) == 0, "a colleague finishing after the same reload gets in");
	snprintf(line, sizeof(line),
	         "msg=\"handshake refused\" reason=\"the certificate has been revoked\" "
	         "agency=north-advice serial=%s",
	         serial);
	cr_expect(net_log_wait(net, line), "the refusal is logged with the reason and serial");
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
	cr_expect(net_log_wait(net, "msg=reload-refused reason="),
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

#define TWO_AGENCIES                                                                               \
	"[agency north-advice]\n"                                                                  \
	"name = North Advice Centre\n"                                                             \
	"accepts = food_support, debt_advice\n"                                                    \
	"\n"                                                                                       \
	"[agency eastside-housing]\n"                                                              \
	"name = Eastside Housing Trust\n"                                                          \
	"accepts = housing_support\n"

/* Rewrite refexd's config with extra after [server] and send SIGHUP. */
static void reload_with(const char *extra)
{
	cr_assert_eq(net_write_config(net, extra), 0);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
}

/* Say whether the hub's partner list (asked on c) names agency, and whether it accepts form. */
static bool partner_accepts(struct raw *c, const char *agency, const char *form, bool *listed)
{
	Refex__Request req = REFEX__REQUEST__INIT;
	Refex__ListPartners lp = REFEX__LIST_PARTNERS__INIT;
	Refex__ServerMessage *m;
	bool accepts = false;

	*listed = false;
	req.has_id = 1;
	req.id = 55;
	req.body_case = REFEX__REQUEST__BODY_LIST_PARTNERS;
	req.list_partners = &lp;
	cr_assert_not_null(m = raw_call(c, &req));
	cr_assert_not_null(m->response->partners, "no partner list");
	for (size_t i = 0; i < m->response->partners->n_partners; i++) {
		Refex__Partner *p = m->response->partners->partners[i];

		if (strcmp(p->id, agency) != 0) {
			continue;
		}
		*listed = true;
		for (size_t f = 0; f < p->n_forms; f++) {
			accepts = accepts || strcmp(p->forms[f], form) == 0;
		}
	}
	refex__server_message__free_unpacked(m, NULL);
	return accepts;
}

/* Say whether a new connection with the certificate prefix is refused. */
static bool refused(const char *prefix)
{
	struct raw *c = raw_connect(net, prefix, NULL);
	bool no = c == NULL || (raw_hello(c) != 0 && raw_wait_closed(c, HARNESS_READ_TIMEOUT_MS));

	raw_free(c);
	return no;
}

Test(reload, a_broken_config_is_refused_and_the_old_one_stays_in_force)
{
	struct raw *b = raw_connect(net, bob, NULL);
	const char *west = net_issue(net, "west-health", "Wendy");
	char *log;
	bool listed;

	cr_assert(b && raw_hello(b) == 0);
	reload_with(NET_DEFAULT_AGENCIES "\n[agency west-health]\naccepts = pizza\n");
	cr_assert(net_log_wait(net, "msg=reload-refused reason="));
	log = net_read_log(net);
	cr_expect(strstr(log, "unknown form 'pizza'") != NULL, "the log names the problem:\n%s",
	          log);
	cr_expect(strstr(log, "msg=reloaded") == NULL, "nothing was reloaded:\n%s", log);
	free(log);
	cr_expect(answers(b), "open connections carry on");
	cr_expect(partner_accepts(b, "third-party", "food_support", &listed) && listed,
	          "the old partnership is still in force");
	cr_expect(refused(west), "the agency the broken file would add is not let in");
	raw_free(b);
	net_expect_clean_stop(net);
}

/* Rewrite refexd's config as the default one listening on listen, and send SIGHUP. */
static void reload_listening_on(const char *listen)
{
	char text[2048];
	char *path;

	/* The net's own database (a PostgreSQL URL there): changing it needs a restart. */
	snprintf(text, sizeof(text),
	         "[server]\nlisten = %s\ncertificate = server.crt\nkey = server.key\n"
	         "ca = ca/ca.crt\ncrl = ca/crl.pem\ndatabase = %s\n\n%s",
	         listen, net->database, NET_DEFAULT_AGENCIES);
	cr_assert_not_null(path = net_write_file(net, "refexd.conf", text));
	free(path);
	cr_assert_eq(kill(net->pid, SIGHUP), 0);
}

Test(reload, a_changed_listen_address_needs_a_restart)
{
	struct raw *b = raw_connect(net, bob, NULL);

	cr_assert(b && raw_hello(b) == 0);
	reload_listening_on("127.0.0.2:0");
	cr_expect(net_log_wait(net, "msg=reload-refused reason=\"restart refexd to change "
	                            "[server] listen\""),
	          "the log says a restart is needed");
	cr_expect(answers(b), "open connections carry on");
	raw_free(b);
	net_expect_clean_stop(net);
}

Test(reload, port_0_edited_to_the_port_picked_is_no_change_of_listen)
{
	struct raw *a = raw_connect(net, alice, NULL);
	char *serial = net_serial_of(net, "Alice Smith");
	char listen[32];

	cr_assert(a && raw_hello(a) == 0);
	/* The demo's config said port 0; its admin wrote in the port refexd picked. */
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", net->port);
	revoke_serial(serial);
	reload_listening_on(listen);
	cr_expect(net_log_wait(net, "msg=reloaded"), "the new CRL is taken");
	cr_expect(raw_wait_closed(a, HARNESS_READ_TIMEOUT_MS), "and the revoked holder cut off");
	/* Another port is still a change. */
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", net->port == 65535 ? 1 : net->port + 1);
	reload_listening_on(listen);
	cr_expect(net_log_wait(net, "msg=reload-refused reason=\"restart refexd to change "
	                            "[server] listen\""));
	raw_free(a);
	free(serial);
	net_expect_clean_stop(net);
}

Test(reload, an_added_agency_gets_in_without_a_restart)
{
	const char *west = net_issue(net, "west-health", "Wendy");
	struct raw *a = raw_connect(net, alice, NULL), *w;
	bool listed;

	cr_assert(a && raw_hello(a) == 0);
	cr_assert(refused(west), "not a partner yet");
	reload_with(NET_DEFAULT_AGENCIES "\n[agency west-health]\nname = West Health\n"
	                                 "accepts = debt_advice\n");
	cr_assert(net_log_wait(net, "msg=reloaded agencies=4"));
	w = raw_connect(net, west, NULL);
	cr_expect(w && raw_hello(w) == 0, "the new partner's certificate gets in");
	cr_expect(partner_accepts(a, "west-health", "debt_advice", &listed) && listed,
	          "partners connected before the reload see the new agency");
	cr_expect(answers(a));
	raw_free(w);
	raw_free(a);
	net_expect_clean_stop(net);
}

Test(reload, a_removed_agency_is_cut_off_and_refused)
{
	const char *third = net_issue(net, "third-party", "Tess");
	struct raw *t = raw_connect(net, third, NULL), *a = raw_connect(net, alice, NULL);
	bool listed;

	cr_assert(t && a && raw_hello(t) == 0 && raw_hello(a) == 0);
	reload_with(TWO_AGENCIES);
	cr_assert(net_log_wait(net, "msg=reloaded agencies=2"));
	cr_expect(raw_wait_closed(t, HARNESS_READ_TIMEOUT_MS),
	          "the removed agency's open connection is closed");
	cr_expect(net_log_wait(net, "msg=\"agency no longer a partner\" agency=third-party"),
	          "the log names the connection's agency and why it was closed");
	cr_expect(answers(a), "the other partners carry on");
	cr_expect(!partner_accepts(a, "third-party", "food_support", &listed) && !listed);
	cr_expect(refused(third), "a new connection of the removed agency is refused");
	raw_free(t);
	raw_free(a);
	net_expect_clean_stop(net);
}

Test(reload, changed_accepts_take_effect_on_open_connections)
{
	struct raw *a = raw_connect(net, alice, NULL);
	bool listed;

	cr_assert(a && raw_hello(a) == 0);
	cr_assert(!partner_accepts(a, "eastside-housing", "food_support", &listed) && listed);
	reload_with("[agency north-advice]\naccepts = food_support, debt_advice\n\n"
	            "[agency eastside-housing]\naccepts = housing_support, food_support\n\n"
	            "[agency third-party]\naccepts = food_support\n");
	cr_assert(net_log_wait(net, "msg=reloaded agencies=3"));
	cr_expect(partner_accepts(a, "eastside-housing", "food_support", &listed),
	          "eastside-housing now receives food_support referrals");
	raw_free(a);
	net_expect_clean_stop(net);
}

Test(reload, events_reach_the_right_agency_after_its_index_moved)
{
	const char *east = net_issue(net, "eastside-housing", "Erin");
	struct raw *e = raw_connect(net, east, NULL);
	Refex__ServerMessage *m;
	char id[REFEX_ID_LEN + 1];

	cr_assert(e && raw_hello(e) == 0 && raw_watch(e, -1) == 0);
	/* A new agency first in the file: every other agency's index moves up by one. */
	reload_with("[agency aardvark-aid]\naccepts = food_support\n\n" NET_DEFAULT_AGENCIES);
	cr_assert(net_log_wait(net, "msg=reloaded agencies=4"));
	submit_housing(net, alice, FIXTURE("housing.json"), id);
	m = raw_read_message(e, HARNESS_READ_TIMEOUT_MS);
	cr_assert(m && m->body_case == REFEX__SERVER_MESSAGE__BODY_EVENT,
	          "eastside-housing's open connection is told of the new referral");
	cr_expect_str_eq(m->event->referral->id, id);
	refex__server_message__free_unpacked(m, NULL);
	raw_free(e);
	net_expect_clean_stop(net);
}
