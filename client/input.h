/* Reading the user's JSON files as protobuf messages. */
#ifndef REFEX_INPUT_H
#define REFEX_INPUT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

/* Read the JSON file at path and decode it as desc; on a problem say on stderr what (naming
 * the file, and the line or field) and return NULL. Free with
 * protobuf_c_message_free_unpacked(msg, NULL). */
ProtobufCMessage *input_load_message(const char *path, const ProtobufCMessageDescriptor *desc);

/* Like input_load_message; partial: the message may lack required fields (form answers the hub
 * fills in). */
ProtobufCMessage *input_load_json(const char *path, const ProtobufCMessageDescriptor *desc,
                                  bool partial);

#endif
