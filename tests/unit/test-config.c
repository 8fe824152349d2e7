/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Configuration: defaults, every key, and errors that name the file and line. */
#include <glib.h>
#include <glib/gstdio.h>

#include "config.h"

static char *write_config(const char *text) {
        g_autofree char *dir = g_dir_make_tmp("llmlab-config-XXXXXX", NULL);
        char *path = g_build_filename(dir, "llmlab.conf", NULL);

        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        return path;
}

static void test_full(void) {
        g_autofree char *path = write_config(
                "# comment\n[Daemon]\nMaxRunsPerUser=2\nLingerSec=5\n\n[Energy]\nSampleIntervalMs=25\n"
                "DefaultBenchmark=aes:x\n[Carbon]\nRegion=fr\n[Backend "
                "local]\nKind=openai\nUrl=http://127.0.0.1:8080/\n"
                "ApiKey=k\n[Backend "
                "ollama]\nUrl=http://127.0.0.1:11434\n[Metrics]\nTextfilePath=/var/lib/x.prom\n");
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        g_autoptr(Config) c = NULL;
        const BackendConfig *b;

        g_assert_cmpint(config_load(path, &c, &err), ==, 0);
        g_assert_cmpuint(c->max_runs_per_user, ==, 2);
        g_assert_cmpuint(c->linger_sec, ==, 5);
        g_assert_cmpuint(c->max_queue_length, ==, 64); /* default kept */
        g_assert_cmpuint(c->sample_interval_ms, ==, 25);
        g_assert_cmpstr(c->default_benchmark, ==, "aes:x");
        g_assert_cmpstr(c->region, ==, "FR");
        g_assert_cmpstr(c->textfile_path, ==, "/var/lib/x.prom");
        g_assert_cmpuint(c->backends->len, ==, 2);
        b = g_ptr_array_index(c->backends, 0); /* file order: the first is the default */
        g_assert_cmpstr(b->id, ==, "local");
        g_assert_cmpint(b->kind, ==, BACKEND_KIND_OPENAI);
        g_assert_cmpstr(b->url, ==, "http://127.0.0.1:8080"); /* trailing slash removed */
        g_assert_cmpstr(b->api_key, ==, "k");
        g_assert_cmpint(config_find_backend(c, "ollama")->kind, ==, BACKEND_KIND_OLLAMA);
}

static void test_no_backend_gives_default(void) {
        g_autofree char *path = write_config("[Energy]\nSampleIntervalMs=10\n");
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        g_autoptr(Config) c = NULL;

        g_assert_cmpint(config_load(path, &c, &err), ==, 0);
        g_assert_cmpuint(c->backends->len, ==, 1);
        g_assert_cmpstr(((BackendConfig *) g_ptr_array_index(c->backends, 0))->url, ==,
                        "http://127.0.0.1:11434");
}

static void assert_error(const char *text, const char *expect) {
        g_autofree char *path = write_config(text);
        g_autofree char *want = g_strdup_printf("%s:%s", path, expect);
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        g_autoptr(Config) c = NULL;

        g_assert_cmpint(config_load(path, &c, &err), <, 0);
        g_assert_null(c);
        g_assert_cmpint(err.code, ==, LAB_ERROR_INVALID_ARGUMENT);
        if (!g_str_has_prefix(err.message, want))
                g_error("expected prefix \"%s\", got \"%s\"", want, err.message);
}

static void test_errors(void) {
        assert_error("[Daemon]\nMaxRunsPerUser=2\n  garbage here\n", "3:");
        assert_error("[Daemon]\nMaxRunsPerUser=0\n", "2: MaxRunsPerUser= must be a whole number");
        assert_error("[Daemon]\nMaxRunsPerUser=-1\n", "2:");
        assert_error("\n\n[Energy]\nColour=red\n", "4: unknown key \"Colour\"");
        assert_error("[Nope]\n", "1: unknown section [Nope]");
        assert_error("[Backend x]\nKind=ollama\n", "1: [Backend x] needs Url=");
        assert_error("[Backend x]\nUrl=file:///etc\n", "2: Url= must start with http");
        assert_error("[Backend x]\nUrl=http://a\n[Backend x]\nUrl=http://b\n",
                     "3: this section was already given");
        assert_error("[Metrics]\nTextfilePath=relative.prom\n", "2: TextfilePath= must be an absolute path");
        assert_error("[Energy]\nDefaultBenchmark=\n", "2: DefaultBenchmark= must not be empty");
}

static void test_missing_explicit_file(void) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        g_autoptr(Config) c = NULL;

        g_assert_cmpint(config_load("/nonexistent/llmlab.conf", &c, &err), <, 0);
        g_assert_true(g_str_has_prefix(err.message, "Failed to read /nonexistent/llmlab.conf"));
}

static void test_find_line(void) {
        const char *text = "[A]\nx=1\n[B]\ny = 2\n  z=3\n";

        g_assert_cmpuint(config_find_line(text, "B", NULL), ==, 3);
        g_assert_cmpuint(config_find_line(text, "B", "y"), ==, 4);
        g_assert_cmpuint(config_find_line(text, "B", "z"), ==, 5);
        g_assert_cmpuint(config_find_line(text, "A", "y"), ==, 0);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/config/full", test_full);
        g_test_add_func("/config/default-backend", test_no_backend_gives_default);
        g_test_add_func("/config/errors", test_errors);
        g_test_add_func("/config/missing", test_missing_explicit_file);
        g_test_add_func("/config/find-line", test_find_line);
        return g_test_run();
}
