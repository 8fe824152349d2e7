/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Request validation (limits named in the errors), JSON form, and the jobs' pure text helpers. */
#include <glib.h>

#include "job.h"
#include "json-util.h"
#include "request.h"

static LabRequest *valid(void) {
        LabRequest *r = lab_request_new();

        r->model = g_strdup("m");
        r->user_prompt = g_strdup("hello");
        return r;
}

static void assert_invalid(LabRequest *r, const char *substring) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;

        g_assert_cmpint(lab_request_validate(r, &err), ==, -EINVAL);
        g_assert_cmpint(err.code, ==, LAB_ERROR_INVALID_ARGUMENT);
        if (!strstr(err.message, substring))
                g_error("expected \"%s\" in \"%s\"", substring, err.message);
}

static void test_valid(void) {
        g_autoptr(LabRequest) r = valid();
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;

        r->has_temperature = true;
        r->temperature = 2.0;
        r->max_tokens = 32768;
        g_assert_cmpint(lab_request_validate(r, &err), ==, 0);
        g_assert_false(lab_error_is_set(&err));
}

static void test_limits(void) {
        g_autoptr(LabRequest) a = valid(), b = valid(), c = valid(), d = valid(), e = valid(), f = valid(),
                              g = valid();

        a->has_temperature = true;
        a->temperature = 2.01;
        assert_invalid(a, "temperature");
        b->max_tokens = 32769;
        assert_invalid(b, "max_tokens");
        g_free(c->user_prompt);
        c->user_prompt = g_strnfill(REQUEST_MAX_PROMPT_BYTES + 1, 'x');
        assert_invalid(c, "user_prompt is too long");
        for (unsigned i = 0; i <= REQUEST_MAX_INJECTIONS; i++)
                lab_request_add_injection(d, "d", "c");
        assert_invalid(d, "too many injections");
        g_free(e->model);
        e->model = NULL;
        assert_invalid(e, "model is required");
        f->system_prompt = g_strdup("s");
        f->system_prompt_id = g_strdup("p");
        assert_invalid(f, "mutually exclusive");
        g_free(g->model);
        g->model = g_strdup("bad\nmodel");
        assert_invalid(g, "control characters");
}

static void test_total_limit(void) {
        g_autoptr(LabRequest) r = valid();

        g_free(r->user_prompt);
        r->user_prompt = g_strnfill(REQUEST_MAX_PROMPT_BYTES, 'u');
        r->system_prompt = g_strnfill(REQUEST_MAX_PROMPT_BYTES, 's');
        r->conversation_context = g_strnfill(REQUEST_MAX_PROMPT_BYTES, 'c');
        for (int i = 0; i < 5; i++) {
                g_autofree char *big = g_strnfill(REQUEST_MAX_INJECTION_BYTES, 'i');

                lab_request_add_injection(r, "i", big);
        }
        assert_invalid(r, "in all");
}

static void test_json_and_copy(void) {
        g_autoptr(LabRequest) r = valid(), c = NULL;
        _cleanup_json_ json_t *j = NULL;

        r->has_seed = true;
        r->seed = -5;
        r->measure = MEASURE_LIVE;
        lab_request_add_injection(r, "memory", "cats");
        c = lab_request_copy(r);
        j = lab_request_to_json(c);
        g_assert_cmpstr(json_get_string(j, "model"), ==, "m");
        g_assert_cmpint(json_get_int(j, "seed", 0), ==, -5);
        g_assert_cmpstr(json_get_string(j, "measure"), ==, "live");
        g_assert_cmpstr(json_get_string(json_array_get(json_object_get(j, "injections"), 0), "content"), ==,
                        "cats");
        g_assert_null(json_object_get(j, "temperature"));
        g_assert_cmpint(measure_mode_from_string("auto"), ==, MEASURE_AUTO);
        g_assert_cmpint(measure_mode_from_string("sometimes"), <, 0);
}

static void test_filler(void) {
        g_autofree char *a = job_filler_text(1, 500), *b = job_filler_text(1, 500),
                        *c = job_filler_text(2, 500);
        g_auto(GStrv) words = g_regex_split_simple("[ \n]", a, 0, 0);

        g_assert_cmpstr(a, ==, b); /* deterministic */
        g_assert_cmpstr(a, !=, c); /* a different text for every seed */
        g_assert_cmpuint(g_strv_length(words), ==, 500);
        g_assert_cmpint(strncmp(a, c, 40), !=, 0); /* no shared prefix a prompt cache could reuse */
}

static void test_nonce(void) {
        g_autofree char *a = job_nonce_prefix(1, 0), *b = job_nonce_prefix(1, 1);

        g_assert_true(g_str_has_prefix(a, "[run "));
        g_assert_true(g_str_has_suffix(a, "]\n"));
        g_assert_cmpstr(a, !=, b);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/request/valid", test_valid);
        g_test_add_func("/request/limits", test_limits);
        g_test_add_func("/request/total", test_total_limit);
        g_test_add_func("/request/json", test_json_and_copy);
        g_test_add_func("/jobs/filler", test_filler);
        g_test_add_func("/jobs/nonce", test_nonce);
        return g_test_run();
}
