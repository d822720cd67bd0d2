/* Fuzz the configuration parser (daemon/config.c): the input is the whole INI file. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "form.h"
#include "fuzz_check.h"
#include "fuzz_tmp.h"
#include "identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"refexd.ini", NULL};
static char path[1024];

/* Check what config_load promises of a configuration it accepted, and config_check_forms of
 * its forms (against the compiled-in forms here; the hub's come from cfg->forms_dir). */
static void check_config(const struct config *cfg)
{
	char err[512];
	int forms_ok = config_check_forms(cfg, NULL, err, sizeof(err)) == 0;

	FUZZ_CHECK(cfg->listen_host && cfg->listen_port && cfg->cert && cfg->key && cfg->ca &&
	           cfg->database && cfg->forms_dir);
	FUZZ_CHECK(cfg->n_agencies > 0);
	FUZZ_CHECK(cfg->limits.page_size <= cfg->limits.max_page_size);
	FUZZ_CHECK(cfg->limits.max_handshakes_per_address <= cfg->limits.max_handshakes);
	for (size_t i = 0; i < cfg->n_agencies; i++) {
		const struct agency *a = &cfg->agencies[i];

		FUZZ_CHECK(identity_agency_is_valid(a->id) && a->name != NULL);
		FUZZ_CHECK(config_agency_index(cfg, a->id) == (int)i);
		for (size_t j = 0; j < a->n_accepts; j++) {
			FUZZ_CHECK(!forms_ok || form_find(a->accepts[j]) != NULL);
			FUZZ_CHECK(agency_accepts(a, a->accepts[j]));
		}
	}
	for (size_t i = 0; i < cfg->n_forms; i++) {
		FUZZ_CHECK(!forms_ok || form_find(cfg->forms[i].form) != NULL);
		FUZZ_CHECK(cfg->forms[i].acknowledge_within >= 0);
		FUZZ_CHECK(config_acknowledge_within(cfg, cfg->forms[i].form) ==
		           cfg->forms[i].acknowledge_within);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct config *cfg;
	FILE *f;

	if (path[0] == '\0') {
		const char *dir = fuzz_tmpdir(names);

		form_set_use(form_set_compiled());

		FUZZ_CHECK(dir != NULL);
		snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	}
	FUZZ_CHECK((f = fopen(path, "w")) != NULL);
	FUZZ_CHECK(fwrite(data, 1, size, f) == size);
	FUZZ_CHECK(fclose(f) == 0);
	err[0] = '\0';
	cfg = config_load(path, err, sizeof(err));
	FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err));
	if (cfg == NULL) {
		FUZZ_CHECK(err[0] != '\0'); /* a refusal always says why */
		return 0;
	}
	check_config(cfg);
	config_free(cfg);
	return 0;
}
