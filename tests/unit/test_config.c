/* refexd's configuration: good files load, bad ones are refused naming the line and the problem. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "form.h"

static char dir[] = "/tmp/refex-config-XXXXXX";
static char path[512];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/refexd.ini", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

static struct config *load(const char *text, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	return config_load(path, err, errlen);
}

#define SERVER                                                                                     \
	"[server]\nlisten = 127.0.0.1:0\ncertificate = server.crt\nkey = /etc/refex/server.key\n"  \
	"ca = ca/ca.crt\ndatabase = refex.db\n"

TestSuite(config, .init = setup, .fini = teardown);

Test(config, loads_a_whole_file)
{
	char err[512], want[600];
	struct config *cfg =
	    load(SERVER "log_level = debug\n[limits]\nmax_frame = 65536\n"
	                "[agency north-advice]\nname = North Advice\naccepts = food_support, "
	                "debt_advice\n[agency eastside-housing]\naccepts = housing_support\n",
	         err, sizeof(err));

	cr_assert_not_null(cfg, "%s", err);
	cr_expect_str_eq(cfg->listen_host, "127.0.0.1");
	cr_expect_str_eq(cfg->listen_port, "0");
	snprintf(want, sizeof(want), "%s/server.crt", dir);
	cr_expect_str_eq(cfg->cert, want, "relative paths are relative to the config file");
	cr_expect_str_eq(cfg->key, "/etc/refex/server.key");
	cr_expect_null(cfg->crl);
	cr_expect_eq(cfg->limits.max_frame, 65536);
	cr_expect_eq(cfg->limits.idle_timeout, 300, "defaults apply");
	cr_expect_eq(cfg->limits.max_handshakes, 1000);
	cr_expect_eq(cfg->limits.max_handshakes_per_address, 100);
	cr_expect_eq(cfg->n_agencies, 2);
	cr_expect_str_eq(config_agency(cfg, "north-advice")->name, "North Advice");
	cr_expect_str_eq(config_agency(cfg, "eastside-housing")->name, "eastside-housing");
	cr_expect(agency_accepts(config_agency(cfg, "north-advice"), "debt_advice"));
	cr_expect_not(agency_accepts(config_agency(cfg, "north-advice"), "housing_support"));
	cr_expect_null(config_agency(cfg, "nobody"));
	config_free(cfg);
}

struct bad {
	const char *text;
	const char *expect;
};

Test(config, refuses_bad_files_with_reasons)
{
	static const struct bad cases[] = {
	    {SERVER "[agency Bad_Id]\n", "agency id"},
	    {SERVER "colour = blue\n[agency a]\n", "unknown key \"colour\""},
	    {SERVER "[limits]\nmax_frame = lots\n[agency a]\n", "max_frame"},
	    {SERVER "[limits]\nidle_timeout = -5\n[agency a]\n", "idle_timeout"},
	    {SERVER "[limits]\nmax_handshakes = 0\n[agency a]\n", "max_handshakes: expected"},
	    {SERVER "[limits]\nmax_handshakes = 50\nmax_handshakes_per_address = 51\n[agency a]\n",
	     "max_handshakes_per_address (51) exceeds max_handshakes (50)"},
	    {SERVER "[limits]\nmax_handshakes_per_address = 1001\n[agency a]\n",
	     "max_handshakes_per_address (1001) exceeds max_handshakes (1000)"},
	    {SERVER "[weird]\n[agency a]\n", "unknown section"},
	    {SERVER, "no partner agencies"},
	    {"[server]\nlisten = 127.0.0.1:0\n[agency a]\n", "certificate is required"},
	    {"[server]\nlisten = nowhere\n", "listen"},
	    {SERVER "log_level = loud\n[agency a]\n", "log_level"},
	    {SERVER "[agency a]\nname = A\nname = B\n", "\"name\" is set twice in [agency a]"},
	    {SERVER "[agency a]\n[form debt_advice]\nacknowledge_within = 3w\n",
	     "acknowledge_within"},
	    {SERVER "[agency a]\n[form debt_advice]\nacknowledge_within = 0\n",
	     "acknowledge_within"},
	    {SERVER "[agency a]\n[form debt_advice]\nacknowledge_within = -1d\n",
	     "acknowledge_within"},
	    {SERVER "[agency a]\n[form debt_advice]\nacknowledge_within = 99999d\n", "at most"},
	    {SERVER "[agency a]\n[form debt_advice]\ndue = 3d\n", "unknown key \"due\" in [form"},
	    {SERVER "[agency a]\n[retention]\nclosed_referrals = soon\n", "closed_referrals"},
	    {SERVER "[agency a]\n[retention]\nopen_referrals = 3d\n",
	     "unknown key \"open_referrals\""},
	    {SERVER "[agency a]\n[report]\nmin_count = 0\n", "min_count: expected a number"},
	    {SERVER "[agency a]\n[report]\nmin_count = five\n", "min_count: expected a number"},
	    {SERVER "[agency a]\n[report]\npartners_see_network = true\n", "expected yes or no"},
	    {SERVER "[agency a]\n[report]\nmax_count = 5\n",
	     "unknown key \"max_count\" in [report]"},
	};
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg = load(cases[i].text, err, sizeof(err));

		cr_expect_null(cfg, "case %zu should be refused", i);
		cr_expect(strstr(err, cases[i].expect) != NULL, "case %zu: \"%s\" lacks \"%s\"", i,
		          err, cases[i].expect);
		config_free(cfg);
	}
}

/* Forms are checked once the forms directory is loaded: here against the compiled-in ones. */
Test(config, refuses_unknown_forms_naming_section_and_form)
{
	static const struct bad cases[] = {
	    {SERVER "[agency a]\naccepts = pizza\n", "[agency a] accepts: unknown form \"pizza\""},
	    {SERVER "[agency a]\n[form pizza]\n", "[form pizza]: unknown form"},
	};
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg = load(cases[i].text, err, sizeof(err));

		cr_assert_not_null(cfg, "case %zu: %s", i, err);
		cr_expect_eq(config_check_forms(cfg, form_set_compiled(), err, sizeof(err)), -1,
		             "case %zu", i);
		cr_expect(strstr(err, cases[i].expect) != NULL, "case %zu: \"%s\" lacks \"%s\"", i,
		          err, cases[i].expect);
		config_free(cfg);
	}
}

Test(config, names_the_line)
{
	char err[512];
	struct config *cfg = load(SERVER "[agency a]\ncolour = blue\n", err, sizeof(err));

	cr_expect_null(cfg);
	cr_expect(strstr(err, ":8:") != NULL, "error names line 8: %s", err);
}

Test(config, missing_file)
{
	char err[512];
	struct config *cfg = config_load("/nonexistent/refexd.ini", err, sizeof(err));

	cr_expect_null(cfg);
	cr_expect(strstr(err, "cannot open") != NULL, "%s", err);
}

Test(config, an_indented_line_is_its_own_key_not_a_continuation)
{
	char err[512];
	struct config *cfg =
	    load(SERVER "[agency shelter]\nname = Shelter\n    accepts = housing_support\n", err,
	         sizeof(err));

	cr_assert_not_null(cfg, "%s", err);
	cr_expect_str_eq(config_agency(cfg, "shelter")->name, "Shelter");
	cr_expect(agency_accepts(config_agency(cfg, "shelter"), "housing_support"));
	config_free(cfg);
}

Test(config, form_acknowledgement_times)
{
	char err[512];
	struct config *cfg = load(SERVER "[agency a]\n[form debt_advice]\nacknowledge_within = 5\n"
	                                 "[form housing_support]\nacknowledge_within = 36h\n"
	                                 "[form food_support]\nacknowledge_within = 2s\n",
	                          err, sizeof(err));

	cr_assert_not_null(cfg, "%s", err);
	cr_expect_eq(config_acknowledge_within(cfg, "debt_advice"), 5 * 86400,
	             "a bare number is days");
	cr_expect_eq(config_acknowledge_within(cfg, "housing_support"), 36 * 3600);
	cr_expect_eq(config_acknowledge_within(cfg, "food_support"), 2);
	config_free(cfg);
	cfg = load(SERVER "[agency a]\n", err, sizeof(err));
	cr_assert_not_null(cfg, "%s", err);
	cr_expect_eq(config_acknowledge_within(cfg, "debt_advice"), 0, "no section: no due time");
	config_free(cfg);
}

Test(config, metrics_listen_on_loopback_only)
{
	static const struct {
		const char *listen, *host;
		unsigned port;
	} good[] = {
	    {"127.0.0.1:9187", "127.0.0.1", 9187},
	    {"127.9.8.7:0", "127.9.8.7", 0},
	    {"[::1]:9187", "::1", 9187},
	    {"localhost:9187", "localhost", 9187},
	};
	static const struct bad bad[] = {
	    {"0.0.0.0:9187", "loopback only"},
	    {"192.168.1.10:9187", "loopback only"},
	    {"[::]:9187", "loopback only"},
	    {"metrics.example.org:9187", "loopback only"},
	    {"127.0.0.1:65536", "expected HOST:PORT"},
	    {"127.0.0.1", "expected HOST:PORT"},
	};
	char text[512], err[512];
	struct config *cfg;

	cfg = load(SERVER "[agency a]\n", err, sizeof(err));
	cr_assert_not_null(cfg, "%s", err);
	cr_expect_null(cfg->metrics_host, "no [metrics] section, no metrics listener");
	config_free(cfg);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), SERVER "[metrics]\nlisten = %s\n[agency a]\n",
		         good[i].listen);
		cfg = load(text, err, sizeof(err));
		cr_assert_not_null(cfg, "%s: %s", good[i].listen, err);
		cr_expect_str_eq(cfg->metrics_host, good[i].host);
		cr_expect_eq(cfg->metrics_port, good[i].port);
		config_free(cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), SERVER "[metrics]\nlisten = %s\n[agency a]\n",
		         bad[i].text);
		cr_expect_null(cfg = load(text, err, sizeof(err)), "%s was accepted", bad[i].text);
		config_free(cfg);
		cr_expect(strstr(err, bad[i].expect) != NULL && strstr(err, ":8:") != NULL,
		          "%s: %s", bad[i].text, err);
	}
}

Test(config, metrics_section_refuses_unknown_repeated_and_missing_keys)
{
	static const struct bad cases[] = {
	    {SERVER "[metrics]\nlisten = 127.0.0.1:0\npath = /m\n[agency a]\n",
	     "unknown key \"path\" in [metrics]"},
	    {SERVER "[metrics]\nlisten = 127.0.0.1:0\nlisten = 127.0.0.1:1\n[agency a]\n",
	     "\"listen\" is set twice in [metrics]"},
	    {SERVER "[metrics]\n[agency a]\n", "[metrics] listen is required"},
	};
	char err[512];
	struct config *cfg;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_null(cfg = load(cases[i].text, err, sizeof(err)), "case %zu loaded", i);
		config_free(cfg);
		cr_expect(strstr(err, cases[i].expect) != NULL, "case %zu: %s", i, err);
	}
}

Test(config, web_listen_takes_any_address_and_refuses_bad_ones)
{
	static const struct bad cases[] = {
	    {SERVER "[web]\nlisten = 127.0.0.1\n[agency a]\n", "expected HOST:PORT"},
	    {SERVER "[web]\nlisten = 0.0.0.0:70000\n[agency a]\n", "expected HOST:PORT"},
	    {SERVER "[web]\nroot = /srv\n[agency a]\n", "unknown key \"root\" in [web]"},
	    {SERVER "[web]\n[agency a]\n", "[web] listen is required"},
	};
	char err[512];
	struct config *cfg = load(SERVER "[agency a]\n", err, sizeof(err));

	cr_assert_not_null(cfg, "%s", err);
	cr_expect_null(cfg->web_host, "no [web] section, no HTTPS listener");
	config_free(cfg);
	cfg = load(SERVER "[web]\nlisten = 0.0.0.0:8443\n[agency a]\n", err, sizeof(err));
	cr_assert_not_null(cfg, "%s", err);
	cr_expect_str_eq(cfg->web_host, "0.0.0.0");
	cr_expect_str_eq(cfg->web_port, "8443");
	config_free(cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_null(cfg = load(cases[i].text, err, sizeof(err)), "case %zu loaded", i);
		config_free(cfg);
		cr_expect(strstr(err, cases[i].expect) != NULL, "case %zu: %s", i, err);
	}
}

Test(config, report_threshold_and_network_view)
{
	char err[512];
	struct config *cfg = load(SERVER "[agency a]\n", err, sizeof(err));

	cr_assert_not_null(cfg, "%s", err);
	cr_expect_eq(cfg->report_min_count, 5, "5 unless configured");
	cr_expect_not(cfg->report_network, "partners do not see the network view unless allowed");
	config_free(cfg);
	cfg = load(SERVER "[agency a]\n[report]\nmin_count = 10\npartners_see_network = yes\n", err,
	           sizeof(err));
	cr_assert_not_null(cfg, "%s", err);
	cr_expect_eq(cfg->report_min_count, 10);
	cr_expect(cfg->report_network);
	config_free(cfg);
}

Test(config, retention_of_closed_referrals)
{
	char err[512];
	struct config *cfg = load(SERVER "[agency a]\n", err, sizeof(err));

	cr_assert_not_null(cfg, "%s", err);
	cr_expect_eq(cfg->retention_closed, 730LL * 86400, "two years unless configured");
	config_free(cfg);
	cfg = load(SERVER "[agency a]\n[retention]\nclosed_referrals = 90d\n", err, sizeof(err));
	cr_assert_not_null(cfg, "%s", err);
	cr_expect_eq(cfg->retention_closed, 90LL * 86400);
	config_free(cfg);
	cfg = load(SERVER "[agency a]\n[retention]\nclosed_referrals = never\n", err, sizeof(err));
	cr_assert_not_null(cfg, "%s", err);
	cr_expect_eq(cfg->retention_closed, 0, "never: kept for ever");
	config_free(cfg);
}
