/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Stable JSON shapes of llmlabctl's --json output, built from the daemon's a{sv} dictionaries
 * (already converted to JSON). A shape lists keys in order; every listed key is present in the
 * output, null when the source lacks it; keys of the source that are not listed follow the listed
 * ones at the same level, so keys are only ever added, never renamed. Pure.
 *
 * The run shape (`llmlabctl run --json` and `run-energy --json`): run, model, backend, state,
 * answer, thinking, tokens{input,output,thinking,injected}, timing{ttft_ms,tpot_ms,e2e_ms,load_ms,
 * prefill_ms,decode_ms,tokens_per_s}, energy{measured,sources,split_method,load_wh,prefill_wh,
 * decode_wh,total_wh,net_total_wh,idle_w,wh_per_1000_etokens,prefill_wh_per_1000_input_tokens,
 * decode_wh_per_1000_output_tokens,j_per_output_token,zones,wraps,sample_interval_ms,components,
 * components_wh,system_wh,unexplained_wh,bounded_estimates}, carbon{region,g_per_kwh,co2_g},
 * provenance. */

#include <jansson.h>

typedef enum JsonShapeKind {
        JSON_SHAPE_LEAF,           /* copied as is (any JSON value), null when missing */
        JSON_SHAPE_OBJECT,         /* an object with every child key, even when missing */
        JSON_SHAPE_OBJECT_OR_NULL, /* null when missing (or not an object), else shaped */
        JSON_SHAPE_ARRAY,          /* an array (empty when missing) of shaped objects */
} JsonShapeKind;

typedef struct JsonShape {
        const char *key; /* NULL ends a list */
        JsonShapeKind kind;
        const struct JsonShape *children;
} JsonShape;

/* clang-format off */
#define SHAPE_LEAF(k)              { .key = (k), .kind = JSON_SHAPE_LEAF }
#define SHAPE_OBJECT(k, c)         { .key = (k), .kind = JSON_SHAPE_OBJECT, .children = (c) }
#define SHAPE_OBJECT_OR_NULL(k, c) { .key = (k), .kind = JSON_SHAPE_OBJECT_OR_NULL, .children = (c) }
#define SHAPE_ARRAY(k, c)          { .key = (k), .kind = JSON_SHAPE_ARRAY, .children = (c) }
#define SHAPE_END                  { .key = NULL }
/* clang-format on */

/* An object with the keys of @shape taken from @src (which may be NULL or not an object: then every
 * key is null), followed by @src's other keys. NULL on allocation failure. @src is not modified. */
json_t *json_shape_build(const JsonShape *shape, json_t *src);

/* The run shape above. @result may be NULL (everything null); @answer and @thinking may be NULL
 * (then null in the output). Returns a new object, or NULL on allocation failure. */
json_t *run_result_json_build(json_t *result, const char *answer, const char *thinking);
