/* Fuzz form validation (proto/form.c, proto/pbcheck.c): the same bytes checked as every
 * registered form, and explained as a Request and a ServerMessage. */
#include <stdint.h>
#include <string.h>

#include "form.h"
#include "fuzz_check.h"
#include "pbcheck.h"
#include "refex.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Check that res holds terminated strings, and a message when there is a problem. */
static void check_result(const struct pbcheck_result *res)
{
	FUZZ_CHECK(strnlen(res->path, sizeof(res->path)) < sizeof(res->path));
	FUZZ_CHECK(strnlen(res->message, sizeof(res->message)) < sizeof(res->message));
	FUZZ_CHECK(res->problem == PBCHECK_OK || res->message[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ProtobufCMessageDescriptor *const wire[] = {
	    &refex__request__descriptor, &refex__server_message__descriptor};
	struct pbcheck_result res;

	if (form_count() == 0) {
		form_set_use(form_set_compiled()); /* the example forms, as refexd loads them */
	}
	for (size_t i = 0; i < form_count(); i++) {
		const struct form *f = form_at(i);
		int rc = form_check(f, data, size, &res);

		check_result(&res);
		if (rc == 0) {
			/* What protobuf-c accepts, the explainer finds nothing wrong with. */
			FUZZ_CHECK(res.problem == PBCHECK_OK);
			FUZZ_CHECK(pbcheck_explain(f->desc, data, size, &res) == PBCHECK_OK);
		} else {
			FUZZ_CHECK(rc == -1 && res.problem != PBCHECK_OK);
			if (res.problem == PBCHECK_MISSING_REQUIRED) {
				FUZZ_CHECK(res.path[0] != '\0');
			}
		}
	}
	for (size_t i = 0; i < sizeof(wire) / sizeof(wire[0]); i++) {
		memset(&res, 0, sizeof(res));
		FUZZ_CHECK(pbcheck_explain(wire[i], data, size, &res) == res.problem);
		check_result(&res);
	}
	return 0;
}
