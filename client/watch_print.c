/* One line per pushed event, for people or as JSON, flushed at once for pipes. */
#include "watch_print.h"

#include <inttypes.h>
#include <stdio.h>

#include "output.h"
#include "pbenum.h"
#include "pbjson.h"

/* Write the lower-case name of an event kind ("submitted", ...) into buf. */
const char *watch_kind_name(Refex__EventKind kind, char *buf, size_t len)
{
	const char *name =
	    kind ? pbenum_name(&refex__event_kind__descriptor, (int)kind, '-', buf, len) : NULL;

	return name ? name : "unknown";
}

/* Print s (from another agency: made harmless), or "-" for none. */
static void text(const char *s)
{
	output_text(stdout, s && *s ? s : "-");
}

/* "  from -> to by agency (holder): reason" for a change. */
static void print_change(const Refex__StatusChange *ch)
{
	if (ch->has_from && ch->from != REFEX__STATE__STATE_UNSPECIFIED) {
		printf("  %s -> %s by ", output_state_name(ch->from), output_state_name(ch->to));
	} else {
		printf("  -> %s by ", output_state_name(ch->to));
	}
	text(ch->agency);
	if (ch->holder && *ch->holder) {
		fputs(" (", stdout);
		text(ch->holder);
		fputc(')', stdout);
	}
	if (ch->reason && *ch->reason) {
		fputs(": ", stdout);
		text(ch->reason);
	}
}

/* Print seq, kind, id, sender -> recipient, form, state and what the kind adds. */
static void print_line(const Refex__Event *ev)
{
	const Refex__Referral *r = ev->referral;
	char when[32], kind[PBENUM_NAME_MAX];

	printf("%" PRIu64 "  %-9s  ", ev->seq, watch_kind_name(ev->kind, kind, sizeof(kind)));
	if (r) {
		text(r->id);
		fputs("  ", stdout);
		text(r->sender);
		fputs(" -> ", stdout);
		text(r->recipient);
		fputs("  ", stdout);
		text(r->form);
		printf("  %s", r->has_state ? output_state_name(r->state) : "-");
	}
	if (ev->kind == REFEX__EVENT_KIND__EVENT_CHANGED && ev->change) {
		print_change(ev->change);
	}
	if (ev->kind == REFEX__EVENT_KIND__EVENT_OVERDUE && r && r->has_due_at) {
		printf("  due by %s", output_time(r->due_at, when, sizeof(when)));
	}
	fputc('\n', stdout);
}

/* Print ev as one compact JSON object and a newline. */
static void print_json_line(const Refex__Event *ev)
{
	json_t *json = pbjson_encode(&ev->base);

	if (!json) {
		output_print_failure();
		return;
	}
	json_dumpf(json, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(json);
}

/* Print ev on one line of stdout and flush. */
int watch_print_event(const Refex__Event *ev, int json)
{
	if (json) {
		print_json_line(ev);
	} else {
		print_line(ev);
	}
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}
