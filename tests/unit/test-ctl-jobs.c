/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Unit tests for the pure parts of llmlabctl's job verbs (client/ctl/ctl-job-show.c, the pane
 * syntax of ctl-parse.c and the shapes of ctl-result.c): pane specifications, the progress line
 * and its ETA, text wrapped into columns, the stable --json shapes of jobs and their tables. */

/* before glib.h: macro.h does not #undef CLAMP, glib.h does */
#include "ctl-job-show.h"
#include "ctl-output.h"
#include "ctl-parse.h"
#include "ctl-result.h"

#include "test-capture.h"

#include <glib.h>
#include <math.h>

/* --- panes ------------------------------------------------------------------------------------- */

static void test_pane_compact(void) {
        PaneSpec p;

        g_assert_cmpint(parse_pane_compact("qwen3:0.6b", &p), ==, 0);
        g_assert_cmpstr(p.model, ==, "qwen3:0.6b");
        g_assert_null(p.alias);
        g_assert_true(isnan(p.temperature));
        pane_spec_done(&p);

        g_assert_cmpint(parse_pane_compact("qwen3:0.6b:0.7", &p), ==, 0);
        g_assert_cmpstr(p.model, ==, "qwen3:0.6b");
        g_assert_cmpfloat(p.temperature, ==, 0.7);
        pane_spec_done(&p);

        g_assert_cmpint(parse_pane_compact("qwen3:0.6b@cold:0", &p), ==, 0);
        g_assert_cmpstr(p.model, ==, "qwen3:0.6b");
        g_assert_cmpstr(p.alias, ==, "cold");
        g_assert_cmpfloat(p.temperature, ==, 0);
        pane_spec_done(&p);

        g_assert_cmpint(parse_pane_compact("hf.co/org/model:Q4_K_M@hf", &p), ==, 0);
        g_assert_cmpstr(p.model, ==, "hf.co/org/model:Q4_K_M");
        g_assert_cmpstr(p.alias, ==, "hf");
        g_assert_true(isnan(p.temperature));
        pane_spec_done(&p);

        g_assert_cmpint(parse_pane_compact("llama3.2:1.5", &p), ==, 0);
        g_assert_cmpstr(p.model, ==, "llama3.2");
        g_assert_cmpfloat(p.temperature, ==, 1.5);
        pane_spec_done(&p);

        /* A number out of range is an error, not a tag. */
        g_assert_cmpint(parse_pane_compact("mistral:7", &p), ==, -ERANGE);
        g_assert_cmpint(parse_pane_compact("", &p), ==, -EINVAL);
        g_assert_cmpint(parse_pane_compact("@alias", &p), ==, -EINVAL);
        g_assert_cmpint(parse_pane_compact("model@", &p), ==, -EINVAL);
        g_assert_cmpint(parse_pane_compact(":0.5", &p), ==, -EINVAL);
}

static void test_pane_pairs(void) {
        const char *bad;
        size_t bad_len;
        PaneSpec p;

        g_assert_cmpint(parse_pane_pairs("model=qwen3:0.6b,alias=q,backend=llama,t=0.2,n=64,seed=-3", &p,
                                         &bad, &bad_len),
                        ==, 0);
        g_assert_cmpstr(p.model, ==, "qwen3:0.6b");
        g_assert_cmpstr(p.alias, ==, "q");
        g_assert_cmpstr(p.backend, ==, "llama");
        g_assert_cmpfloat(p.temperature, ==, 0.2);
        g_assert_cmpint(p.max_tokens, ==, 64);
        g_assert_true(p.seed_set);
        g_assert_cmpint(p.seed, ==, -3);
        pane_spec_done(&p);

        /* Commas inside a value, unless a known key follows. */
        g_assert_cmpint(
                parse_pane_pairs("model=m,system=Be brief, please, and kind,preset=x", &p, NULL, NULL), ==,
                0);
        g_assert_cmpstr(p.system_prompt, ==, "Be brief, please, and kind");
        g_assert_cmpstr(p.preset, ==, "x");
        pane_spec_done(&p);

        g_assert_cmpint(parse_pane_pairs("model=m,temperature=0.5,max-tokens=10", &p, NULL, NULL), ==, 0);
        g_assert_cmpfloat(p.temperature, ==, 0.5);
        g_assert_cmpint(p.max_tokens, ==, 10);
        pane_spec_done(&p);

        g_assert_cmpint(parse_pane_pairs("alias=x", &p, &bad, &bad_len), ==, -EINVAL);
        g_assert_null(bad);
        g_assert_cmpint(parse_pane_pairs("colour=red,model=m", &p, &bad, &bad_len), ==, -EINVAL);
        g_assert_cmpstr(bad, ==, "colour=red,model=m");
        g_assert_cmpuint(bad_len, ==, 6);
        g_assert_cmpint(parse_pane_pairs("model=m,t=3", &p, &bad, &bad_len), ==, -ERANGE);
        g_assert_cmpstr(bad, ==, "t=3");
        g_assert_cmpuint(bad_len, ==, 3);
        g_assert_cmpint(parse_pane_pairs("model=", &p, NULL, NULL), ==, -EINVAL);
        g_assert_cmpint(parse_pane_pairs("", &p, NULL, NULL), ==, -EINVAL);
}

/* An unknown key after a known one ends up in the value: an error in a model, backend or preset,
 * part of the text in an alias or a system prompt. */
static void test_pane_pairs_unknown_key_in_value(void) {
        const char *bad;
        size_t bad_len;
        PaneSpec p;

        g_assert_cmpint(parse_pane_pairs("model=m,colour=red", &p, &bad, &bad_len), ==, -EINVAL);
        g_assert_cmpstr(bad, ==, "model=m,colour=red");
        g_assert_cmpuint(bad_len, ==, 18);
        g_assert_cmpint(parse_pane_pairs("model=m,backend=b,x=1", &p, &bad, &bad_len), ==, -EINVAL);
        g_assert_cmpstr(bad, ==, "backend=b,x=1");
        g_assert_cmpint(parse_pane_pairs("model=m,alias=a,b", &p, NULL, NULL), ==, 0);
        g_assert_cmpstr(p.alias, ==, "a,b");
        pane_spec_done(&p);
}

/* --- progress ---------------------------------------------------------------------------------- */

static void test_eta(void) {
        g_assert_cmpuint(job_eta_usec(0, 5, 0, 1000), ==, UINT64_MAX);
        /* 2 runs in 10 s: 5 s each, 3 left = 15 s, 4 s into the third: 11 s. */
        g_assert_cmpuint(job_eta_usec(2, 5, 10 * USEC_PER_SEC, 14 * USEC_PER_SEC), ==, 11 * USEC_PER_SEC);
        g_assert_cmpuint(job_eta_usec(2, 5, 10 * USEC_PER_SEC, 10 * USEC_PER_SEC), ==, 15 * USEC_PER_SEC);
        /* Slower than the mean so far: 0, never negative. */
        g_assert_cmpuint(job_eta_usec(1, 2, 1 * USEC_PER_SEC, 9 * USEC_PER_SEC), ==, 0);
        g_assert_cmpuint(job_eta_usec(5, 5, 10, 20), ==, 0);
}

static void test_progress_line(void) {
        JobProgress p = {
                .unit = "runs",
                .done = 3,
                .total = 6,
                .elapsed_usec = 12 * USEC_PER_SEC,
                .done_usec = 12 * USEC_PER_SEC,
                .current = 4,
                .current_state = "decoding",
                .current_chars = 1200,
                .chars_per_token = 4.0,
        };
        g_autofree char *wide = job_progress_line(&p, 80), *narrow = NULL, *tiny = NULL, *first = NULL,
                        *chars = NULL, *cancel = NULL;

        /* The bar takes what is left, at most 30 columns. */
        g_assert_cmpstr(wide, ==,
                        "[#############-------------] 3/6 runs · ETA 12.0 s · run 4 decoding, ~300 tokens");
        g_assert_cmpuint(utf8_width(wide), ==, 80);
        narrow = job_progress_line(&p, 50);
        g_assert_cmpstr(narrow, ==, "[#############-------------] 3/6 runs · ETA 12.0 s");
        g_assert_cmpuint(utf8_width(narrow), ==, 50);
        tiny = job_progress_line(&p, 12);
        g_assert_cmpstr(tiny, ==, "3/6 runs");

        p.done = 0;
        p.current = 1;
        p.current_state = "queued";
        first = job_progress_line(&p, 80);
        g_assert_cmpstr(first, ==, "[------------------------------] 0/6 runs · run 1 queued");

        p.current_state = "decoding";
        p.chars_per_token = NAN;
        chars = job_progress_line(&p, 80);
        g_assert_cmpstr(chars, ==,
                        "[------------------------------] 0/6 runs · run 1 decoding, 1200 characters");

        p.cancelling = true;
        p.unit = "steps";
        cancel = job_progress_line(&p, 80);
        g_assert_cmpstr(cancel, ==, "[------------------------------] 0/6 steps · cancelling…");
}

/* --- columns ----------------------------------------------------------------------------------- */

static void assert_lines(const Lines *l, const char *const *want) {
        size_t n = 0;

        for (; want[n]; n++) {
                g_assert_cmpuint(n, <, l->n);
                g_assert_cmpstr(l->text[n], ==, want[n]);
        }
        g_assert_cmpuint(l->n, ==, n);
}

static void test_wrap(void) {
        Lines l = {};

        g_assert_cmpint(lines_wrap(&l, "The quick brown fox jumps over the lazy dog", 10, false), ==, 0);
        assert_lines(&l,
                     (const char *const[]){"The quick", "brown fox", "jumps over", "the lazy", "dog", NULL});
        lines_done(&l);

        /* Newlines, a trailing newline, a word longer than the column, tabs, UTF-8 by code points. */
        g_assert_cmpint(lines_wrap(&l, "a\n\nsupercalifragilistic\tx\nÄÖÜäöü ß\n", 8, true), ==, 0);
        assert_lines(&l,
                     (const char *const[]){"a", "", "supercal", "ifragili", "stic x", "ÄÖÜäöü ß", "", NULL});
        g_assert_true(l.dim[0] && l.dim[6]);
        lines_done(&l);

        g_assert_cmpint(lines_wrap(&l, "", 8, false), ==, 0);
        g_assert_cmpuint(l.n, ==, 0);
        g_assert_cmpint(lines_wrap(&l, "x", 0, false), ==, -EINVAL);
        lines_done(&l);
}

static void test_columns(void) {
        Lines a = {}, b = {};
        Lines *panes[] = {&a, &b};
        g_autofree char *out = NULL, *dim = NULL;

        g_assert_cmpuint(columns_width(120, 3), ==, 38);
        g_assert_cmpuint(columns_width(80, 3), ==, 24);
        g_assert_cmpuint(columns_width(60, 3), ==, 0);
        g_assert_cmpuint(columns_width(SIZE_MAX, 2), ==, 0);
        g_assert_cmpuint(columns_width(100, 0), ==, 0);

        g_assert_cmpint(lines_wrap(&a, "one two three", 20, false), ==, 0);
        g_assert_cmpint(lines_wrap(&b, "α\nβ\nγ", 20, true), ==, 0);
        CAPTURE(out, f, g_assert_cmpint(columns_print(f, panes, 2, 20, 0, 3, "<", ">", false), ==, 0));
        g_assert_cmpstr(out, ==,
                        "one two three        │ <α>\n"
                        "                     │ <β>\n"
                        "                     │ <γ>\n");
        /* A window of rows, cleared for redrawing. */
        CAPTURE(dim, f, g_assert_cmpint(columns_print(f, panes, 2, 20, 2, 1, "", "", true), ==, 0));
        g_assert_cmpstr(dim, ==, "\x1b[K                     │ γ\n");
        lines_done(&a);
        lines_done(&b);
}

/* --- JSON shapes ------------------------------------------------------------------------------- */

static void test_shape_kinds(void) {
        static const JsonShape kid[] = {SHAPE_LEAF("a"), SHAPE_END};
        static const JsonShape shape[] = {
                SHAPE_LEAF("x"),
                SHAPE_OBJECT("o", kid),
                SHAPE_OBJECT_OR_NULL("on", kid),
                SHAPE_ARRAY("arr", kid),
                SHAPE_END,
        };
        json_t *src = json_loads("{\"extra\": 1, \"arr\": [{\"b\": 2}, 3], \"on\": {\"a\": 5}}", 0, NULL);
        json_t *empty = json_shape_build(shape, NULL), *full = json_shape_build(shape, src);
        g_autofree char *e = json_dumps(empty, JSON_COMPACT | JSON_PRESERVE_ORDER),
                        *f = json_dumps(full, JSON_COMPACT | JSON_PRESERVE_ORDER);

        g_assert_cmpstr(e, ==, "{\"x\":null,\"o\":{\"a\":null},\"on\":null,\"arr\":[]}");
        g_assert_cmpstr(f, ==,
                        "{\"x\":null,\"o\":{\"a\":null},\"on\":{\"a\":5},\"arr\":[{\"a\":null,\"b\":2},3],"
                        "\"extra\":1}");
        json_decref(empty);
        json_decref(full);
        json_decref(src);
}

static void test_job_json_batch(void) {
        json_t *summary = json_loads("{\"kind\": \"batch\", \"n\": 2, \"warmup\": 1, \"model\": \"m\", "
                                     "\"total_wh\": {\"n\": 2, \"mean\": 0.5}, \"runs\": [4, 5, 6]}",
                                     0, NULL);
        json_t *j = job_json_build(7, "batch", "done", NULL, NULL, summary);
        json_t *s = json_object_get(j, "summary");
        g_autofree char *head = NULL;

        g_assert_nonnull(j);
        head = json_dumps(json_object_get(j, "error"), JSON_ENCODE_ANY);
        g_assert_cmpstr(head, ==, "null");
        g_assert_cmpint(json_integer_value(json_object_get(j, "job")), ==, 7);
        g_assert_cmpstr(json_string_value(json_object_get(j, "kind")), ==, "batch");
        g_assert_cmpstr(json_string_value(json_object_get(j, "state")), ==, "done");
        g_assert_cmpuint(json_object_size(j), ==, 5);
        /* Every documented key, null when absent; statistics objects have all eleven keys. */
        g_assert_cmpuint(json_object_size(s), ==, 19);
        g_assert_true(json_is_null(json_object_get(s, "wh_per_1000_etokens")));
        g_assert_true(json_is_null(json_object_get(s, "idle_w")));
        g_assert_cmpuint(json_object_size(json_object_get(s, "total_wh")), ==, 11);
        g_assert_cmpfloat(json_real_value(json_object_get(json_object_get(s, "total_wh"), "mean")), ==, 0.5);
        g_assert_true(json_is_null(json_object_get(json_object_get(s, "total_wh"), "ci95_low")));
        g_assert_cmpuint(json_array_size(json_object_get(s, "runs")), ==, 3);
        json_decref(j);

        j = job_json_build(8, "batch", "failed", "org.llmlab.Lab1.Error.Failed", "boom", NULL);
        g_assert_cmpstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")), ==,
                        "boom");
        g_assert_cmpuint(json_object_size(json_object_get(j, "summary")), ==, 19);
        json_decref(j);
        json_decref(summary);
}

static void test_job_json_others(void) {
        json_t *cross = json_loads("{\"steps\": [{\"step\": 1, \"crossed\": false}]}", 0, NULL);
        json_t *j = job_json_build(1, "crossover", "done", NULL, NULL, cross), *step;

        step = json_array_get(json_object_get(json_object_get(j, "summary"), "steps"), 0);
        g_assert_cmpuint(json_object_size(step), ==, 11);
        g_assert_true(json_is_false(json_object_get(step, "crossed")));
        g_assert_cmpuint(json_object_size(json_object_get(j, "summary")), ==, 11);
        json_decref(j);
        json_decref(cross);

        j = job_json_build(2, "calibration", "cancelled", NULL, NULL, NULL);
        g_assert_cmpuint(json_object_size(json_object_get(j, "summary")), ==, 9);
        json_decref(j);

        j = job_json_build(3, "comparison", "done", NULL, NULL, NULL);
        g_assert_cmpuint(json_object_size(json_object_get(j, "summary")), ==, 3);
        g_assert_cmpuint(json_array_size(json_object_get(json_object_get(j, "summary"), "panes")), ==, 0);
        json_decref(j);
}

/* --- tables ------------------------------------------------------------------------------------ */

static const char batch_json[] =
        "{\"kind\": \"batch\", \"model\": \"qwen3:0.6b\", \"n\": 4, \"warmup\": 1, \"requested\": 4,"
        " \"failed\": 0, \"bust_cache\": true, \"idle_w\": 8.0,"
        " \"total_wh\": {\"n\": 4, \"mean\": 0.00332, \"median\": 0.00331, \"std\": 0.0001, \"cv\": 0.0301,"
        "  \"ci95_low\": 0.00316, \"ci95_high\": 0.00348, \"p5\": 0.00321, \"p95\": 0.00345,"
        "  \"min\": 0.0032, \"max\": 0.00346},"
        " \"output_tokens\": {\"n\": 4, \"mean\": 20, \"median\": 20, \"std\": 0, \"cv\": 0,"
        "  \"ci95_low\": 20, \"ci95_high\": 20, \"p5\": 20, \"p95\": 20, \"min\": 20, \"max\": 20},"
        " \"ttft_ms\": {\"n\": 4, \"mean\": 77.04, \"median\": 77.0, \"std\": 0.36, \"cv\": 0.0047,"
        "  \"ci95_low\": 76.5, \"ci95_high\": 77.6, \"p5\": 76.7, \"p95\": 77.4, \"min\": 76.7, \"max\": "
        "77.4}}";

static void test_show_batch(void) {
        json_t *s = json_loads(batch_json, 0, NULL);
        g_autofree char *wide = NULL, *narrow = NULL;

        g_assert_nonnull(s);
        CAPTURE(wide, f, g_assert_cmpint(job_show_batch(f, s, SIZE_MAX, true), ==, 0));
        g_assert_cmpstr(wide, ==,
                        "Batch: 4 of 4 runs of qwen3:0.6b finished, after 1 warm-up run (left out).\n"
                        "Idle power measured before the batch: 8.00 W.\n"
                        "Prompt cache busted: every prompt began with a unique line.\n"
                        "\n"
                        "METRIC         N      MEAN    MEDIAN      STD       CV               95% CI        "
                        "P5       P95       MIN       MAX\n"
                        "Energy         4  3.32 mWh  3.31 mWh  100 µWh   3.01 %  3.16 mWh … 3.48 mWh  3.21 "
                        "mWh  3.45 mWh  3.20 mWh  3.46 mWh\n"
                        "TTFT           4   77.0 ms   77.0 ms   360 µs  0.470 %    76.5 ms … 77.6 ms   76.7 "
                        "ms   77.4 ms   76.7 ms   77.4 ms\n"
                        "Output tokens  4        20        20        0      0 %              20 … 20        "
                        "20        20        20        20\n");
        /* Narrower: mean, std, CV and the confidence interval only. */
        CAPTURE(narrow, f, g_assert_cmpint(job_show_batch(f, s, 70, false), ==, 0));
        g_assert_cmpstr(narrow, ==,
                        "Batch: 4 of 4 runs of qwen3:0.6b finished, after 1 warm-up run (left out).\n"
                        "Idle power measured before the batch: 8.00 W.\n"
                        "Prompt cache busted: every prompt began with a unique line.\n"
                        "\n"
                        "Energy         3.32 mWh  100 µWh   3.01 %  3.16 mWh … 3.48 mWh\n"
                        "TTFT            77.0 ms   360 µs  0.470 %    76.5 ms … 77.6 ms\n"
                        "Output tokens        20        0      0 %              20 … 20\n"
                        "(Columns left out to fit the terminal; --json has every statistic.)\n");
        json_decref(s);
}

static void test_show_crossover(void) {
        json_t *s = json_loads(
                "{\"model\": \"m\", \"num_ctx\": 4096, \"max_tokens\": 20, \"crossed\": true,"
                " \"crossover_step\": 2, \"crossover_input_tokens\": 224.4, \"steps\": ["
                "{\"step\": 1, \"target_tokens\": 50, \"input_tokens\": 61, \"output_tokens\": 20,"
                " \"prefill_wh\": 0.000915, \"decode_wh\": 0.00238, \"total_wh\": 0.00375,"
                " \"wh_per_1000_etokens\": 0.187, \"crossed\": false},"
                "{\"step\": 2, \"target_tokens\": 250, \"input_tokens\": 261, \"output_tokens\": 20,"
                " \"prefill_wh\": 0.00271, \"decode_wh\": 0.00238, \"total_wh\": 0.00557,"
                " \"wh_per_1000_etokens\": 0.279, \"crossed\": true}]}",
                0, NULL);
        json_t *none =
                json_loads("{\"model\": \"m\", \"num_ctx\": 2048, \"max_tokens\": 8, \"crossed\": false,"
                           " \"steps\": [{\"step\": 1, \"input_tokens\": 90, \"crossed\": false}]}",
                           0, NULL);
        g_autofree char *out = NULL, *out2 = NULL;

        CAPTURE(out, f, g_assert_cmpint(job_show_crossover(f, s, SIZE_MAX, true), ==, 0));
        g_assert_cmpstr(out, ==,
                        "Crossover finder: m, num_ctx pinned at 4096, at most 20 output tokens.\n"
                        "\n"
                        "STEP  TARGET  INPUT  OUTPUT   PREFILL    DECODE     TOTAL    Wh/1K  CROSSED\n"
                        "   1      50     61      20   915 µWh  2.38 mWh  3.75 mWh  187 mWh  no\n"
                        "   2     250    261      20  2.71 mWh  2.38 mWh  5.57 mWh  279 mWh  yes\n"
                        "\n"
                        "Prefill energy overtakes decode energy at about 224 input tokens (between steps 1 "
                        "and 2).\n");
        CAPTURE(out2, f, g_assert_cmpint(job_show_crossover(f, none, SIZE_MAX, false), ==, 0));
        g_assert_cmpstr(
                out2, ==,
                "Crossover finder: m, num_ctx pinned at 2048, at most 8 output tokens.\n"
                "\n"
                "1  -  90  -  -  -  -  -  no\n"
                "\n"
                "No crossover: decode cost more than prefill at every step, up to 90 input tokens.\n");
        json_decref(s);
        json_decref(none);
}

static void test_show_calibration(void) {
        json_t *s =
                json_loads("{\"model\": \"qwen3:0.6b\", \"benchmark\": \"calibrated:qwen3:0.6b\","
                           " \"wh_per_1000_input_tokens\": 0.00903, \"wh_per_1000_output_tokens\": 0.128,"
                           " \"intercept_wh\": 0.000596, \"r2\": 0.99987, \"n\": 4}",
                           0, NULL);
        json_t *unfinished = json_loads("{\"model\": \"m\"}", 0, NULL);
        g_autofree char *out = NULL, *out2 = NULL;

        CAPTURE(out, f, g_assert_cmpint(job_show_calibration(f, s), ==, 0));
        g_assert_cmpstr(out, ==,
                        "             Benchmark: calibrated:qwen3:0.6b\n"
                        "                 Model: qwen3:0.6b\n"
                        " Per 1000 input tokens: 9.03 mWh\n"
                        "Per 1000 output tokens: 128 mWh\n"
                        "   Per run (intercept): 596 µWh\n"
                        "                   Fit: R² 0.9999 over 4 runs\n"
                        "\n"
                        "Estimates can use it: llmlabctl run-energy --measure=estimate "
                        "--benchmark=calibrated:qwen3:0.6b …\n");
        CAPTURE(out2, f, g_assert_cmpint(job_show_calibration(f, unfinished), ==, 0));
        g_assert_cmpstr(out2, ==, "No fit: the calibration did not finish.\n");
        json_decref(s);
        json_decref(unfinished);
}

static void test_show_panes(void) {
        json_t *panes = json_loads(
                "[{\"pane\": 0, \"model\": \"qwen3:0.6b\", \"alias\": \"cold\", \"state\": \"done\","
                "  \"prompt_tokens\": 8, \"completion_tokens\": 30, \"ttft_ms\": 66.5, \"tokens_per_s\": "
                "68.9,"
                "  \"e2e_ms\": 501},"
                " {\"pane\": 1, \"model\": \"gemma3:270m\", \"alias\": \"gemma3:270m\", \"state\": \"not "
                "started\","
                "  \"error\": \"No such model\"}]",
                0, NULL);
        json_t *measured = json_loads(
                "[{\"pane\": 0, \"model\": \"m\", \"state\": \"done\", \"total_wh\": 0.002}]", 0, NULL);
        g_autofree char *out = NULL, *out2 = NULL;

        CAPTURE(out, f, g_assert_cmpint(job_show_panes(f, panes, SIZE_MAX, true), ==, 0));
        g_assert_cmpstr(out, ==,
                        "PANE  NAME         MODEL        STATE        PROMPT  COMPLETION     TTFT       "
                        "SPEED    TIME\n"
                        "   1  cold         qwen3:0.6b   done              8          30  66.5 ms  68.9 "
                        "tok/s  501 ms\n"
                        "   2  gemma3:270m  gemma3:270m  not started       -           -        -           "
                        "-       -\n"
                        "Pane 2: No such model\n");
        CAPTURE(out2, f, g_assert_cmpint(job_show_panes(f, measured, SIZE_MAX, true), ==, 0));
        g_assert_cmpstr(out2, ==,
                        "PANE  NAME  MODEL  STATE  PROMPT  COMPLETION  TTFT  SPEED  TIME    ENERGY\n"
                        "   1  m     m      done        -           -     -      -     -  2.00 mWh\n");
        json_decref(panes);
        json_decref(measured);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/ctl-jobs/pane/compact", test_pane_compact);
        g_test_add_func("/ctl-jobs/pane/pairs", test_pane_pairs);
        g_test_add_func("/ctl-jobs/pane/unknown-key-in-value", test_pane_pairs_unknown_key_in_value);
        g_test_add_func("/ctl-jobs/progress/eta", test_eta);
        g_test_add_func("/ctl-jobs/progress/line", test_progress_line);
        g_test_add_func("/ctl-jobs/columns/wrap", test_wrap);
        g_test_add_func("/ctl-jobs/columns/print", test_columns);
        g_test_add_func("/ctl-jobs/json/shape-kinds", test_shape_kinds);
        g_test_add_func("/ctl-jobs/json/batch", test_job_json_batch);
        g_test_add_func("/ctl-jobs/json/others", test_job_json_others);
        g_test_add_func("/ctl-jobs/show/batch", test_show_batch);
        g_test_add_func("/ctl-jobs/show/crossover", test_show_crossover);
        g_test_add_func("/ctl-jobs/show/calibration", test_show_calibration);
        g_test_add_func("/ctl-jobs/show/panes", test_show_panes);
        return g_test_run();
}
