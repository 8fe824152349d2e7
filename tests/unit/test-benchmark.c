/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "benchmark.h"
#include "json-util.h"
#include "metrics.h"

#include <glib.h>
#include <glib/gstdio.h>

#define assert_close(a, b, rel) g_assert_cmpfloat_with_epsilon((a), (b), (rel) *MAX(fabs(b), 1e-300))

static char *builtin_dir(void) {
        const char *root = g_getenv("LLMLAB_SOURCE_ROOT");

        g_assert_nonnull(root); /* set by tests/meson.build */
        return g_build_filename(root, "data", "benchmarks", NULL);
}

static BenchmarkRegistry *load_builtins(void) {
        g_autofree char *dir = builtin_dir();
        BenchmarkRegistry *r = benchmark_registry_new();

        /* 62 AI Energy Score rows and 30 Jegham et al. rows */
        g_assert_cmpint(benchmark_registry_load_builtin_dir(r, dir), ==, 92);
        return r;
}

static json_t *parse(const char *text) {
        json_error_t jerr;
        json_t *o = json_loads(text, 0, &jerr);

        if (!o)
                g_error("bad test JSON: %s", jerr.text);
        return o;
}

/* Expects benchmark_from_json() to fail with InvalidArgument naming @needle. */
static void assert_rejected(const char *text, const char *needle) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        _cleanup_json_ json_t *o = parse(text);
        Benchmark *b = NULL;

        g_assert_cmpint(benchmark_from_json(o, &b, &err), ==, -EINVAL);
        g_assert_null(b);
        g_assert_cmpint(err.code, ==, LAB_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(err.message);
        if (!strstr(err.message, needle))
                g_error("error message \"%s\" does not contain \"%s\"", err.message, needle);
}

/* ---- ids ----------------------------------------------------------------------------------------- */

static void test_id_is_valid(void) {
        char long_id[BENCHMARK_ID_MAX + 2];

        g_assert_true(benchmark_id_is_valid("a"));
        g_assert_true(benchmark_id_is_valid("aes:meta-llama-3.1-8b"));
        g_assert_true(benchmark_id_is_valid("calibrated:qwen3:0.6b"));
        g_assert_true(benchmark_id_is_valid("aes:phi-1_5"));
        g_assert_true(benchmark_id_is_valid("x.y"));
        g_assert_true(benchmark_id_is_valid("-x"));

        g_assert_false(benchmark_id_is_valid(NULL));
        g_assert_false(benchmark_id_is_valid(""));
        g_assert_false(benchmark_id_is_valid(".hidden"));
        g_assert_false(benchmark_id_is_valid("a/b"));
        g_assert_false(benchmark_id_is_valid("a b"));
        g_assert_false(benchmark_id_is_valid("../etc"));
        g_assert_false(benchmark_id_is_valid("é"));
        g_assert_false(benchmark_id_is_valid("a\nb"));

        memset(long_id, 'x', BENCHMARK_ID_MAX);
        long_id[BENCHMARK_ID_MAX] = '\0';
        g_assert_true(benchmark_id_is_valid(long_id));
        long_id[BENCHMARK_ID_MAX] = 'x';
        long_id[BENCHMARK_ID_MAX + 1] = '\0';
        g_assert_false(benchmark_id_is_valid(long_id));
}

static void test_id_sanitize(void) {
        g_autofree char *a = benchmark_id_sanitize("calibrated:hf.co/org/Model_Q4 K:latest");
        g_autofree char *b = benchmark_id_sanitize("..x");
        g_autofree char *c = benchmark_id_sanitize("...");
        g_autofree char *d = NULL;
        char long_name[300];

        g_assert_cmpstr(a, ==, "calibrated:hf.co-org-Model_Q4-K:latest");
        g_assert_true(benchmark_id_is_valid(a));
        g_assert_cmpstr(b, ==, "x");
        g_assert_null(c);
        g_assert_null(benchmark_id_sanitize(NULL));

        memset(long_name, 'y', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = '\0';
        d = benchmark_id_sanitize(long_name);
        g_assert_cmpuint(strlen(d), ==, BENCHMARK_ID_MAX);
        g_assert_true(benchmark_id_is_valid(d));
}

/* ---- from/to JSON -------------------------------------------------------------------------------- */

static void test_from_json(void) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        _cleanup_json_ json_t *o = NULL, *back = NULL;
        _cleanup_(benchmark_freep) Benchmark *b = NULL, *b2 = NULL;

        o = parse("{\"id\": \"custom:laptop\", \"description\": \"my laptop\", \"source\": \"me\", "
                  "\"wh_per_1000_input_tokens\": 0.05, \"wh_per_1000_output_tokens\": 2}");
        g_assert_cmpint(benchmark_from_json(o, &b, &err), ==, 0);
        g_assert_cmpstr(b->id, ==, "custom:laptop");
        g_assert_cmpstr(b->name, ==, "custom:laptop"); /* defaults to the id */
        g_assert_cmpstr(b->description, ==, "my laptop");
        g_assert_cmpstr(b->source, ==, "me");
        g_assert_null(b->hardware);
        g_assert_cmpfloat(b->wh_per_1000_input_tokens, ==, 0.05);
        g_assert_cmpfloat(b->wh_per_1000_output_tokens, ==, 2.0); /* an integer is a number too */
        g_assert_false(b->builtin);
        g_assert_false(b->calibrated);
        g_assert_true(isnan(b->r2));
        g_assert_cmpfloat(b->intercept_wh, ==, 0.0);

        /* 1000 input and 500 output tokens: 0.05 + 1.0 Wh */
        g_assert_cmpfloat(benchmark_estimate_wh(b, 1000, 500), ==, 1.05);

        back = benchmark_to_json(b);
        g_assert_cmpstr(json_get_string(back, "id"), ==, "custom:laptop");
        g_assert_true(json_is_false(json_object_get(back, "builtin")));
        g_assert_true(json_is_false(json_object_get(back, "calibrated")));
        g_assert_null(json_object_get(back, "r2"));
        g_assert_null(json_object_get(back, "hardware"));
        /* round trip */
        g_assert_cmpint(benchmark_from_json(back, &b2, &err), ==, 0);
        g_assert_cmpstr(b2->description, ==, b->description);
        g_assert_cmpfloat(b2->wh_per_1000_output_tokens, ==, 2.0);
}

static void test_from_json_calibrated(void) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        _cleanup_json_ json_t *o = NULL, *back = NULL;
        _cleanup_(benchmark_freep) Benchmark *b = NULL;

        o = parse("{\"id\": \"calibrated:qwen3:0.6b\", \"wh_per_1000_input_tokens\": 0.01, "
                  "\"wh_per_1000_output_tokens\": 0.5, \"calibrated\": true, \"r2\": 0.97, "
                  "\"intercept_wh\": 0.002, \"n\": 8}");
        g_assert_cmpint(benchmark_from_json(o, &b, &err), ==, 0);
        g_assert_true(b->calibrated);
        g_assert_cmpfloat(b->r2, ==, 0.97);
        g_assert_cmpuint(b->n, ==, 8);
        /* the fitted model, intercept included: 0.01 + 0.5 × 2 + 0.002 */
        assert_close(benchmark_estimate_wh(b, 1000, 2000), 1.012, 1e-15);

        back = benchmark_to_json(b);
        g_assert_cmpfloat(json_get_number(back, "r2"), ==, 0.97);
        g_assert_cmpfloat(json_get_number(back, "intercept_wh"), ==, 0.002);
        g_assert_cmpint(json_integer_value(json_object_get(back, "n")), ==, 8);
}

static void test_from_json_strict(void) {
        assert_rejected("{\"id\": \"x\", \"wh_per_1000_input_tokens\": 1, \"wh_per_1000_output_tokens\": 1, "
                        "\"colour\": \"blue\"}",
                        "colour");
        assert_rejected(
                "{\"id\": \"x\", \"wh_per_1000_input_tokens\": \"1\", \"wh_per_1000_output_tokens\": 1}",
                "wh_per_1000_input_tokens");
        assert_rejected("{\"id\": \"x\", \"wh_per_1000_input_tokens\": 1}", "wh_per_1000_output_tokens");
        assert_rejected(
                "{\"id\": \"x\", \"wh_per_1000_input_tokens\": -0.1, \"wh_per_1000_output_tokens\": 1}",
                "wh_per_1000_input_tokens");
        assert_rejected("{\"wh_per_1000_input_tokens\": 1, \"wh_per_1000_output_tokens\": 1}", "id");
        assert_rejected("{\"id\": 5, \"wh_per_1000_input_tokens\": 1, \"wh_per_1000_output_tokens\": 1}",
                        "id");
        assert_rejected(
                "{\"id\": \"a/b\", \"wh_per_1000_input_tokens\": 1, \"wh_per_1000_output_tokens\": 1}",
                "a/b");
        assert_rejected("{\"id\": \"x\", \"name\": 3, \"wh_per_1000_input_tokens\": 1, "
                        "\"wh_per_1000_output_tokens\": 1}",
                        "name");
        assert_rejected("{\"id\": \"x\", \"builtin\": true, \"wh_per_1000_input_tokens\": 1, "
                        "\"wh_per_1000_output_tokens\": 1}",
                        "builtin");
        assert_rejected("{\"id\": \"x\", \"calibrated\": 1, \"wh_per_1000_input_tokens\": 1, "
                        "\"wh_per_1000_output_tokens\": 1}",
                        "calibrated");
        assert_rejected("{\"id\": \"x\", \"r2\": 1.5, \"wh_per_1000_input_tokens\": 1, "
                        "\"wh_per_1000_output_tokens\": 1}",
                        "r2");
        assert_rejected("{\"id\": \"x\", \"n\": -1, \"wh_per_1000_input_tokens\": 1, "
                        "\"wh_per_1000_output_tokens\": 1}",
                        "\"n\"");
        assert_rejected("{\"id\": \"x\", \"published\": {}, \"wh_per_1000_input_tokens\": 1, "
                        "\"wh_per_1000_output_tokens\": 1}",
                        "published");
        assert_rejected("{\"id\": \"x\", \"default\": true, \"wh_per_1000_input_tokens\": 1, "
                        "\"wh_per_1000_output_tokens\": 1}",
                        "default");
        assert_rejected("[1]", "object");
}

/* ---- the shipped built-ins ----------------------------------------------------------------------- */

static void test_builtins(void) {
        _cleanup_(benchmark_registry_freep) BenchmarkRegistry *r = load_builtins();
        const Benchmark *b;
        double e_q;

        g_assert_cmpuint(benchmark_registry_size(r), ==, 92);
        for (size_t i = 0; i < benchmark_registry_size(r); i++) {
                b = benchmark_registry_nth(r, i);
                g_assert_true(b->builtin);
                g_assert_true(benchmark_id_is_valid(b->id));
                g_assert_nonnull(b->name);
                g_assert_nonnull(b->source);
                g_assert_nonnull(b->description);
                g_assert_nonnull(b->url);
                g_assert_cmpfloat(b->wh_per_1000_input_tokens, >, 0.0);
                /* output tokens cost more than input tokens in both conversions */
                g_assert_cmpfloat(b->wh_per_1000_output_tokens, >, b->wh_per_1000_input_tokens);
                g_assert_true(benchmark_registry_get(r, b->id) == b);
        }
        /* files load in name order: ai-energy-score.json, then jegham-2025.json */
        g_assert_cmpstr(benchmark_registry_nth(r, 0)->id, ==, "aes:starling-lm-7b-alpha");
        g_assert_cmpstr(benchmark_registry_nth(r, 62)->id, ==, "jegham:gpt-4.1");

        /* The default exists. AI Energy Score: E_q = 0.017376 Wh per query of 369.139 input and 10
         * output tokens; 1/10 to the prompt, 9/10 to the output. */
        b = benchmark_registry_get(r, BENCHMARK_DEFAULT_ID);
        g_assert_nonnull(b);
        g_assert_cmpstr(b->name, ==, "meta-llama/Meta-Llama-3.1-8B");
        e_q = 0.017376;
        assert_close(b->wh_per_1000_input_tokens, 0.1 * e_q / 369.139 * 1000, 1e-9);
        assert_close(b->wh_per_1000_output_tokens, 0.9 * e_q / 10 * 1000, 1e-12);
        g_assert_cmpfloat(b->wh_per_1000_output_tokens, ==, 1.56384);
        /* the published query shape gives back the published energy */
        assert_close(b->wh_per_1000_input_tokens * 0.369139 + b->wh_per_1000_output_tokens * 0.010, e_q,
                     1e-9);

        /* the stray spaces of the upstream ids are gone from the names, the id keeps the _ */
        b = benchmark_registry_get(r, "aes:phi-1_5");
        g_assert_nonnull(b);
        g_assert_cmpstr(b->name, ==, "microsoft/phi-1_5");

        /* Jegham et al.: 3.161 Wh per query of 1000 + 1000 tokens, 3 % to the input. */
        b = benchmark_registry_get(r, "jegham:gpt-4.1");
        g_assert_nonnull(b);
        g_assert_cmpstr(b->name, ==, "GPT-4.1");
        g_assert_cmpfloat(b->wh_per_1000_input_tokens, ==, 0.09483);
        g_assert_cmpfloat(b->wh_per_1000_output_tokens, ==, 3.06617);
        assert_close(benchmark_estimate_wh(b, 1000, 1000), 3.161, 1e-12);
        g_assert_nonnull(benchmark_registry_get(r, "jegham:gpt-4o-mar-25"));
        g_assert_nonnull(benchmark_registry_get(r, "jegham:deepseek-r1-ds"));

        g_assert_null(benchmark_registry_get(r, "nvidia_a100")); /* the original's made-up entries */
        g_assert_null(benchmark_registry_get(r, NULL));
}

static void test_registry_rules(void) {
        _cleanup_(benchmark_registry_freep) BenchmarkRegistry *r = load_builtins();
        Benchmark *b = NULL;
        const Benchmark *got;

        /* add a custom one */
        {
                _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;

                g_assert_cmpint(benchmark_new("custom:a", 0.1, 1.0, &b), ==, 0);
                g_assert_cmpint(benchmark_registry_add(r, b, false, &err), ==, 0);
                g_assert_cmpuint(benchmark_registry_size(r), ==, 93);
                g_assert_cmpstr(benchmark_registry_nth(r, 92)->id, ==, "custom:a");
        }
        /* again without replace: refused (and the new object freed) */
        {
                _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;

                g_assert_cmpint(benchmark_new("custom:a", 0.2, 2.0, &b), ==, 0);
                g_assert_cmpint(benchmark_registry_add(r, b, false, &err), ==, -EINVAL);
                g_assert_cmpint(err.code, ==, LAB_ERROR_INVALID_ARGUMENT);
                g_assert_cmpfloat(benchmark_registry_get(r, "custom:a")->wh_per_1000_output_tokens, ==, 1.0);
        }
        /* with replace: replaced in place */
        {
                _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;

                g_assert_cmpint(benchmark_new("custom:a", 0.2, 2.0, &b), ==, 0);
                g_assert_cmpint(benchmark_registry_add(r, b, true, &err), ==, 0);
                g_assert_cmpuint(benchmark_registry_size(r), ==, 93);
                got = benchmark_registry_get(r, "custom:a");
                g_assert_true(got == benchmark_registry_nth(r, 92));
                g_assert_cmpfloat(got->wh_per_1000_output_tokens, ==, 2.0);
        }
        /* built-ins can be neither replaced nor removed */
        {
                _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;

                g_assert_cmpint(benchmark_new(BENCHMARK_DEFAULT_ID, 9.0, 9.0, &b), ==, 0);
                g_assert_cmpint(benchmark_registry_add(r, b, true, &err), ==, -EINVAL);
                g_assert_cmpint(err.code, ==, LAB_ERROR_INVALID_ARGUMENT);
                g_assert_nonnull(strstr(err.message, "built in"));
                g_assert_cmpfloat(benchmark_registry_get(r, BENCHMARK_DEFAULT_ID)->wh_per_1000_output_tokens,
                                  ==, 1.56384);
        }
        {
                _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;

                g_assert_cmpint(benchmark_registry_remove(r, BENCHMARK_DEFAULT_ID, &err), ==, -EINVAL);
                g_assert_cmpint(err.code, ==, LAB_ERROR_INVALID_ARGUMENT);
                g_assert_nonnull(benchmark_registry_get(r, BENCHMARK_DEFAULT_ID));
        }
        /* unknown ids */
        {
                _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;

                g_assert_cmpint(benchmark_registry_remove(r, "custom:nope", &err), ==, -ENOENT);
                g_assert_cmpint(err.code, ==, LAB_ERROR_NO_SUCH_BENCHMARK);
        }
        /* invalid coefficients and ids are refused even if built by hand */
        {
                _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;

                g_assert_cmpint(benchmark_new("custom:b", 0.1, 1.0, &b), ==, 0);
                b->wh_per_1000_input_tokens = NAN;
                g_assert_cmpint(benchmark_registry_add(r, b, true, &err), ==, -EINVAL);
                g_assert_cmpint(benchmark_new("bad id", 0.1, 1.0, &b), ==, -EINVAL);
                g_assert_cmpint(benchmark_new("custom:c", -1, 1.0, &b), ==, -EINVAL);
        }
        /* remove the custom one */
        {
                _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;

                g_assert_cmpint(benchmark_registry_remove(r, "custom:a", &err), ==, 0);
                g_assert_null(benchmark_registry_get(r, "custom:a"));
                g_assert_cmpuint(benchmark_registry_size(r), ==, 92);
        }
}

static void test_registry_to_json(void) {
        _cleanup_(benchmark_registry_freep) BenchmarkRegistry *r = load_builtins();
        _cleanup_json_ json_t *a = NULL;
        size_t i, defaults = 0;
        json_t *e;

        a = benchmark_registry_to_json(r, BENCHMARK_DEFAULT_ID);
        g_assert_cmpuint(json_array_size(a), ==, 92);
        json_array_foreach (a, i, e) {
                g_assert_true(json_is_boolean(json_object_get(e, "default")));
                g_assert_true(json_is_true(json_object_get(e, "builtin")));
                if (json_is_true(json_object_get(e, "default"))) {
                        defaults++;
                        g_assert_cmpstr(json_get_string(e, "id"), ==, BENCHMARK_DEFAULT_ID);
                }
        }
        g_assert_cmpuint(defaults, ==, 1);
}

/* ---- built-in files ------------------------------------------------------------------------------ */

static int load_text(BenchmarkRegistry *r, const char *contents, char **ret_message) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        g_autoptr(GError) gerr = NULL;
        g_autofree char *path = NULL;
        int fd, k;

        fd = g_file_open_tmp("test-benchmark-XXXXXX.json", &path, &gerr);
        g_assert_no_error(gerr);
        g_assert_true(g_file_set_contents(path, contents, -1, &gerr));
        close(fd);

        k = benchmark_registry_load_builtin_file(r, path, &err);
        if (k < 0)
                g_assert_nonnull(strstr(err.message, path));
        *ret_message = g_steal_pointer(&err.message);
        g_unlink(path);
        return k;
}

#define FILE_HEAD \
        "{\"format\": 1, \"source\": {\"id\": \"t\", \"name\": \"Test\", \"conversion\": \"none\"}, "

static void test_builtin_file_errors(void) {
        _cleanup_(benchmark_registry_freep) BenchmarkRegistry *r = benchmark_registry_new();
        char *msg = NULL;

        g_assert_cmpint(load_text(r,
                                  FILE_HEAD
                                  "\"benchmarks\": [{\"id\": \"t:a\", \"wh_per_1000_input_tokens\": 1, "
                                  "\"wh_per_1000_output_tokens\": 2, \"published\": {\"x\": 1}}]}",
                                  &msg),
                        ==, 1);
        g_assert_true(benchmark_registry_get(r, "t:a")->builtin);
        g_assert_cmpstr(benchmark_registry_get(r, "t:a")->source, ==, "Test");

        /* syntax error on line 2 */
        g_assert_cmpint(load_text(r, FILE_HEAD "\n\"benchmarks\": [,]}", &msg), ==, -EINVAL);
        g_assert_nonnull(strstr(msg, ":2:"));
        g_free(msg);

        /* a bad entry: the whole file is refused, nothing is added */
        g_assert_cmpint(load_text(r,
                                  FILE_HEAD
                                  "\"benchmarks\": [{\"id\": \"t:b\", \"wh_per_1000_input_tokens\": 1, "
                                  "\"wh_per_1000_output_tokens\": 2}, {\"id\": \"t:c\", \"oops\": 1}]}",
                                  &msg),
                        ==, -EINVAL);
        g_assert_nonnull(strstr(msg, "benchmarks[1]"));
        g_assert_nonnull(strstr(msg, "oops"));
        g_assert_null(benchmark_registry_get(r, "t:b"));
        g_free(msg);

        /* ids already loaded, or twice in one file */
        g_assert_cmpint(load_text(r,
                                  FILE_HEAD
                                  "\"benchmarks\": [{\"id\": \"t:a\", \"wh_per_1000_input_tokens\": 1, "
                                  "\"wh_per_1000_output_tokens\": 2}]}",
                                  &msg),
                        ==, -EINVAL);
        g_assert_nonnull(strstr(msg, "duplicate"));
        g_free(msg);

        g_assert_cmpint(load_text(r, "{\"format\": 2, \"source\": {}, \"benchmarks\": []}", &msg), ==,
                        -EINVAL);
        g_assert_nonnull(strstr(msg, "format"));
        g_free(msg);

        g_assert_cmpint(
                load_text(r, "{\"format\": 1, \"source\": {\"id\": \"t\"}, \"benchmarks\": []}", &msg), ==,
                -EINVAL);
        g_free(msg);

        g_assert_cmpuint(benchmark_registry_size(r), ==, 1);
        g_assert_cmpint(benchmark_registry_load_builtin_dir(r, "/nonexistent"), ==, -ENOENT);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/benchmark/id/valid", test_id_is_valid);
        g_test_add_func("/benchmark/id/sanitize", test_id_sanitize);
        g_test_add_func("/benchmark/json/from", test_from_json);
        g_test_add_func("/benchmark/json/calibrated", test_from_json_calibrated);
        g_test_add_func("/benchmark/json/strict", test_from_json_strict);
        g_test_add_func("/benchmark/registry/builtins", test_builtins);
        g_test_add_func("/benchmark/registry/rules", test_registry_rules);
        g_test_add_func("/benchmark/registry/to-json", test_registry_to_json);
        g_test_add_func("/benchmark/registry/builtin-file-errors", test_builtin_file_errors);

        return g_test_run();
}
