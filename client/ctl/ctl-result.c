/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl-result.h"
#include "macro.h"

typedef struct Shape {
        const char *key;
        const struct Shape *children; /* NULL: copied as is (any JSON value) */
} Shape;

#define LEAF(k) \
        { .key = (k) }
#define NODE(k, kids) \
        { .key = (k), .children = (kids) }
#define SHAPE_END \
        { .key = NULL }

static const Shape tokens_shape[] = {
        LEAF("input"), LEAF("output"), LEAF("thinking"), LEAF("injected"), SHAPE_END,
};

static const Shape timing_shape[] = {
        LEAF("ttft_ms"),    LEAF("tpot_ms"),   LEAF("e2e_ms"),       LEAF("load_ms"),
        LEAF("prefill_ms"), LEAF("decode_ms"), LEAF("tokens_per_s"), SHAPE_END,
};

static const Shape energy_shape[] = {
        LEAF("measured"),
        LEAF("sources"),
        LEAF("split_method"),
        LEAF("load_wh"),
        LEAF("prefill_wh"),
        LEAF("decode_wh"),
        LEAF("total_wh"),
        LEAF("net_total_wh"),
        LEAF("idle_w"),
        LEAF("wh_per_1000_etokens"),
        LEAF("prefill_wh_per_1000_input_tokens"),
        LEAF("decode_wh_per_1000_output_tokens"),
        LEAF("j_per_output_token"),
        LEAF("zones"),
        LEAF("wraps"),
        LEAF("sample_interval_ms"),
        SHAPE_END,
};

static const Shape carbon_shape[] = {
        LEAF("region"),
        LEAF("g_per_kwh"),
        LEAF("co2_g"),
        SHAPE_END,
};

/* "answer" and "thinking" are placeholders filled from the transcript. */
static const Shape run_shape[] = {
        LEAF("run"),
        LEAF("model"),
        LEAF("backend"),
        LEAF("state"),
        LEAF("answer"),
        LEAF("thinking"),
        NODE("tokens", tokens_shape),
        NODE("timing", timing_shape),
        NODE("energy", energy_shape),
        NODE("carbon", carbon_shape),
        LEAF("provenance"),
        SHAPE_END,
};

static bool shape_has(const Shape *shape, const char *key) {
        for (const Shape *s = shape; s->key; s++)
                if (streq(s->key, key))
                        return true;
        return false;
}

/* Builds an object with every key of @shape (null when @src lacks it), then the other keys of
 * @src. */
static json_t *build(const Shape *shape, json_t *src) {
        json_t *o = json_object(), *v;
        const char *key;

        if (!o)
                return NULL;
        if (!json_is_object(src))
                src = NULL;

        for (const Shape *s = shape; s->key; s++) {
                json_t *child = json_object_get(src, s->key);

                if (s->children)
                        v = build(s->children, child);
                else
                        v = child ? json_deep_copy(child) : json_null();
                if (!v || json_object_set_new(o, s->key, v) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }

        json_object_foreach (src, key, v) {
                if (shape_has(shape, key))
                        continue;
                if (json_object_set_new(o, key, json_deep_copy(v)) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

static int set_text(json_t *o, const char *key, const char *text) {
        return json_object_set_new(o, key, text ? json_string(text) : json_null());
}

json_t *run_result_json_build(json_t *result, const char *answer, const char *thinking) {
        json_t *o = build(run_shape, result);

        if (!o)
                return NULL;
        if (set_text(o, "answer", answer) < 0 || set_text(o, "thinking", thinking) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}
