/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Generic conversion between JSON objects and D-Bus a{sv} dictionaries.
 *
 * JSON → D-Bus: string → s, integer → x, real → d, boolean → b, object → a{sv}, array of objects
 * → aa{sv}, array of strings → as, any other array → av. JSON null members are left out: a
 * missing key in an a{sv} means "not applicable".
 *
 * D-Bus → JSON: every basic type maps to its JSON counterpart (unsigned/signed integers to
 * integers, o/g to strings, h is rejected), a{sv} and a{s*} to objects, other arrays and
 * structs to arrays, variants are unwrapped. */

#include <jansson.h>
#include <systemd/sd-bus.h>

#include "json-util.h"

/* Appends @obj (a JSON object, or NULL for an empty dict) as a{sv}. */
int bus_message_append_json_dict(sd_bus_message *m, json_t *obj);
/* Appends a JSON array of objects as aa{sv}. */
int bus_message_append_json_dict_array(sd_bus_message *m, json_t *array);

/* Reads the next complete value (any type) from @m into a new JSON value. */
int bus_message_read_json(sd_bus_message *m, json_t **ret);
