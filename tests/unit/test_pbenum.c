/* Enum value names for people, read from the protobuf-c descriptors (proto/pbenum.c): the
 * spellings refex and refexd always showed and accepted stay the same. */
#include <criterion/criterion.h>
#include <string.h>

#include "client.pb-c.h"
#include "pbenum.h"
#include "refex.pb-c.h"

Test(pbenum, state_names_are_the_ones_users_know)
{
	static const char *const names[] = {"unknown",  "sent",      "received", "accepted",
	                                    "declined", "completed", "withdrawn"};
	char list[256];

	for (int s = 0; s < 7; s++) {
		cr_expect_str_eq(pbenum_state_name((Refex__State)s), names[s]);
	}
	cr_expect_str_eq(pbenum_state_name((Refex__State)42), "unknown");
	cr_expect_str_eq(pbenum_state_name((Refex__State)-1), "unknown");
	cr_expect_str_eq(pbenum_list(&refex__state__descriptor, '-', list, sizeof(list)),
	                 "sent, received, accepted, declined, completed, withdrawn");
}

Test(pbenum, a_name_reads_back_as_its_value_and_zero_never_does)
{
	int v = -1;

	cr_expect_eq(pbenum_parse(&refex__state__descriptor, "withdrawn", '-', &v), 0);
	cr_expect_eq(v, REFEX__STATE__STATE_WITHDRAWN);
	cr_expect_eq(pbenum_parse(&refex__state__descriptor, "unspecified", '-', &v), -1);
	cr_expect_eq(pbenum_parse(&refex__state__descriptor, "SENT", '-', &v), -1);
	cr_expect_eq(pbenum_parse(&refex__state__descriptor, "", '-', &v), -1);
	cr_expect_eq(pbenum_parse(&refex__lawful_basis__descriptor, "legal-obligation", '-', &v),
	             0);
	cr_expect_eq(v, REFEX__LAWFUL_BASIS__BASIS_LEGAL_OBLIGATION);
	cr_expect_eq(pbenum_parse(&refex__lawful_basis__descriptor, "legal_obligation", '-', &v),
	             -1);
}

Test(pbenum, the_prefix_the_values_share_is_left_out_and_underscores_become_sep)
{
	char buf[PBENUM_NAME_MAX], list[256];

	cr_expect_str_eq(pbenum_name(&refex__lawful_basis__descriptor,
	                             REFEX__LAWFUL_BASIS__BASIS_VITAL_INTERESTS, ' ', buf,
	                             sizeof(buf)),
	                 "vital interests");
	cr_expect_str_eq(pbenum_list(&refex__lawful_basis__descriptor, '-', list, sizeof(list)),
	                 "consent, safeguarding, legal-obligation, vital-interests");
	/* CONSENT_METHOD_UNSPECIFIED and CONSENT_VERBAL share "CONSENT_". */
	cr_expect_str_eq(pbenum_name(&refex__consent_method__descriptor,
	                             REFEX__CONSENT_METHOD__CONSENT_VERBAL, '-', buf, sizeof(buf)),
	                 "verbal");
	cr_expect_null(pbenum_name(&refex__consent_method__descriptor, 99, '-', buf, sizeof(buf)));
	/* A short buffer is cut, never overrun. */
	cr_expect_str_eq(
	    pbenum_name(&refex__state__descriptor, REFEX__STATE__STATE_COMPLETED, '-', buf, 5),
	    "comp");
}
