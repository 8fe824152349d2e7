/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Unit tests for daemon/metrics-textfile.c: the Prometheus text format written for node-exporter's
 * textfile collector, from runs stored in a real SQLite store, and its atomic replacement. */

#include "metrics-format.h"
#include "metrics-textfile.h"
#include "store.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

static StoredRun run(uint64_t id, uint32_t uid, const char *model, const char *backend, bool warmup,
                     const char *result_json) {
        json_t *result = json_loads(result_json, 0, NULL);

        g_assert_nonnull(result);
        return (StoredRun){
                .id = id,
                .uid = uid,
                .created_usec = 1000 + id,
                .finished_usec = 2000 + id,
                .model = model,
                .backend = backend,
                .state = "done",
                .measure = "live",
                .warmup = warmup,
                .result = result,
        };
}

static void rm_rf(const char *dir) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

        g_assert_cmpint(system(cmd), ==, 0);
}

static void insert(Store *s, StoredRun r) {
        g_assert_cmpint(store_insert_run(s, &r), ==, 0);
        json_decref(r.result);
}

static const char expected[] =
        "# HELP llmlab_runs_total Runs stored by llmlabd.\n"
        "# TYPE llmlab_runs_total counter\n"
        "llmlab_runs_total{model=\"a\\\"b\\\\c\",backend=\"ollama\"} 1\n"
        "llmlab_runs_total{model=\"qwen3:0.6b\",backend=\"ollama\"} 3\n"
        "# HELP llmlab_input_tokens_total Input tokens of the stored runs, as counted by the server.\n"
        "# TYPE llmlab_input_tokens_total counter\n"
        "llmlab_input_tokens_total{model=\"a\\\"b\\\\c\",backend=\"ollama\"} 0\n"
        "llmlab_input_tokens_total{model=\"qwen3:0.6b\",backend=\"ollama\"} 30\n"
        "# HELP llmlab_output_tokens_total Output tokens of the stored runs, as counted by the server.\n"
        "# TYPE llmlab_output_tokens_total counter\n"
        "llmlab_output_tokens_total{model=\"a\\\"b\\\\c\",backend=\"ollama\"} 0\n"
        "llmlab_output_tokens_total{model=\"qwen3:0.6b\",backend=\"ollama\"} 300\n"
        "# HELP llmlab_energy_joules_total Gross energy of the stored runs; measured=\"false\" marks "
        "estimates from a benchmark.\n"
        "# TYPE llmlab_energy_joules_total counter\n"
        "llmlab_energy_joules_total{model=\"qwen3:0.6b\",backend=\"ollama\",measured=\"false\"} 36\n"
        "llmlab_energy_joules_total{model=\"qwen3:0.6b\",backend=\"ollama\",measured=\"true\"} 54\n"
        "# HELP llmlab_output_token_energy_joules Energy per output token: sum of energy / sum of output "
        "tokens.\n"
        "# TYPE llmlab_output_token_energy_joules gauge\n"
        "llmlab_output_token_energy_joules{model=\"qwen3:0.6b\",backend=\"ollama\",measured=\"false\"} "
        "0.36\n"
        "llmlab_output_token_energy_joules{model=\"qwen3:0.6b\",backend=\"ollama\",measured=\"true\"} 0.27\n"
        "# HELP llmlab_wh_per_1000_etokens Energy per 1000 output tokens in watt-hours (the headline figure "
        "of llmlab): sum of Wh / sum of output tokens * 1000.\n"
        "# TYPE llmlab_wh_per_1000_etokens gauge\n"
        "llmlab_wh_per_1000_etokens{model=\"qwen3:0.6b\",backend=\"ollama\",measured=\"false\"} 0.1\n"
        "llmlab_wh_per_1000_etokens{model=\"qwen3:0.6b\",backend=\"ollama\",measured=\"true\"} 0.075\n";

static void fill(Store *s) {
        /* Two users, a warm-up run (counted: its energy was spent), an estimate, and a run without energy
         * under a model name that needs escaping. */
        insert(s, run(1, 1000, "qwen3:0.6b", "ollama", false,
                      "{\"tokens\": {\"input\": 10, \"output\": 100}, \"energy\": {\"measured\": true, "
                      "\"total_wh\": 0.005}}"));
        insert(s, run(2, 1001, "qwen3:0.6b", "ollama", true,
                      "{\"tokens\": {\"input\": 10, \"output\": 100}, \"energy\": {\"measured\": true, "
                      "\"total_wh\": 0.010}}"));
        insert(s, run(3, 1000, "qwen3:0.6b", "ollama", false,
                      "{\"tokens\": {\"input\": 10, \"output\": 100}, \"energy\": {\"measured\": false, "
                      "\"total_wh\": 0.010}}"));
        insert(s, run(4, 1000, "a\"b\\c", "ollama", false, "{\"tokens\": {}}"));
}

static void test_format(void) {
        g_autofree char *dir = g_dir_make_tmp("llmlab-textfile-XXXXXX", NULL), *db = NULL;
        _cleanup_json_ json_t *groups = NULL;
        g_autofree char *text = NULL;
        RunFilter f = {.all_users = true, .include_warmup = true};
        Store *s = NULL;

        g_assert_nonnull(dir);
        db = g_build_filename(dir, "llmlab.db", NULL);
        g_assert_cmpint(store_open(db, &s), ==, 0);
        fill(s);
        g_assert_cmpint(store_aggregate_runs(s, &f, &groups), ==, 0);
        text = metrics_format(groups, METRICS_SYNTAX_PROMETHEUS);
        g_assert_cmpstr(text, ==, expected);
        store_free(s);
        rm_rf(dir);
}

static void test_write(void) {
        g_autofree char *dir = g_dir_make_tmp("llmlab-textfile-XXXXXX", NULL), *db = NULL, *path = NULL,
                        *text = NULL;
        const char *name;
        GDir *d;
        struct stat st;
        Store *s = NULL;
        unsigned n = 0;

        db = g_build_filename(dir, "llmlab.db", NULL);
        path = g_build_filename(dir, "llmlab.prom", NULL);
        g_assert_cmpint(store_open(db, &s), ==, 0);
        g_assert_cmpint(metrics_textfile_write(s, NULL), ==, 0);

        /* An old file is replaced as a whole; no temporary file is left behind. */
        g_assert_true(g_file_set_contents(path, "stale\n", -1, NULL));
        fill(s);
        g_assert_cmpint(metrics_textfile_write(s, path), ==, 0);
        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        g_assert_cmpstr(text, ==, expected);
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0644);
        d = g_dir_open(dir, 0, NULL);
        while ((name = g_dir_read_name(d)))
                if (!g_str_has_prefix(name, "llmlab.db"))
                        n++;
        g_dir_close(d);
        g_assert_cmpuint(n, ==, 1);

        /* A directory that does not exist: an error, nothing written. */
        g_free(path);
        path = g_build_filename(dir, "missing", "llmlab.prom", NULL);
        g_assert_cmpint(metrics_textfile_write(s, path), ==, -ENOENT);
        store_free(s);
        rm_rf(dir);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/metrics-textfile/format", test_format);
        g_test_add_func("/metrics-textfile/write", test_write);
        return g_test_run();
}
