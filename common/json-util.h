/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small jansson conveniences shared by llmlabd and llmlabctl. */

#include <jansson.h>
#include <math.h>

#include "macro.h"

/* jansson ≥ 2.9 provides json_decrefp() (and json_auto_t); this names it in our style. */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

/* Sets @key to a real, or leaves it out when @v is not finite (NaN = "not applicable"). */
static inline void json_set_real(json_t *o, const char *key, double v) {
        if (isfinite(v))
                json_object_set_new(o, key, json_real(v));
}

static inline void json_set_int(json_t *o, const char *key, int64_t v) {
        json_object_set_new(o, key, json_integer(v));
}

/* Sets @key to a non-negative integer, or leaves it out when @v < 0 ("unknown"). */
static inline void json_set_count(json_t *o, const char *key, int64_t v) {
        if (v >= 0)
                json_object_set_new(o, key, json_integer(v));
}

static inline void json_set_string(json_t *o, const char *key, const char *v) {
        if (v)
                json_object_set_new(o, key, json_string(v));
}

/* Number as double (integer or real), NaN when absent or not a number. */
static inline double json_get_number(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);

        return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Integer member (a real is truncated), or @def when absent or not a number. */
static inline int64_t json_get_int(json_t *o, const char *key, int64_t def) {
        json_t *v = json_object_get(o, key);

        if (json_is_integer(v))
                return json_integer_value(v);
        if (json_is_real(v) && isfinite(json_real_value(v)))
                return (int64_t) json_real_value(v);
        return def;
}

static inline const char *json_get_string(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}
