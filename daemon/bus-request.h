/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Strict a{sv} readers: every key must be known and of the documented type; the error names the
 * offending key. */

#include <systemd/sd-bus.h>

#include "request.h"

typedef enum BusFieldType {
        BUS_FIELD_STRING, /* s → char** (g_free'd) */
        BUS_FIELD_BOOL,   /* b → bool* */
        BUS_FIELD_UINT32, /* u → uint32_t* */
        BUS_FIELD_INT64,  /* x → int64_t* */
        BUS_FIELD_UINT64, /* t → uint64_t* */
        BUS_FIELD_DOUBLE, /* d → double* */
} BusFieldType;

typedef struct BusField {
        const char *key;
        BusFieldType type;
        size_t offset;      /* of the value in the target struct */
        ssize_t set_offset; /* of a bool "was given" flag, or -1 */
} BusField;

/* Reads an a{sv} into @target using @fields; unknown keys, wrong types and duplicate keys are
 * InvalidArgument errors (@what names the dictionary in messages, e.g. "request"). */
int bus_read_dict(sd_bus_message *m, const BusField *fields, size_t n_fields, void *target, const char *what,
                  sd_bus_error *error);

/* Reads a StartRun request dictionary (model, user_prompt, …, injections a(ss)). */
int bus_read_request(sd_bus_message *m, LabRequest **ret, sd_bus_error *error);
