/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "request.h"

static const char *const measure_table[_MEASURE_MAX] = {
        [MEASURE_OFF] = "off",
        [MEASURE_LIVE] = "live",
        [MEASURE_ESTIMATE] = "estimate",
        [MEASURE_AUTO] = "auto",
};

const char *measure_mode_to_string(MeasureMode m) {
        return m >= 0 && m < _MEASURE_MAX ? measure_table[m] : NULL;
}

MeasureMode measure_mode_from_string(const char *s) {
        for (int i = 0; s && i < _MEASURE_MAX; i++)
                if (streq(measure_table[i], s))
                        return (MeasureMode) i;
        return _MEASURE_INVALID;
}

static void injection_clear(gpointer p) {
        Injection *i = p;

        g_free(i->description);
        g_free(i->content);
}

LabRequest *lab_request_new(void) {
        LabRequest *r = g_new0(LabRequest, 1);

        r->injections = g_array_new(FALSE, TRUE, sizeof(Injection));
        g_array_set_clear_func(r->injections, injection_clear);
        r->measure = MEASURE_OFF;
        return r;
}

LabRequest *lab_request_free(LabRequest *r) {
        if (!r)
                return NULL;
        g_free(r->model);
        g_free(r->backend);
        g_free(r->system_prompt);
        g_free(r->system_prompt_id);
        g_free(r->user_prompt);
        g_free(r->conversation_context);
        g_array_unref(r->injections);
        g_free(r->benchmark);
        g_free(r->region);
        g_free(r->label);
        g_free(r);
        return NULL;
}

LabRequest *lab_request_copy(const LabRequest *r) {
        LabRequest *c = lab_request_new();
        GArray *inj = c->injections;

        *c = *r;
        c->injections = inj;
        c->model = g_strdup(r->model);
        c->backend = g_strdup(r->backend);
        c->system_prompt = g_strdup(r->system_prompt);
        c->system_prompt_id = g_strdup(r->system_prompt_id);
        c->user_prompt = g_strdup(r->user_prompt);
        c->conversation_context = g_strdup(r->conversation_context);
        c->benchmark = g_strdup(r->benchmark);
        c->region = g_strdup(r->region);
        c->label = g_strdup(r->label);
        for (size_t i = 0; i < lab_request_n_injections(r); i++)
                lab_request_add_injection(c, lab_request_injection(r, i)->description,
                                          lab_request_injection(r, i)->content);
        return c;
}

void lab_request_add_injection(LabRequest *r, const char *description, const char *content) {
        Injection i = {
                .description = g_strdup(description),
                .content = g_strdup(content),
        };

        g_array_append_val(r->injections, i);
}

const Injection *lab_request_injection(const LabRequest *r, size_t i) {
        return &g_array_index(r->injections, Injection, i);
}

size_t lab_request_n_injections(const LabRequest *r) {
        return r->injections->len;
}

bool string_is_valid_text(const char *s) {
        return s && g_utf8_validate(s, -1, NULL);
}

static int check_size(const char *key, const char *value, size_t max, size_t *total, LabError *error) {
        size_t n;

        if (!value)
                return 0;
        n = strlen(value);
        if (n > max)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "%s is too long: %zu bytes (at most %zu)", key, n, max);
        *total += n;
        return 0;
}

static int check_short(const char *key, const char *value, LabError *error) {
        if (!value)
                return 0;
        if (isempty(value))
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "%s must not be empty", key);
        if (strlen(value) > REQUEST_MAX_SHORT_BYTES)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "%s is too long (at most %u bytes)",
                                     key, REQUEST_MAX_SHORT_BYTES);
        for (const char *c = value; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                             "%s must not contain control characters", key);
        return 0;
}

int lab_request_validate(const LabRequest *r, LabError *error) {
        size_t total = 0;
        int k;

        if (isempty(r->model))
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "model is required");
        if (!r->user_prompt)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "user_prompt is required");
        if (isempty(r->user_prompt))
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "user_prompt must not be empty");
        if (r->system_prompt && r->system_prompt_id)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "system_prompt and system_prompt_id are mutually exclusive");

        if ((k = check_short("model", r->model, error)) < 0 ||
            (k = check_short("backend", r->backend, error)) < 0 ||
            (k = check_short("benchmark", r->benchmark, error)) < 0 ||
            (k = check_short("region", r->region, error)) < 0)
                return k;
        if (r->label && strlen(r->label) > REQUEST_MAX_SHORT_BYTES)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "label is too long (at most %u bytes)", REQUEST_MAX_SHORT_BYTES);
        if (r->system_prompt_id && strlen(r->system_prompt_id) > REQUEST_MAX_SHORT_BYTES)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "system_prompt_id is too long (at most %u bytes)",
                                     REQUEST_MAX_SHORT_BYTES);

        if (r->has_temperature &&
            (!isfinite(r->temperature) || r->temperature < 0.0 || r->temperature > 2.0))
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "temperature must be between 0 and 2, not %g", r->temperature);
        if (r->max_tokens > REQUEST_MAX_TOKENS)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "max_tokens must be between 1 and %u, not %u", REQUEST_MAX_TOKENS,
                                     r->max_tokens);
        if (r->num_ctx > REQUEST_MAX_NUM_CTX)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "num_ctx must be at most %u",
                                     REQUEST_MAX_NUM_CTX);

        if ((k = check_size("user_prompt", r->user_prompt, REQUEST_MAX_PROMPT_BYTES, &total, error)) < 0 ||
            (k = check_size("system_prompt", r->system_prompt, REQUEST_MAX_PROMPT_BYTES, &total, error)) <
                    0 ||
            (k = check_size("conversation_context", r->conversation_context, REQUEST_MAX_PROMPT_BYTES,
                            &total, error)) < 0)
                return k;

        if (lab_request_n_injections(r) > REQUEST_MAX_INJECTIONS)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "too many injections: %zu (at most %u)", lab_request_n_injections(r),
                                     REQUEST_MAX_INJECTIONS);
        for (size_t i = 0; i < lab_request_n_injections(r); i++) {
                const Injection *inj = lab_request_injection(r, i);

                if (strlen(inj->description) > REQUEST_MAX_SHORT_BYTES)
                        return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                             "injections[%zu] description is too long (at most %u bytes)", i,
                                             REQUEST_MAX_SHORT_BYTES);
                k = check_size("injection content", inj->content, REQUEST_MAX_INJECTION_BYTES, &total,
                               error);
                if (k < 0)
                        return k;
        }
        if (total > REQUEST_MAX_TOTAL_BYTES)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "the request's texts are too long: %zu bytes in all (at most %u)",
                                     total, REQUEST_MAX_TOTAL_BYTES);
        return 0;
}

static void set_string(json_t *o, const char *key, const char *value) {
        if (value)
                json_object_set_new(o, key, json_string(value));
}

json_t *lab_request_to_json(const LabRequest *r) {
        json_t *o = json_object();
        json_t *inj = json_array();

        set_string(o, "model", r->model);
        set_string(o, "backend", r->backend);
        set_string(o, "system_prompt", r->system_prompt);
        set_string(o, "system_prompt_id", r->system_prompt_id);
        set_string(o, "user_prompt", r->user_prompt);
        set_string(o, "conversation_context", r->conversation_context);
        for (size_t i = 0; i < lab_request_n_injections(r); i++) {
                const Injection *x = lab_request_injection(r, i);

                json_array_append_new(
                        inj, json_pack("{s:s, s:s}", "description", x->description, "content", x->content));
        }
        json_object_set_new(o, "injections", inj);
        if (r->has_temperature)
                json_object_set_new(o, "temperature", json_real(r->temperature));
        if (r->max_tokens > 0)
                json_object_set_new(o, "max_tokens", json_integer(r->max_tokens));
        if (r->has_seed)
                json_object_set_new(o, "seed", json_integer(r->seed));
        if (r->num_ctx > 0)
                json_object_set_new(o, "num_ctx", json_integer(r->num_ctx));
        json_object_set_new(o, "include_thinking", json_boolean(r->include_thinking));
        set_string(o, "measure", measure_mode_to_string(r->measure));
        set_string(o, "benchmark", r->benchmark);
        set_string(o, "region", r->region);
        set_string(o, "label", r->label);
        return o;
}
