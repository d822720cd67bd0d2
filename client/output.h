/* Output for people: aligned tables, times, state names, refusals; and JSON for scripts. */
#ifndef REFEX_OUTPUT_H
#define REFEX_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "refex.pb-c.h"

struct table;

/* Start a table of ncols columns; headers (ncols strings) may be NULL for none. */
struct table *table_new(size_t ncols, const char *const *headers);

/* Add a row of ncols strings (NULL prints as "-", "" as nothing). Returns 0 or -1. */
int table_add(struct table *t, const char *const *cells);

/* Print the table with columns aligned, each line prefixed by indent. */
void table_print(const struct table *t, FILE *out, const char *indent);

/* Free the table. NULL is fine. */
void table_free(struct table *t);

/* Format unix seconds as local "YYYY-MM-DD HH:MM" into buf ("-" for 0). */
const char *output_time(int64_t t, char *buf, size_t len);

/* Return the lower-case name of a state ("sent", "accepted", ...). */
const char *output_state_name(Refex__State s);

/* Find a state by its lower-case name. Returns 0 or -1. */
int output_state_parse(const char *name, Refex__State *s);

/* The state names, comma-separated, for messages. */
const char *output_state_list(void);

/* Print "refex: <message> (field: <path>)" on stderr for a refusal. */
void output_refusal(const Refex__Status *st);

/* Print json on stdout, indented, keys in order, with a final newline; steals json. */
int output_json(json_t *json);

/* Print msg as canonical JSON (as output_json), with an empty array for the repeated field
 * list_key (NULL: none) when the message has none, so scripts always find it. Returns 0 or
 * -1. */
int output_message_json(const ProtobufCMessage *msg, const char *list_key);

/* Say on stderr that a reply could not be printed (out of memory, or not UTF-8 for JSON). */
void output_print_failure(void);

/* Print s for a terminal: control characters become '?' (data comes from other agencies). */
void output_text(FILE *out, const char *s);

/* Warn on stderr about each of the n clients ids the hub found with the same name and date of
 * birth as the one it stored (never merged); with refer, say to refer one with --client-id. */
void output_warn_duplicates(char *const *ids, size_t n, bool refer);

#endif
