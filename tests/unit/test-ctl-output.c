/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Unit tests for llmlabctl's pure helpers: numbers with units, tables that fit a width, key/value
 * blocks, colour rules, terminal sanitizing, option values, and the stable --json shape of a run
 * (client/ctl/ctl-output.c, ctl-parse.c, ctl-result.c, ctl-run-show.c). */

/* before glib.h: macro.h does not #undef CLAMP, glib.h does */
#include "ctl-output.h"
#include "ctl-parse.h"
#include "ctl-result.h"
#include "ctl-run-show.h"

#include "test-capture.h"

#include <glib.h>
#include <math.h>

/* --- numbers with units ------------------------------------------------------------------------ */

static void test_format_energy(void) {
        char b[FORMAT_MAX];

        g_assert_cmpstr(format_energy_wh(b, 0.0173), ==, "17.3 mWh");
        g_assert_cmpstr(format_energy_wh(b, 0.00074), ==, "740 µWh");
        g_assert_cmpstr(format_energy_wh(b, 1.5), ==, "1.50 Wh");
        g_assert_cmpstr(format_energy_wh(b, 0.27), ==, "270 mWh");
        g_assert_cmpstr(format_energy_wh(b, 1234), ==, "1.23 kWh");
        g_assert_cmpstr(format_energy_wh(b, 0), ==, "0 Wh");
        g_assert_cmpstr(format_energy_wh(b, -0.002), ==, "-2.00 mWh");
        g_assert_cmpstr(format_energy_wh(b, NAN), ==, "-");
        g_assert_cmpstr(format_energy_wh(b, INFINITY), ==, "-");
        /* Rounding up to the next prefix. */
        g_assert_cmpstr(format_energy_wh(b, 0.9996), ==, "1.00 Wh");
        g_assert_cmpstr(format_energy_wh(b, 0.0009999), ==, "1.00 mWh");
        /* Rounding that adds a digit keeps three significant digits. */
        g_assert_cmpstr(format_energy_wh(b, 0.009996), ==, "10.0 mWh");
        /* Below the smallest prefix. */
        g_assert_cmpstr(format_energy_wh(b, 1.234e-7), ==, "0.123 µWh");
        /* Above the largest. */
        g_assert_cmpstr(format_energy_wh(b, 2.5e9), ==, "2500 MWh");
        g_assert_cmpstr(format_energy_wh(b, 1e-3), ==, "1.00 mWh");
        g_assert_cmpstr(format_energy_wh(b, 1000), ==, "1.00 kWh");
}

static void test_format_other_units(void) {
        char b[FORMAT_MAX];

        g_assert_cmpstr(format_power_w(b, 8), ==, "8.00 W");
        g_assert_cmpstr(format_power_w(b, 0.75), ==, "750 mW");
        g_assert_cmpstr(format_power_w(b, 1200), ==, "1.20 kW");
        g_assert_cmpstr(format_energy_j(b, 0.97), ==, "970 mJ");
        g_assert_cmpstr(format_energy_j(b, 3600), ==, "3.60 kJ");
        g_assert_cmpstr(format_co2_g(b, 0.0077), ==, "7.70 mg CO2");
        g_assert_cmpstr(format_co2_g(b, 1.234), ==, "1.23 g CO2");
        g_assert_cmpstr(format_co2_g(b, 4560), ==, "4.56 kg CO2");
        g_assert_cmpstr(format_co2_g(b, 0), ==, "0 g CO2");
        g_assert_cmpstr(format_rate(b, 168.44), ==, "168.4 tok/s");
        g_assert_cmpstr(format_rate(b, NAN), ==, "-");
        g_assert_cmpstr(format_bytes(b, 512), ==, "512 B");
        g_assert_cmpstr(format_bytes(b, 522653000), ==, "523 MB");
        g_assert_cmpstr(format_bytes(b, 1200000000), ==, "1.20 GB");
        g_assert_cmpstr(format_bytes(b, -1), ==, "-");
        g_assert_cmpstr(format_count(b, 42), ==, "42");
        g_assert_cmpstr(format_count(b, 0), ==, "0");
        g_assert_cmpstr(format_count(b, -1), ==, "-");
        g_assert_cmpstr(format_real(b, 445), ==, "445");
        g_assert_cmpstr(format_real(b, 0.041), ==, "0.0410");
        g_assert_cmpstr(format_real(b, 12.345), ==, "12.3");
        g_assert_cmpstr(format_real(b, 0), ==, "0");
        g_assert_cmpstr(format_timestamp_us(b, 0), ==, "-");
}

static void test_format_duration(void) {
        char b[FORMAT_MAX];

        g_assert_cmpstr(format_duration_ms(b, 0.512), ==, "512 µs");
        g_assert_cmpstr(format_duration_ms(b, 0.00179), ==, "1.79 µs");
        g_assert_cmpstr(format_duration_ms(b, 0.9999), ==, "1.00 ms");
        g_assert_cmpstr(format_duration_ms(b, 5.9), ==, "5.90 ms");
        g_assert_cmpstr(format_duration_ms(b, 41.23), ==, "41.2 ms");
        g_assert_cmpstr(format_duration_ms(b, 380.1), ==, "380 ms");
        g_assert_cmpstr(format_duration_ms(b, 999.9), ==, "1.00 s");
        g_assert_cmpstr(format_duration_ms(b, 1250.3), ==, "1.25 s");
        g_assert_cmpstr(format_duration_ms(b, 1651), ==, "1.65 s");
        g_assert_cmpstr(format_duration_ms(b, 12345), ==, "12.3 s");
        g_assert_cmpstr(format_duration_ms(b, 123000), ==, "2 min 03 s");
        g_assert_cmpstr(format_duration_ms(b, 3723000), ==, "1 h 02 min");
        g_assert_cmpstr(format_duration_ms(b, 0), ==, "0 ms");
        g_assert_cmpstr(format_duration_ms(b, -1), ==, "-");
        g_assert_cmpstr(format_duration_ms(b, NAN), ==, "-");
}

/* --- terminal ---------------------------------------------------------------------------------- */

static void test_colors(void) {
        g_assert_true(colors_enabled_for(true, NULL, "xterm-256color"));
        g_assert_true(colors_enabled_for(true, "", "xterm"));
        g_assert_false(colors_enabled_for(true, "1", "xterm"));
        g_assert_false(colors_enabled_for(true, NULL, "dumb"));
        g_assert_false(colors_enabled_for(false, NULL, "xterm"));
        g_assert_true(colors_enabled_for(true, NULL, NULL));
}

static void test_sanitize(void) {
        g_autofree char *a = terminal_sanitize("plain\ttext\n", 11);
        g_autofree char *b = terminal_sanitize("a\x1b[31mred", 9);
        g_autofree char *c = terminal_sanitize("x\xc2\x9by", 4); /* C1 CSI */
        g_autofree char *d = terminal_sanitize("\xff\xe2\x82", 3);
        g_autofree char *e = terminal_sanitize("17 \xc3\x97 23 \xe2\x80\xa6", 12);
        g_autofree char *f = terminal_sanitize("a\0b", 3);

        g_assert_cmpstr(a, ==, "plain\ttext\n");
        g_assert_cmpstr(b, ==, "a\xef\xbf\xbd[31mred");
        g_assert_cmpstr(c, ==, "x\xef\xbf\xbdy");
        g_assert_cmpstr(d, ==, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        g_assert_cmpstr(e, ==, "17 \xc3\x97 23 \xe2\x80\xa6");
        g_assert_cmpstr(f, ==,
                        "a\xef\xbf\xbd"
                        "b");
}

static void test_utf8(void) {
        g_assert_cmpuint(utf8_width("abc"), ==, 3);
        g_assert_cmpuint(utf8_width("µWh…"), ==, 4);
        g_assert_cmpuint(utf8_width(""), ==, 0);
        g_assert_true(utf8_is_valid("17 \xc3\x97 23", 8));
        g_assert_false(utf8_is_valid("a\0b", 3));
        g_assert_false(utf8_is_valid("\xc3", 1));            /* truncated */
        g_assert_false(utf8_is_valid("\xc0\xaf", 2));        /* overlong */
        g_assert_false(utf8_is_valid("\xed\xa0\x80", 3));    /* surrogate */
        g_assert_true(utf8_is_valid("\xf0\x9f\x98\x80", 4)); /* emoji */
}

/* --- tables ------------------------------------------------------------------------------------ */

static Table *sample_table(void) {
        Table *t = table_new("NAME", "BACKEND", "SIZE", NULL);

        g_assert_nonnull(t);
        table_set_align_right(t, 2, true);
        g_assert_cmpint(table_add_row(t, "qwen3:0.6b", "ollama", "523 MB"), ==, 0);
        g_assert_cmpint(table_add_row(t, "llama3.2:latest-instruct", "llama", "2.02 GB"), ==, 0);
        g_assert_cmpint(table_add_row(t, "x", NULL, "1 B"), ==, 0);
        return t;
}

static void test_table_natural(void) {
        g_autofree char *out = NULL;
        Table *t = sample_table();

        g_assert_cmpuint(table_get_rows(t), ==, 3);
        g_assert_cmpuint(table_get_columns(t), ==, 3);
        CAPTURE(out, f, g_assert_cmpint(table_print(t, f, SIZE_MAX, true), ==, 0));
        g_assert_cmpstr(out, ==,
                        "NAME                      BACKEND     SIZE\n"
                        "qwen3:0.6b                ollama    523 MB\n"
                        "llama3.2:latest-instruct  llama    2.02 GB\n"
                        "x                         -            1 B\n");
        table_free(t);
}

static void test_table_no_legend(void) {
        g_autofree char *out = NULL;
        Table *t = sample_table();

        CAPTURE(out, f, g_assert_cmpint(table_print(t, f, SIZE_MAX, false), ==, 0));
        g_assert_cmpstr(out, ==,
                        "qwen3:0.6b                ollama   523 MB\n"
                        "llama3.2:latest-instruct  llama   2.02 GB\n"
                        "x                         -           1 B\n");
        table_free(t);
}

static void test_table_fit(void) {
        g_autofree char *out = NULL, *tiny = NULL;
        Table *t = sample_table();

        /* 42 columns natural; 30 available: NAME (the widest) shrinks by 12 to 12. */
        CAPTURE(out, f, g_assert_cmpint(table_print(t, f, 30, true), ==, 0));
        g_assert_cmpstr(out, ==,
                        "NAME          BACKEND     SIZE\n"
                        "qwen3:0.6b    ollama    523 MB\n"
                        "llama3.2:la…  llama    2.02 GB\n"
                        "x             -            1 B\n");
        table_free(t);

        /* Far too narrow: columns stop at their header width (or "x…"), right-aligned numbers are
         * never shortened, and the lines overflow. */
        t = sample_table();
        CAPTURE(tiny, f, g_assert_cmpint(table_print(t, f, 5, true), ==, 0));
        g_assert_cmpstr(tiny, ==,
                        "NAME  BACKEND     SIZE\n"
                        "qwe…  ollama    523 MB\n"
                        "lla…  llama    2.02 GB\n"
                        "x     -            1 B\n");
        table_free(t);
}

static void test_table_fit_lines(void) {
        g_autofree char *out = NULL;
        g_auto(GStrv) lines = NULL;
        Table *t = sample_table();

        CAPTURE(out, f, g_assert_cmpint(table_print(t, f, 30, true), ==, 0));
        lines = g_strsplit(out, "\n", -1);
        for (size_t i = 0; lines[i] && *lines[i]; i++)
                g_assert_cmpuint(g_utf8_strlen(lines[i], -1), <=, 30);
        g_assert_cmpstr(lines[2], ==, "llama3.2:la…  llama    2.02 GB");
        table_free(t);
}

static void test_table_no_ellipsize_and_sanitize(void) {
        g_autofree char *out = NULL;
        Table *t = table_new("ID", "TITLE", NULL);

        table_set_ellipsize(t, 0, false);
        g_assert_cmpint(table_add_row(t, "a-long-identifier", "Hello\x1b[2Jworld\nnext"), ==, 0);
        g_assert_cmpint(table_add_cellf(t, "%d", 7), ==, 0);
        g_assert_cmpint(table_add_cell(t, ""), ==, 0);
        CAPTURE(out, f, g_assert_cmpint(table_print(t, f, 25, true), ==, 0));
        /* ID keeps its width; TITLE takes the rest (25 - 17 - 2 = 6); no trailing spaces. */
        g_assert_cmpstr(out, ==,
                        "ID                 TITLE\n"
                        "a-long-identifier  Hello…\n"
                        "7\n");
        table_free(t);
}

static void test_table_incomplete_row(void) {
        g_autofree char *out = NULL;
        Table *t = table_new("A", "B", NULL);

        g_assert_cmpint(table_add_cell(t, "only one"), ==, 0);
        CAPTURE(out, f, g_assert_cmpint(table_print(t, f, SIZE_MAX, true), ==, -EINVAL));
        table_free(t);
        g_assert_null(table_free(NULL));
}

/* --- key/value blocks -------------------------------------------------------------------------- */

static void test_kv(void) {
        g_autofree char *out = NULL;
        KvBlock *b = kv_new();

        g_assert_cmpint(kv_add(b, "Version", "0.1.0"), ==, 0);
        g_assert_cmpint(kv_add(b, "Backends", "ollama (ollama)\nllama (openai)"), ==, 0);
        g_assert_cmpint(kv_addf(b, "Queue", "%d waiting", 2), ==, 0);
        g_assert_cmpint(kv_add(b, "Region", NULL), ==, 0);
        g_assert_cmpuint(kv_size(b), ==, 4);
        CAPTURE(out, f, g_assert_cmpint(kv_print(b, f), ==, 0));
        g_assert_cmpstr(out, ==,
                        " Version: 0.1.0\n"
                        "Backends: ollama (ollama)\n"
                        "          llama (openai)\n"
                        "   Queue: 2 waiting\n"
                        "  Region: -\n");
        kv_free(b);
}

static void test_string_append(void) {
        g_autofree char *s = NULL;

        g_assert_cmpint(string_append(&s, ", ", "%s", "a"), ==, 0);
        g_assert_cmpstr(s, ==, "a");
        g_assert_cmpint(string_append(&s, ", ", "%d", 2), ==, 0);
        g_assert_cmpstr(s, ==, "a, 2");
}

/* --- JSON -------------------------------------------------------------------------------------- */

static void test_json_format(void) {
        g_autofree char *pretty = NULL, *compact = NULL;
        json_t *v = json_pack("{s:i, s:[s]}", "a", 1, "b", "x");

        g_assert_cmpint(json_format_from_string("pretty"), ==, JSON_PRETTY);
        g_assert_cmpint(json_format_from_string("short"), ==, JSON_SHORT);
        g_assert_cmpint(json_format_from_string("off"), ==, JSON_OFF);
        g_assert_cmpint(json_format_from_string("yes"), ==, _JSON_FORMAT_INVALID);
        g_assert_cmpint(json_format_from_string(NULL), ==, _JSON_FORMAT_INVALID);

        CAPTURE(compact, f, g_assert_cmpint(json_print(f, v, JSON_SHORT), ==, 0));
        g_assert_cmpstr(compact, ==, "{\"a\":1,\"b\":[\"x\"]}\n");
        CAPTURE(pretty, f, g_assert_cmpint(json_print(f, v, JSON_PRETTY), ==, 0));
        g_assert_cmpstr(pretty, ==, "{\n  \"a\": 1,\n  \"b\": [\n    \"x\"\n  ]\n}\n");
        json_decref(v);
}

static void test_snake_keys(void) {
        json_t *props = json_pack("{s:s, s:i, s:i, s:[]}", "Version", "0.1.0", "SampleIntervalMs", 10,
                                  "QueueLength", 0, "EnergySources");
        json_t *j = json_object_snake_keys(props);
        g_autofree char *s = camel_to_snake("DefaultBenchmark");

        g_assert_cmpstr(s, ==, "default_benchmark");
        g_assert_nonnull(json_object_get(j, "version"));
        g_assert_nonnull(json_object_get(j, "sample_interval_ms"));
        g_assert_nonnull(json_object_get(j, "queue_length"));
        g_assert_nonnull(json_object_get(j, "energy_sources"));
        g_assert_cmpuint(json_object_size(j), ==, 4);
        json_t *array = json_array();
        g_assert_null(json_object_snake_keys(array));
        json_decref(array);
        json_decref(j);
        json_decref(props);
}

/* The stable shape: every listed key, in order, null when missing. */
static const char *const run_keys[] = {"run",    "model",  "backend", "state",  "answer",     "thinking",
                                       "tokens", "timing", "energy",  "carbon", "provenance", NULL};
static const char *const energy_keys[] = {
        "measured",
        "sources",
        "split_method",
        "load_wh",
        "prefill_wh",
        "decode_wh",
        "total_wh",
        "net_total_wh",
        "idle_w",
        "wh_per_1000_etokens",
        "prefill_wh_per_1000_input_tokens",
        "decode_wh_per_1000_output_tokens",
        "j_per_output_token",
        "zones",
        "wraps",
        "sample_interval_ms",
        "components",
        "components_wh",
        "system_wh",
        "unexplained_wh",
        "bounded_estimates",
        NULL,
};

static void assert_keys_in_order(json_t *o, const char *const *keys) {
        void *it = json_object_iter(o);

        for (size_t i = 0; keys[i]; i++) {
                g_assert_nonnull(it);
                g_assert_cmpstr(json_object_iter_key(it), ==, keys[i]);
                it = json_object_iter_next(o, it);
        }
}

static void test_result_shape_empty(void) {
        json_t *j = run_result_json_build(NULL, NULL, NULL);
        g_autofree char *dump = NULL;

        g_assert_nonnull(j);
        assert_keys_in_order(j, run_keys);
        g_assert_cmpuint(json_object_size(j), ==, 11);
        assert_keys_in_order(json_object_get(j, "energy"), energy_keys);
        dump = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        g_assert_cmpstr(
                dump, ==,
                "{\"run\":null,\"model\":null,\"backend\":null,\"state\":null,\"answer\":null,"
                "\"thinking\":null,\"tokens\":{\"input\":null,\"output\":null,\"thinking\":null,"
                "\"injected\":null},\"timing\":{\"ttft_ms\":null,\"tpot_ms\":null,\"e2e_ms\":null,"
                "\"load_ms\":null,\"prefill_ms\":null,\"decode_ms\":null,\"tokens_per_s\":null},"
                "\"energy\":{\"measured\":null,\"sources\":null,\"split_method\":null,\"load_wh\":null,"
                "\"prefill_wh\":null,\"decode_wh\":null,\"total_wh\":null,\"net_total_wh\":null,"
                "\"idle_w\":null,\"wh_per_1000_etokens\":null,\"prefill_wh_per_1000_input_tokens\":null,"
                "\"decode_wh_per_1000_output_tokens\":null,\"j_per_output_token\":null,\"zones\":null,"
                "\"wraps\":null,\"sample_interval_ms\":null,\"components\":null,\"components_wh\":null,"
                "\"system_wh\":null,\"unexplained_wh\":null,\"bounded_estimates\":null},"
                "\"carbon\":{\"region\":null,"
                "\"g_per_kwh\":null,\"co2_g\":null},\"provenance\":null}");
        json_decref(j);
}

static const char result_json[] =
        "{\"run\": 12, \"model\": \"qwen3:0.6b\", \"backend\": \"ollama\", \"state\": \"done\","
        " \"done_reason\": \"stop\", \"measure\": \"live\","
        " \"tokens\": {\"input\": 18, \"output\": 64, \"thinking\": 30, \"answer\": 34, \"injected\": 12,"
        "  \"thinking_estimated\": true},"
        " \"timing\": {\"ttft_ms\": 1250.3, \"tpot_ms\": 5.9, \"e2e_ms\": 1651.0, \"load_ms\": 1203.5,"
        "  \"prefill_ms\": 41.2, \"decode_ms\": 380.1, \"tokens_per_s\": 168.4},"
        " \"energy\": {\"measured\": true, \"sources\": [\"rapl\"], \"split_method\": \"server-timings\","
        "  \"load_wh\": 0.0134, \"prefill_wh\": 0.00074, \"decode_wh\": 0.0032, \"total_wh\": 0.0173,"
        "  \"net_total_wh\": 0.0136, \"idle_w\": 8.0, \"wh_per_1000_etokens\": 0.27,"
        "  \"prefill_wh_per_1000_input_tokens\": 0.041, \"decode_wh_per_1000_output_tokens\": 0.05,"
        "  \"j_per_output_token\": 0.97, \"zones\": {\"rapl:package-0\": 0.009}, \"wraps\": 3,"
        "  \"sample_interval_ms\": 10, \"samples\": 166},"
        " \"carbon\": {\"region\": \"GLOBAL\", \"g_per_kwh\": 445.0, \"co2_g\": 0.0077},"
        " \"provenance\": {\"sources\": [\"rapl\"], \"server_version\": \"0.12.6\"}}";

static void test_result_shape_full(void) {
        json_t *result = json_loads(result_json, 0, NULL), *j, *tokens, *energy;

        g_assert_nonnull(result);
        j = run_result_json_build(result, "17 \xc3\x97 23 = **391**.", "Okay");
        g_assert_nonnull(j);
        assert_keys_in_order(j, run_keys);
        /* Extra keys of the Result follow the stable ones. */
        g_assert_cmpstr(json_string_value(json_object_get(j, "done_reason")), ==, "stop");
        g_assert_cmpstr(json_string_value(json_object_get(j, "measure")), ==, "live");
        g_assert_cmpuint(json_object_size(j), ==, 13);

        g_assert_cmpint(json_integer_value(json_object_get(j, "run")), ==, 12);
        g_assert_cmpstr(json_string_value(json_object_get(j, "answer")), ==, "17 \xc3\x97 23 = **391**.");
        g_assert_cmpstr(json_string_value(json_object_get(j, "thinking")), ==, "Okay");

        tokens = json_object_get(j, "tokens");
        assert_keys_in_order(tokens, (const char *const[]){"input", "output", "thinking", "injected", NULL});
        g_assert_cmpint(json_integer_value(json_object_get(tokens, "injected")), ==, 12);
        g_assert_true(json_is_true(json_object_get(tokens, "thinking_estimated")));

        energy = json_object_get(j, "energy");
        assert_keys_in_order(energy, energy_keys);
        g_assert_cmpfloat(json_real_value(json_object_get(energy, "total_wh")), ==, 0.0173);
        g_assert_cmpint(json_integer_value(json_object_get(energy, "samples")), ==, 166);
        g_assert_true(json_is_object(json_object_get(energy, "zones")));
        g_assert_cmpstr(json_string_value(json_object_get(json_object_get(j, "carbon"), "region")), ==,
                        "GLOBAL");
        g_assert_cmpstr(
                json_string_value(json_object_get(json_object_get(j, "provenance"), "server_version")), ==,
                "0.12.6");

        /* The result is not modified. */
        g_assert_null(json_object_get(result, "answer"));
        json_decref(j);
        json_decref(result);
}

static void test_result_shape_partial(void) {
        json_t *result = json_pack("{s:i, s:s, s:{s:i}, s:{s:s, s:s}}", "run", 3, "state", "failed",
                                   "tokens", "input", 5, "error", "name",
                                   "org.llmlab.Lab1.Error.BackendError", "message", "boom");
        json_t *j = run_result_json_build(result, "", NULL);
        json_t *energy = json_object_get(j, "energy");

        g_assert_true(json_is_null(json_object_get(json_object_get(j, "tokens"), "output")));
        g_assert_cmpint(json_integer_value(json_object_get(json_object_get(j, "tokens"), "input")), ==, 5);
        g_assert_true(json_is_object(energy));
        g_assert_cmpuint(json_object_size(energy), ==, 21);
        g_assert_true(json_is_null(json_object_get(energy, "total_wh")));
        g_assert_cmpstr(json_string_value(json_object_get(j, "answer")), ==, "");
        g_assert_true(json_is_null(json_object_get(j, "thinking")));
        g_assert_cmpstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")), ==,
                        "boom");
        json_decref(j);
        json_decref(result);
}

/* --- human-readable run results ---------------------------------------------------------------- */

static void test_run_summary(void) {
        json_t *result = json_loads(result_json, 0, NULL);
        g_autofree char *out = NULL;

        CAPTURE(out, f, g_assert_cmpint(run_show_summary(f, result, SIZE_MAX, true), ==, 0));
        g_assert_cmpstr(out, ==,
                        "INPUT  OUTPUT  THINKING    TTFT     E2E        SPEED\n"
                        "   18      64        30  1.25 s  1.65 s  168.4 tok/s\n");
        json_decref(result);
}

static void test_run_energy(void) {
        json_t *result = json_loads(result_json, 0, NULL);
        g_autofree char *out = NULL;

        CAPTURE(out, f, g_assert_cmpint(run_show_energy(f, result, "auto", SIZE_MAX, true), ==, 0));
        g_assert_cmpstr(out, ==,
                        "Energy: measured live (rapl; 166 samples, every 10 ms)\n"
                        "\n"
                        "PHASE      ENERGY       NET     TIME\n"
                        "load     13.4 mWh         -   1.20 s\n"
                        "prefill   740 µWh         -  41.2 ms\n"
                        "decode   3.20 mWh         -   380 ms\n"
                        "total    17.3 mWh  13.6 mWh   1.65 s\n"
                        "\n"
                        " Wh/1000 e-tokens: 270 mWh\n"
                        "Prefill per 1K in: 41.0 mWh\n"
                        "Decode per 1K out: 50.0 mWh\n"
                        " Per output token: 970 mJ\n"
                        "       Idle power: 8.00 W\n"
                        "              CO2: 7.70 mg CO2 (GLOBAL, 445 g/kWh)\n"
                        "           Tokens: 18 input, 64 output, 30 thinking (estimated), 12 injected\n"
                        "             TTFT: 1.25 s\n"
                        "             TPOT: 5.90 ms\n"
                        "       End to end: 1.65 s\n"
                        "            Speed: 168.4 tok/s\n"
                        "      Phase split: server-timings\n"
                        "          Sources: rapl\n"
                        "            Zones: rapl:package-0 9.00 mWh\n"
                        "    Counter wraps: 3\n");
        json_decref(result);
}

static void test_energy_origin(void) {
        json_t *est = json_pack("{s:{s:b, s:s}}", "energy", "measured", 0, "benchmark", "aes:qwen3");
        json_t *est2 = json_pack("{s:{s:b}, s:{s:s}}", "energy", "measured", 0, "estimate", "benchmark",
                                 "jegham:x");
        json_t *none = json_pack("{s:s}", "state", "done");
        g_autofree char *a = run_energy_origin(est, "auto"), *b = run_energy_origin(est, "estimate"),
                        *c = run_energy_origin(est2, "auto"), *d = run_energy_origin(none, "auto");

        g_assert_cmpstr(a, ==,
                        "estimated from benchmark aes:qwen3 (no readable energy counters on this machine)");
        g_assert_cmpstr(b, ==, "estimated from benchmark aes:qwen3 (as requested)");
        g_assert_cmpstr(c, ==,
                        "estimated from benchmark jegham:x (no readable energy counters on this machine)");
        g_assert_cmpstr(d, ==, "not measured");
        json_decref(est);
        json_decref(est2);
        json_decref(none);
}

/* --- option values ----------------------------------------------------------------------------- */

static void test_parse_numbers(void) {
        double d;
        int64_t i;

        g_assert_cmpint(parse_double_range("0.7", 0, 2, &d), ==, 0);
        g_assert_cmpfloat(d, ==, 0.7);
        g_assert_cmpint(parse_double_range("2", 0, 2, &d), ==, 0);
        g_assert_cmpint(parse_double_range("2.01", 0, 2, &d), ==, -ERANGE);
        g_assert_cmpint(parse_double_range("-0.1", 0, 2, &d), ==, -ERANGE);
        g_assert_cmpint(parse_double_range("0.7x", 0, 2, &d), ==, -EINVAL);
        g_assert_cmpint(parse_double_range("", 0, 2, &d), ==, -EINVAL);
        g_assert_cmpint(parse_double_range("nan", 0, 2, &d), ==, -EINVAL);
        g_assert_cmpint(parse_int64_range("32768", 1, 32768, &i), ==, 0);
        g_assert_cmpint(i, ==, 32768);
        g_assert_cmpint(parse_int64_range("0", 1, 32768, &i), ==, -ERANGE);
        g_assert_cmpint(parse_int64_range("-5", INT64_MIN, INT64_MAX, &i), ==, 0);
        g_assert_cmpint(i, ==, -5);
        g_assert_cmpint(parse_int64_range("99999999999999999999", INT64_MIN, INT64_MAX, &i), ==, -ERANGE);
        g_assert_cmpint(parse_int64_range("12a", 0, 100, &i), ==, -EINVAL);
}

static void test_parse_since(void) {
        const uint64_t now = UINT64_C(1700000000) * USEC_PER_SEC;
        uint64_t t;

        g_assert_cmpint(parse_since("-7d", now, &t), ==, 0);
        g_assert_cmpuint(t, ==, now - 7 * 24 * 3600 * USEC_PER_SEC);
        g_assert_cmpint(parse_since("-12h", now, &t), ==, 0);
        g_assert_cmpuint(t, ==, now - 12 * 3600 * USEC_PER_SEC);
        g_assert_cmpint(parse_since("-30m", now, &t), ==, 0);
        g_assert_cmpuint(t, ==, now - 30 * 60 * USEC_PER_SEC);
        g_assert_cmpint(parse_since("-2w", now, &t), ==, 0);
        g_assert_cmpuint(t, ==, now - 14 * 24 * 3600 * USEC_PER_SEC);
        g_assert_cmpint(parse_since("@1600000000", now, &t), ==, 0);
        g_assert_cmpuint(t, ==, UINT64_C(1600000000) * USEC_PER_SEC);
        g_assert_cmpint(parse_since("-7x", now, &t), ==, -EINVAL);
        g_assert_cmpint(parse_since("-d", now, &t), ==, -EINVAL);
        g_assert_cmpint(parse_since("yesterday", now, &t), ==, -EINVAL);
        g_assert_cmpint(parse_since("", now, &t), ==, -EINVAL);
        g_assert_cmpint(parse_since("-99999999w", now, &t), ==, -ERANGE);

        /* Local dates: compare with mktime() of the same fields. */
        struct tm tm = {.tm_year = 2026 - 1900,
                        .tm_mon = 2,
                        .tm_mday = 2,
                        .tm_hour = 10,
                        .tm_min = 15,
                        .tm_isdst = -1};
        uint64_t expect = (uint64_t) mktime(&tm) * USEC_PER_SEC;

        g_assert_cmpint(parse_since("2026-03-02 10:15", now, &t), ==, 0);
        g_assert_cmpuint(t, ==, expect);
        g_assert_cmpint(parse_since("2026-03-02T10:15:00", now, &t), ==, 0);
        g_assert_cmpuint(t, ==, expect);
        g_assert_cmpint(parse_since("2026-03-02 10:15:00x", now, &t), ==, -EINVAL);
}

static void test_parse_injection(void) {
        g_autofree char *d1 = NULL, *v1 = NULL, *d2 = NULL, *v2 = NULL, *d3 = NULL, *v3 = NULL;
        char *d = NULL, *v = NULL;
        bool file;

        g_assert_cmpint(parse_injection("policy=Be brief=really", &d1, &v1, &file), ==, 0);
        g_assert_cmpstr(d1, ==, "policy");
        g_assert_cmpstr(v1, ==, "Be brief=really");
        g_assert_false(file);
        g_assert_cmpint(parse_injection("doc=@/tmp/x.txt", &d2, &v2, &file), ==, 0);
        g_assert_cmpstr(d2, ==, "doc");
        g_assert_cmpstr(v2, ==, "/tmp/x.txt");
        g_assert_true(file);
        g_assert_cmpint(parse_injection("empty=", &d3, &v3, &file), ==, 0);
        g_assert_cmpstr(v3, ==, "");
        g_assert_cmpint(parse_injection("=text", &d, &v, &file), ==, -EINVAL);
        g_assert_cmpint(parse_injection("noequals", &d, &v, &file), ==, -EINVAL);
        g_assert_cmpint(parse_injection("doc=@", &d, &v, &file), ==, -EINVAL);
        g_assert_null(d);
        g_assert_null(v);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/ctl-output/format/energy", test_format_energy);
        g_test_add_func("/ctl-output/format/other-units", test_format_other_units);
        g_test_add_func("/ctl-output/format/duration", test_format_duration);
        g_test_add_func("/ctl-output/terminal/colors", test_colors);
        g_test_add_func("/ctl-output/terminal/sanitize", test_sanitize);
        g_test_add_func("/ctl-output/terminal/utf8", test_utf8);
        g_test_add_func("/ctl-output/table/natural", test_table_natural);
        g_test_add_func("/ctl-output/table/no-legend", test_table_no_legend);
        g_test_add_func("/ctl-output/table/fit", test_table_fit);
        g_test_add_func("/ctl-output/table/fit-lines", test_table_fit_lines);
        g_test_add_func("/ctl-output/table/no-ellipsize-sanitize", test_table_no_ellipsize_and_sanitize);
        g_test_add_func("/ctl-output/table/incomplete-row", test_table_incomplete_row);
        g_test_add_func("/ctl-output/kv", test_kv);
        g_test_add_func("/ctl-output/string-append", test_string_append);
        g_test_add_func("/ctl-output/json/format", test_json_format);
        g_test_add_func("/ctl-output/json/snake-keys", test_snake_keys);
        g_test_add_func("/ctl-output/result/empty", test_result_shape_empty);
        g_test_add_func("/ctl-output/result/full", test_result_shape_full);
        g_test_add_func("/ctl-output/result/partial", test_result_shape_partial);
        g_test_add_func("/ctl-output/show/summary", test_run_summary);
        g_test_add_func("/ctl-output/show/energy", test_run_energy);
        g_test_add_func("/ctl-output/show/energy-origin", test_energy_origin);
        g_test_add_func("/ctl-output/parse/numbers", test_parse_numbers);
        g_test_add_func("/ctl-output/parse/since", test_parse_since);
        g_test_add_func("/ctl-output/parse/injection", test_parse_injection);

        return g_test_run();
}
