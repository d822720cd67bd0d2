/* Unknown fields dropped at every depth (pbstrip), and strings checked as text (pbcheck_text). */
#include <criterion/criterion.h>
#include <string.h>

#include "client.pb-c.h"
#include "pbcheck.h"
#include "pbstrip.h"

/* Field 99, length-delimited, "HIDDEN" (protobuf-c keeps the length byte in the data). */
static ProtobufCMessageUnknownField hidden = {.tag = 99,
                                              .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
                                              .len = 7,
                                              .data = (uint8_t *)"\x06HIDDEN"};

Test(pbstrip, unknown_fields_go_at_every_depth_and_known_ones_stay)
{
	Refex__ClientRecord c = REFEX__CLIENT_RECORD__INIT;
	Refex__Address a = REFEX__ADDRESS__INIT;
	Refex__ClientRecord *back;
	uint8_t buf[256], *out;
	size_t n, out_len;

	c.given_name = "Pat";
	c.family_name = "Lee";
	a.town = "Leeds";
	c.address = &a;
	c.base.n_unknown_fields = a.base.n_unknown_fields = 1;
	c.base.unknown_fields = a.base.unknown_fields = &hidden;
	n = refex__client_record__pack(&c, buf);
	cr_assert_not_null(memmem(buf, n, "HIDDEN", 6));
	cr_assert_eq(pbstrip_repack(&refex__client_record__descriptor, buf, n, &out, &out_len), 0);
	cr_expect_null(memmem(out, out_len, "HIDDEN", 6), "an unknown field survived");
	back = refex__client_record__unpack(NULL, out_len, out);
	cr_assert_not_null(back);
	cr_expect_str_eq(back->given_name, "Pat");
	cr_expect_str_eq(back->address->town, "Leeds");
	cr_expect_eq(back->base.n_unknown_fields + back->address->base.n_unknown_fields, 0);
	refex__client_record__free_unpacked(back, NULL);
	free(out);
	cr_expect_eq(pbstrip_repack(&refex__client_record__descriptor, (const uint8_t *)"\x0a\x05P",
	                            3, &out, &out_len),
	             -1, "truncated data was re-encoded");
	cr_expect_null(out);
}

/* Check given_name = name (len bytes) as text; return the problem. */
static enum pbcheck_problem text_of(const char *name, size_t len, struct pbcheck_result *res)
{
	uint8_t buf[64] = {0x0a, (uint8_t)len};

	memcpy(buf + 2, name, len);
	memcpy(buf + 2 + len, "\x12\x01L", 3);
	return pbcheck_text(&refex__client_record__descriptor, buf, len + 5, res);
}

Test(pbstrip, strings_must_be_utf8_without_nul)
{
	static const struct {
		const char *bytes;
		size_t len;
		bool ok;
	} cases[] = {
	    {"Pat", 3, true},
	    {"Zo\xc3\xab", 4, true},       /* ë */
	    {"\xf0\x9f\x98\x80", 4, true}, /* an emoji */
	    {"", 0, true},
	    {"P\0t", 3, false}, /* NUL */
	    {"P\xfft", 3, false},
	    {"\xc0\x80", 2, false},         /* overlong NUL */
	    {"\xed\xa0\x80", 3, false},     /* surrogate */
	    {"\xf4\x90\x80\x80", 4, false}, /* past U+10FFFF */
	    {"\xe2\x82", 2, false},         /* cut short */
	};
	struct pbcheck_result res;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum pbcheck_problem p = text_of(cases[i].bytes, cases[i].len, &res);

		cr_expect_eq(p == PBCHECK_OK, cases[i].ok, "case %zu: %s", i, res.message);
		if (!cases[i].ok) {
			cr_expect_eq(p, PBCHECK_BAD_TEXT, "case %zu", i);
			cr_expect_str_eq(res.path, "givenName", "case %zu", i);
		}
	}
}
