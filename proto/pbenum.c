/* Enum value names for people, from the protobuf-c enum descriptors. */
#include "pbenum.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define N_STATES 8 /* room for every value of State */

static char state_names[N_STATES][PBENUM_NAME_MAX];
static pthread_once_t state_names_once = PTHREAD_ONCE_INIT;

/* Return the length of the prefix every value name of d shares, up to its last '_'. */
static size_t shared_prefix(const ProtobufCEnumDescriptor *d)
{
	const char *first = d->n_values ? d->values[0].name : "";
	size_t n = strlen(first);

	for (unsigned i = 1; i < d->n_values; i++) {
		size_t k = 0;

		while (k < n && first[k] == d->values[i].name[k]) {
			k++;
		}
		n = k;
	}
	while (n > 0 && first[n - 1] != '_') {
		n--;
	}
	return n;
}

/* Write ev's name for people into buf. */
static const char *write_name(const ProtobufCEnumDescriptor *d, const ProtobufCEnumValue *ev,
                              char sep, char *buf, size_t len)
{
	const char *s = ev->name + shared_prefix(d);
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++) {
		buf[i] = s[i] == '_' ? sep : (char)tolower((unsigned char)s[i]);
	}
	if (len > 0) {
		buf[i] = '\0';
	}
	return buf;
}

/* Write value's name into buf. */
const char *pbenum_name(const ProtobufCEnumDescriptor *d, int value, char sep, char *buf,
                        size_t len)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, value);

	return ev ? write_name(d, ev, sep, buf, len) : NULL;
}

/* Find the non-zero value called name. */
int pbenum_parse(const ProtobufCEnumDescriptor *d, const char *name, char sep, int *value)
{
	char buf[PBENUM_NAME_MAX];

	for (unsigned i = 0; i < d->n_values; i++) {
		if (d->values[i].value != 0 &&
		    strcmp(write_name(d, &d->values[i], sep, buf, sizeof(buf)), name) == 0) {
			*value = d->values[i].value;
			return 0;
		}
	}
	return -1;
}

/* Write the names of the non-zero values, comma-separated. */
const char *pbenum_list(const ProtobufCEnumDescriptor *d, char sep, char *buf, size_t len)
{
	char name[PBENUM_NAME_MAX];
	size_t used = 0;

	if (len > 0) {
		buf[0] = '\0';
	}
	for (unsigned i = 0; i < d->n_values && used < len; i++) {
		if (d->values[i].value == 0) {
			continue;
		}
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
		                         write_name(d, &d->values[i], sep, name, sizeof(name)));
	}
	return buf;
}

/* Fill state_names from the descriptor, indexed by value; not set (0) is "unknown". */
static void read_state_names(void)
{
	for (int v = 0; v < N_STATES; v++) {
		if (v == 0 || !pbenum_name(&refex__state__descriptor, v, '-', state_names[v],
		                           sizeof(state_names[v]))) {
			snprintf(state_names[v], sizeof(state_names[v]), "unknown");
		}
	}
}

/* Return a referral state's name, or "unknown". */
const char *pbenum_state_name(Refex__State s)
{
	pthread_once(&state_names_once, read_state_names);
	return (int)s >= 0 && (int)s < N_STATES ? state_names[s] : "unknown";
}
