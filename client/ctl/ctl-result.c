/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl-result.h"
#include "macro.h"

static const JsonShape tokens_shape[] = {
        SHAPE_LEAF("input"), SHAPE_LEAF("output"), SHAPE_LEAF("thinking"), SHAPE_LEAF("injected"), SHAPE_END,
};

static const JsonShape timing_shape[] = {
        SHAPE_LEAF("ttft_ms"),    SHAPE_LEAF("tpot_ms"),   SHAPE_LEAF("e2e_ms"),       SHAPE_LEAF("load_ms"),
        SHAPE_LEAF("prefill_ms"), SHAPE_LEAF("decode_ms"), SHAPE_LEAF("tokens_per_s"), SHAPE_END,
};

static const JsonShape energy_shape[] = {
        SHAPE_LEAF("measured"),
        SHAPE_LEAF("sources"),
        SHAPE_LEAF("split_method"),
        SHAPE_LEAF("load_wh"),
        SHAPE_LEAF("prefill_wh"),
        SHAPE_LEAF("decode_wh"),
        SHAPE_LEAF("total_wh"),
        SHAPE_LEAF("net_total_wh"),
        SHAPE_LEAF("idle_w"),
        SHAPE_LEAF("wh_per_1000_etokens"),
        SHAPE_LEAF("prefill_wh_per_1000_input_tokens"),
        SHAPE_LEAF("decode_wh_per_1000_output_tokens"),
        SHAPE_LEAF("j_per_output_token"),
        SHAPE_LEAF("zones"),
        SHAPE_LEAF("wraps"),
        SHAPE_LEAF("sample_interval_ms"),
        SHAPE_LEAF("components"),
        SHAPE_LEAF("components_wh"),
        SHAPE_LEAF("system_wh"),
        SHAPE_LEAF("unexplained_wh"),
        SHAPE_LEAF("bounded_estimates"),
        SHAPE_END,
};

static const JsonShape carbon_shape[] = {
        SHAPE_LEAF("region"),
        SHAPE_LEAF("g_per_kwh"),
        SHAPE_LEAF("co2_g"),
        SHAPE_END,
};

/* "answer" and "thinking" are placeholders filled from the transcript. */
static const JsonShape run_shape[] = {
        SHAPE_LEAF("run"),
        SHAPE_LEAF("model"),
        SHAPE_LEAF("backend"),
        SHAPE_LEAF("state"),
        SHAPE_LEAF("answer"),
        SHAPE_LEAF("thinking"),
        SHAPE_OBJECT("tokens", tokens_shape),
        SHAPE_OBJECT("timing", timing_shape),
        SHAPE_OBJECT("energy", energy_shape),
        SHAPE_OBJECT("carbon", carbon_shape),
        SHAPE_LEAF("provenance"),
        SHAPE_END,
};

static bool shape_has(const JsonShape *shape, const char *key) {
        for (const JsonShape *s = shape; s->key; s++)
                if (streq(s->key, key))
                        return true;
        return false;
}

static json_t *build_array(const JsonShape *element, json_t *src) {
        json_t *a = json_array(), *v;
        size_t i;

        if (!a)
                return NULL;
        json_array_foreach (src, i, v) {
                json_t *e = json_is_object(v) ? json_shape_build(element, v) : json_deep_copy(v);

                if (!e || json_array_append_new(a, e) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

static json_t *build_value(const JsonShape *s, json_t *child) {
        switch (s->kind) {
        case JSON_SHAPE_OBJECT: return json_shape_build(s->children, child);
        case JSON_SHAPE_OBJECT_OR_NULL:
                return json_is_object(child) ? json_shape_build(s->children, child) : json_null();
        case JSON_SHAPE_ARRAY: return build_array(s->children, child);
        default: return child ? json_deep_copy(child) : json_null();
        }
}

json_t *json_shape_build(const JsonShape *shape, json_t *src) {
        json_t *o = json_object(), *v;
        const char *key;

        if (!o)
                return NULL;
        if (!json_is_object(src))
                src = NULL;

        for (const JsonShape *s = shape; s->key; s++) {
                v = build_value(s, json_object_get(src, s->key));
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
        json_t *o = json_shape_build(run_shape, result);

        if (!o)
                return NULL;
        if (set_text(o, "answer", answer) < 0 || set_text(o, "thinking", thinking) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}
