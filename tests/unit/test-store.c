/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Unit tests of daemon/store.c and daemon/store-export.c against real SQLite files in a temporary
 * directory: schema creation and migration, refusal of newer and corrupt files, runs and their
 * filters, per-user isolation, sessions, the three export formats (with a strict OpenMetrics
 * checker), benchmarks, settings, jobs, id continuity, durability across SIGKILL, and speed. */

#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "store.h"

/* ---- helpers ----------------------------------------------------------------------------------- */

typedef struct TestDir {
        char *dir;
        char *db;
} TestDir;

static void rm_rf(const char *path) {
        GDir *d = g_dir_open(path, 0, NULL);
        const char *name;

        if (d) {
                while ((name = g_dir_read_name(d))) {
                        g_autofree char *child = g_build_filename(path, name, NULL);
                        rm_rf(child);
                }
                g_dir_close(d);
                (void) g_rmdir(path);
        } else
                (void) g_unlink(path);
}

static void test_dir_init(TestDir *t) {
        g_autoptr(GError) error = NULL;

        t->dir = g_dir_make_tmp("test-store-XXXXXX", &error);
        g_assert_no_error(error);
        t->db = g_build_filename(t->dir, STORE_FILE_NAME, NULL);
}

static void test_dir_done(TestDir *t) {
        rm_rf(t->dir);
        g_free(t->dir);
        g_free(t->db);
}

static Store *open_store(const char *path) {
        Store *s = NULL;

        g_assert_cmpint(store_open(path, &s), ==, 0);
        g_assert_nonnull(s);
        return s;
}

/* Raw SQLite access, to look at and doctor files behind the store's back. */
static sqlite3 *raw_open(const char *path) {
        sqlite3 *db = NULL;

        g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), ==,
                        SQLITE_OK);
        return db;
}

static void raw_exec(sqlite3 *db, const char *sql) {
        char *err = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

        if (rc != SQLITE_OK)
                g_error("%s: %s", sql, err);
}

static char *raw_query_text(sqlite3 *db, const char *sql) {
        sqlite3_stmt *stmt = NULL;
        char *v = NULL;

        g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
        if (sqlite3_step(stmt) == SQLITE_ROW)
                v = g_strdup((const char *) sqlite3_column_text(stmt, 0));
        sqlite3_finalize(stmt);
        return v;
}

static int64_t raw_query_int(sqlite3 *db, const char *sql) {
        g_autofree char *v = raw_query_text(db, sql);

        g_assert_nonnull(v);
        return g_ascii_strtoll(v, NULL, 10);
}

static int64_t file_user_version(const char *path) {
        sqlite3 *db = raw_open(path);
        int64_t v = raw_query_int(db, "PRAGMA user_version");

        sqlite3_close(db);
        return v;
}

/* A realistic Result object with exactly representable numbers. total_wh < 0 leaves energy out. */
static json_t *make_result(uint64_t id, const char *model, bool measured, double total_wh, json_int_t in,
                           json_int_t out, double co2_g) {
        json_t *r = json_pack("{s:I, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I}, s:{s:f, s:f, s:f, s:f}, "
                              "s:{s:s, s:f, s:f}, s:{s:s, s:b}}",
                              "run", (json_int_t) id, "model", model, "backend", "ollama", "state", "done",
                              "tokens", "input", in, "output", out, "thinking", (json_int_t) 7, "injected",
                              (json_int_t) 0, "timing", "ttft_ms", 125.5, "tpot_ms", 6.25, "e2e_ms", 1500.0,
                              "tokens_per_s", 160.0, "carbon", "region", "FR", "g_per_kwh", 56.0, "co2_g",
                              co2_g, "provenance", "server_version", "0.12.6", "measured", measured);
        g_assert_nonnull(r);
        if (total_wh >= 0) {
                json_t *e = json_pack("{s:b, s:[s], s:s, s:f, s:f, s:f, s:f, s:f, s:f}", "measured",
                                      measured, "sources", measured ? "rapl" : "benchmark", "split_method",
                                      "server-timings", "load_wh", 0.0, "prefill_wh", total_wh / 4,
                                      "decode_wh", total_wh * 3 / 4, "total_wh", total_wh, "net_total_wh",
                                      total_wh / 2, "idle_w", 8.0);
                g_assert_nonnull(e);
                if (out > 0)
                        json_object_set_new(e, "wh_per_1000_etokens",
                                            json_real(total_wh / (double) out * 1000));
                json_object_set_new(r, "energy", e);
        }
        return r;
}

static StoredRun make_run(uint64_t id, uint32_t uid, const char *model, uint64_t created, bool measured,
                          double total_wh, json_int_t in, json_int_t out, double co2_g) {
        return (StoredRun){
                .id = id,
                .uid = uid,
                .created_usec = created,
                .finished_usec = created + 2 * USEC_PER_SEC,
                .model = model,
                .backend = "ollama",
                .state = "done",
                .measure = total_wh < 0 ? "off"
                           : measured   ? "live"
                                        : "estimate",
                .request = json_pack("{s:s, s:s, s:f}", "model", model, "user_prompt", "What is 2+2?",
                                     "temperature", 0.5),
                .answer = "4",
                .thinking = "",
                .result = make_result(id, model, measured, total_wh, in, out, co2_g),
        };
}

static void run_clear(StoredRun *r) {
        json_decref(r->request);
        json_decref(r->result);
        r->request = r->result = NULL;
}

static void insert(Store *s, StoredRun r) {
        g_assert_cmpint(store_insert_run(s, &r), ==, 0);
        run_clear(&r);
}

static json_t *list(Store *s, RunFilter f) {
        json_t *a = NULL;

        g_assert_cmpint(store_list_runs(s, &f, &a), ==, 0);
        g_assert_true(json_is_array(a));
        return a;
}

/* "3,2,1": the run ids of a list, in order. */
static char *ids_of(json_t *a) {
        GString *s = g_string_new(NULL);
        size_t i;
        json_t *e;

        json_array_foreach (a, i, e)
                g_string_append_printf(s, "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
                                       json_integer_value(json_object_get(e, "run")));
        json_decref(a);
        return g_string_free(s, false);
}

static void assert_ids(Store *s, RunFilter f, const char *expected) {
        g_autofree char *ids = ids_of(list(s, f));

        g_assert_cmpstr(ids, ==, expected);
}

static char *export_to_string(Store *s, RunFilter f, ExportFormat format) {
        int fd = memfd_create("export", MFD_CLOEXEC);
        GString *out = g_string_new(NULL);
        char buf[4096];
        ssize_t n;

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(store_export_runs(s, &f, format, fd), ==, 0);
        g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                g_string_append_len(out, buf, n);
        g_assert_cmpint(n, ==, 0);
        close(fd);
        return g_string_free(out, false);
}

/* ---- open, create, migrate -------------------------------------------------------------------- */

static void test_create(void) {
        TestDir t;
        g_autofree char *nested = NULL, *nested_dir = NULL;
        uint64_t run_id = 0, job_id = 0;
        struct stat st;
        Store *s;

        test_dir_init(&t);
        nested_dir = g_build_filename(t.dir, "a", "b", NULL);
        nested = g_build_filename(nested_dir, STORE_FILE_NAME, NULL);

        s = open_store(nested);
        g_assert_cmpstr(store_get_path(s), ==, nested);
        g_assert_cmpint(store_next_ids(s, &run_id, &job_id), ==, 0);
        g_assert_cmpuint(run_id, ==, 1);
        g_assert_cmpuint(job_id, ==, 1);
        g_assert_cmpint(store_check_integrity(s), ==, 0);

        g_assert_cmpint(stat(nested, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0600);
        g_assert_cmpint(stat(nested_dir, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0700);
        /* The WAL holds the same private data. */
        insert(s, make_run(1, 1000, "m", 1, true, 0.5, 1, 2, 0));
        {
                g_autofree char *wal = g_strconcat(nested, "-wal", NULL);
                g_assert_cmpint(stat(wal, &st), ==, 0);
                g_assert_cmpint(st.st_mode & 07777, ==, 0600);
        }
        store_free(s);

        g_assert_cmpint(file_user_version(nested), ==, STORE_SCHEMA_VERSION);
        {
                sqlite3 *db = raw_open(nested);
                g_autofree char *mode = raw_query_text(db, "PRAGMA journal_mode");
                g_assert_cmpstr(mode, ==, "wal");
                sqlite3_close(db);
        }

        /* Reopening a current file is a no-op. */
        s = open_store(nested);
        store_free(s);
        g_assert_cmpint(file_user_version(nested), ==, STORE_SCHEMA_VERSION);

        g_assert_cmpint(store_open("", &s), ==, -EINVAL);
        g_assert_null(store_free(NULL));
        test_dir_done(&t);
}

/* Exactly what llmlabd 0.1 (schema version 1) wrote. Never change this: it stands for files in the
 * field. */
static const char schema_v1[] =
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, uid INTEGER NOT NULL, created_usec INTEGER NOT NULL,"
        " finished_usec INTEGER NOT NULL, model TEXT NOT NULL, backend TEXT NOT NULL,"
        " state TEXT NOT NULL CHECK (state IN ('done', 'cancelled', 'failed')), measure TEXT, label TEXT,"
        " request TEXT NOT NULL, answer TEXT NOT NULL, thinking TEXT NOT NULL, result TEXT NOT NULL,"
        " error_name TEXT, error_message TEXT, total_wh REAL, net_total_wh REAL,"
        " measured INTEGER NOT NULL DEFAULT 0, co2_g REAL, input_tokens INTEGER, output_tokens INTEGER,"
        " wh_per_1000_etokens REAL);"
        "CREATE INDEX runs_by_uid ON runs (uid, created_usec);"
        "CREATE INDEX runs_by_created ON runs (created_usec);"
        "CREATE TABLE sessions (uid INTEGER PRIMARY KEY, started_usec INTEGER NOT NULL);"
        "CREATE TABLE benchmarks (id TEXT PRIMARY KEY, benchmark TEXT NOT NULL);"
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO runs VALUES (41, 1000, 1000000, 3000000, 'qwen3:0.6b', 'ollama', 'done', 'live', 'old',"
        " '{\"user_prompt\":\"hello\"}', 'hi', '', '{\"run\":41,\"tokens\":{\"input\":10,\"output\":20},"
        "\"energy\":{\"total_wh\":0.5,\"measured\":true}}', NULL, NULL, 0.5, 0.25, 1, 0.125, 10, 20, 25.0);"
        "INSERT INTO sessions VALUES (1000, 1000000);"
        "INSERT INTO benchmarks VALUES ('custom:a', '{\"name\":\"A\"}');"
        "INSERT INTO settings VALUES ('default_benchmark', 'custom:a');"
        "PRAGMA user_version = 1;";

static void write_v1_file(const char *path, const char *extra_sql) {
        sqlite3 *db = raw_open(path);

        raw_exec(db, schema_v1);
        if (extra_sql)
                raw_exec(db, extra_sql);
        sqlite3_close(db);
}

static void test_migrate_v1(void) {
        g_autofree char *value = NULL;
        json_t *runs, *run, *summary, *benchmarks;
        uint64_t run_id, job_id;
        TestDir t;
        Store *s;

        test_dir_init(&t);
        write_v1_file(t.db, NULL);
        g_assert_cmpint(file_user_version(t.db), ==, 1);

        s = open_store(t.db);

        runs = list(s, (RunFilter){.uid = 1000});
        g_assert_cmpuint(json_array_size(runs), ==, 1);
        run = json_array_get(runs, 0);
        g_assert_cmpint(json_integer_value(json_object_get(run, "run")), ==, 41);
        g_assert_true(json_is_false(json_object_get(run, "warmup")));
        g_assert_null(json_object_get(run, "job"));
        g_assert_cmpstr(json_string_value(json_object_get(run, "label")), ==, "old");
        g_assert_cmpstr(json_string_value(json_object_get(run, "user_prompt")), ==, "hello");
        json_decref(runs);

        g_assert_cmpint(store_session_summary(s, 1000, &summary), ==, 0);
        g_assert_cmpint(json_integer_value(json_object_get(summary, "runs")), ==, 1);
        g_assert_cmpfloat(json_real_value(json_object_get(summary, "total_wh")), ==, 0.5);
        g_assert_cmpfloat(json_real_value(json_object_get(summary, "mean_wh_per_1000_etokens")), ==, 25.0);
        json_decref(summary);

        g_assert_cmpint(store_load_benchmarks(s, &benchmarks), ==, 0);
        g_assert_cmpuint(json_array_size(benchmarks), ==, 1);
        json_decref(benchmarks);
        g_assert_cmpint(store_get_setting(s, "default_benchmark", &value), ==, 0);
        g_assert_cmpstr(value, ==, "custom:a");

        g_assert_cmpint(store_next_ids(s, &run_id, &job_id), ==, 0);
        g_assert_cmpuint(run_id, ==, 42);
        g_assert_cmpuint(job_id, ==, 1);

        /* The new columns work on the migrated file. */
        insert(s, (StoredRun){.id = 42,
                              .job_id = 9,
                              .uid = 1000,
                              .model = "m",
                              .backend = "b",
                              .state = "done",
                              .warmup = true,
                              .created_usec = 5000000,
                              .finished_usec = 6000000});
        runs = list(s, (RunFilter){.uid = 1000, .job_id = 9, .include_warmup = true});
        g_assert_cmpuint(json_array_size(runs), ==, 1);
        json_decref(runs);
        store_free(s);

        g_assert_cmpint(file_user_version(t.db), ==, STORE_SCHEMA_VERSION);
        test_dir_done(&t);
}

/* A migration that fails leaves the file at its old version, whole. */
static void test_migrate_failure_is_atomic(void) {
        TestDir t;
        Store *s = NULL;
        sqlite3 *db;

        test_dir_init(&t);
        /* A stray table makes migration 1 → 2 fail half-way (after nothing, or after some statements). */
        write_v1_file(t.db, "CREATE TABLE jobs (x);");

        g_assert_cmpint(store_open(t.db, &s), <, 0);
        g_assert_null(s);

        db = raw_open(t.db);
        g_assert_cmpint(raw_query_int(db, "PRAGMA user_version"), ==, 1);
        g_assert_cmpint(
                raw_query_int(db, "SELECT COUNT(*) FROM pragma_table_info('runs') WHERE name = 'warmup'"),
                ==, 0);
        g_assert_cmpint(raw_query_int(db, "SELECT COUNT(*) FROM runs"), ==, 1);
        sqlite3_close(db);
        test_dir_done(&t);
}

static char *read_file(const char *path, size_t *ret_len) {
        g_autoptr(GError) error = NULL;
        char *contents = NULL;

        g_assert_true(g_file_get_contents(path, &contents, ret_len, &error));
        g_assert_no_error(error);
        return contents;
}

static void test_refuse_newer(void) {
        g_autofree char *before = NULL, *after = NULL;
        size_t before_len, after_len;
        TestDir t;
        Store *s;
        sqlite3 *db;

        test_dir_init(&t);
        s = open_store(t.db);
        store_free(s);

        db = raw_open(t.db);
        raw_exec(db, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 99;");
        sqlite3_close(db);
        before = read_file(t.db, &before_len);

        s = NULL;
        g_assert_cmpint(store_open(t.db, &s), ==, -EPROTONOSUPPORT);
        g_assert_null(s);

        after = read_file(t.db, &after_len);
        g_assert_cmpmem(before, before_len, after, after_len);
        g_assert_cmpint(file_user_version(t.db), ==, 99);
        test_dir_done(&t);
}

static void test_refuse_corrupt(void) {
        g_autofree char *garbage = g_strnfill(8192, 'x'), *after = NULL;
        size_t after_len;
        TestDir t;
        Store *s = NULL;

        test_dir_init(&t);
        g_assert_true(g_file_set_contents(t.db, garbage, 8192, NULL));

        g_assert_cmpint(store_open(t.db, &s), ==, -EBADMSG);
        g_assert_null(s);

        after = read_file(t.db, &after_len);
        g_assert_cmpmem(garbage, 8192, after, after_len);
        test_dir_done(&t);
}

/* ---- runs ------------------------------------------------------------------------------------- */

#define T0 UINT64_C(1714566896000000) /* 2024-05-01T12:34:56Z */

static void test_insert_list_filters(void) {
        g_autofree char *long_prompt = NULL;
        TestDir t;
        Store *s;
        json_t *a, *e;
        StoredRun r;

        test_dir_init(&t);
        s = open_store(t.db);

        /* uid 1000: runs 1..6 at T0 + id s; uid 2000: run 7. */
        insert(s, make_run(1, 1000, "llama3", T0 + 1 * USEC_PER_SEC, true, 0.5, 10, 20, 0.25));
        insert(s, make_run(2, 1000, "qwen3", T0 + 2 * USEC_PER_SEC, true, 0.5, 10, 20, 0.25));
        insert(s, make_run(3, 1000, "llama3", T0 + 3 * USEC_PER_SEC, false, 0.25, 10, 20, 0.25));
        r = make_run(4, 1000, "llama3", T0 + 4 * USEC_PER_SEC, true, 0.5, 10, 20, 0.25);
        r.job_id = 5;
        r.warmup = true;
        insert(s, r);
        r = make_run(5, 1000, "llama3", T0 + 5 * USEC_PER_SEC, true, 0.5, 10, 20, 0.25);
        r.job_id = 5;
        r.label = "batch, \"one\"";
        insert(s, r);
        r = make_run(6, 1000, "qwen3", T0 + 6 * USEC_PER_SEC, true, 0.5, 10, 20, 0.25);
        r.state = "failed";
        r.error_name = "org.llmlab.Lab1.Error.BackendError";
        r.error_message = "model crashed";
        long_prompt = g_strnfill(600, 'x');
        for (size_t i = 0; i < 600; i += 2)
                memcpy(long_prompt + i, "\xc3\xa9", 2); /* 300 × "é" */
        json_object_set_new(r.request, "user_prompt", json_string(long_prompt));
        insert(s, r);
        insert(s, make_run(7, 2000, "llama3", T0 + 7 * USEC_PER_SEC, true, 0.5, 10, 20, 0.25));

        assert_ids(s, (RunFilter){.uid = 1000}, "6,5,3,2,1");
        assert_ids(s, (RunFilter){.uid = 1000, .include_warmup = true}, "6,5,4,3,2,1");
        assert_ids(s, (RunFilter){.uid = 1000, .model = "llama3"}, "5,3,1");
        assert_ids(s, (RunFilter){.uid = 1000, .since_usec = T0 + 3 * USEC_PER_SEC}, "6,5,3");
        assert_ids(s, (RunFilter){.uid = 1000, .limit = 2}, "6,5");
        assert_ids(s, (RunFilter){.uid = 1000, .job_id = 5}, "5");
        assert_ids(s, (RunFilter){.uid = 1000, .job_id = 5, .include_warmup = true}, "5,4");
        assert_ids(
                s,
                (RunFilter){.uid = 1000, .model = "llama3", .since_usec = T0 + 2 * USEC_PER_SEC, .limit = 1},
                "5");
        assert_ids(s, (RunFilter){.all_users = true}, "7,6,5,3,2,1");
        assert_ids(s, (RunFilter){.all_users = true, .model = "llama3", .limit = 2}, "7,5");
        assert_ids(s, (RunFilter){.uid = 3000}, "");
        assert_ids(s, (RunFilter){.uid = 1000, .model = "nope"}, "");

        /* The entry: the stored result with the run's columns over it. */
        a = list(s, (RunFilter){.uid = 1000, .limit = 2});
        e = json_array_get(a, 0);
        g_assert_cmpstr(json_string_value(json_object_get(e, "state")), ==, "failed");
        g_assert_cmpstr(json_string_value(json_object_get(json_object_get(e, "error"), "name")), ==,
                        "org.llmlab.Lab1.Error.BackendError");
        g_assert_cmpstr(json_string_value(json_object_get(json_object_get(e, "error"), "message")), ==,
                        "model crashed");
        g_assert_cmpint(json_integer_value(json_object_get(e, "created")), ==, T0 + 6 * USEC_PER_SEC);
        g_assert_cmpint(json_integer_value(json_object_get(e, "finished")), ==, T0 + 8 * USEC_PER_SEC);
        g_assert_cmpint(json_integer_value(json_object_get(e, "uid")), ==, 1000);
        g_assert_cmpstr(json_string_value(json_object_get(e, "measure")), ==, "live");
        g_assert_cmpint(json_integer_value(json_object_get(json_object_get(e, "tokens"), "output")), ==, 20);
        g_assert_cmpfloat(json_real_value(json_object_get(json_object_get(e, "timing"), "tpot_ms")), ==,
                          6.25);
        g_assert_null(json_object_get(e, "label"));
        g_assert_null(json_object_get(e, "job"));
        /* 200 characters (400 bytes of "é"), not 200 bytes. */
        g_assert_cmpuint(g_utf8_strlen(json_string_value(json_object_get(e, "user_prompt")), -1), ==, 200);
        g_assert_cmpuint(strlen(json_string_value(json_object_get(e, "user_prompt"))), ==, 400);
        e = json_array_get(a, 1);
        g_assert_cmpstr(json_string_value(json_object_get(e, "label")), ==, "batch, \"one\"");
        g_assert_cmpint(json_integer_value(json_object_get(e, "job")), ==, 5);
        g_assert_true(json_is_false(json_object_get(e, "warmup")));
        g_assert_cmpstr(json_string_value(json_object_get(e, "user_prompt")), ==, "What is 2+2?");
        g_assert_null(json_object_get(e, "error"));
        json_decref(a);

        /* Duplicates and bad runs. */
        r = make_run(7, 1000, "x", T0, true, 0.5, 1, 1, 0);
        g_assert_cmpint(store_insert_run(s, &r), ==, -EEXIST);
        r.id = 8;
        r.state = "decoding";
        g_assert_cmpint(store_insert_run(s, &r), ==, -EINVAL);
        r.state = "done";
        r.model = "";
        g_assert_cmpint(store_insert_run(s, &r), ==, -EINVAL);
        r.model = "x";
        r.id = 0;
        g_assert_cmpint(store_insert_run(s, &r), ==, -EINVAL);
        run_clear(&r);
        assert_ids(s, (RunFilter){.all_users = true, .include_warmup = true}, "7,6,5,4,3,2,1");

        store_free(s);
        test_dir_done(&t);
}

static void test_get_run(void) {
        TestDir t;
        Store *s;
        json_t *rec;
        StoredRun r;

        test_dir_init(&t);
        s = open_store(t.db);

        r = make_run(3, 1000, "llama3", T0, true, 0.5, 10, 20, 0.25);
        r.answer = "The answer\nis \"4\".";
        r.thinking = "2+2=4 \xe2\x9c\x93";
        r.label = "L";
        r.job_id = 2;
        g_assert_cmpint(store_insert_run(s, &r), ==, 0);

        g_assert_cmpint(store_get_run(s, 3, &rec), ==, 0);
        g_assert_cmpint(json_integer_value(json_object_get(rec, "id")), ==, 3);
        g_assert_cmpint(json_integer_value(json_object_get(rec, "uid")), ==, 1000);
        g_assert_cmpint(json_integer_value(json_object_get(rec, "created")), ==, T0);
        g_assert_cmpstr(json_string_value(json_object_get(rec, "answer")), ==, r.answer);
        g_assert_cmpstr(json_string_value(json_object_get(rec, "thinking")), ==, r.thinking);
        g_assert_cmpstr(json_string_value(json_object_get(rec, "label")), ==, "L");
        g_assert_cmpint(json_integer_value(json_object_get(rec, "job")), ==, 2);
        g_assert_true(json_equal(json_object_get(rec, "request"), r.request));
        g_assert_true(json_equal(json_object_get(rec, "result"), r.result));
        json_decref(rec);
        run_clear(&r);

        g_assert_cmpint(store_get_run(s, 4, &rec), ==, -ENOENT);

        /* A stray byte in a transcript does not lose the run. */
        r = make_run(4, 1000, "llama3", T0, true, 0.5, 10, 20, 0.25);
        r.answer = "ab\xff"
                   "c";
        g_assert_cmpint(store_insert_run(s, &r), ==, 0);
        run_clear(&r);
        g_assert_cmpint(store_get_run(s, 4, &rec), ==, 0);
        g_assert_cmpstr(json_string_value(json_object_get(rec, "answer")), ==,
                        "ab\xef\xbf\xbd"
                        "c");
        json_decref(rec);

        store_free(s);
        test_dir_done(&t);
}

static int nested_query(const StoredRun *run, void *userdata) {
        Store *s = userdata;
        RunFilter f = {.uid = 1000};
        json_t *a = NULL, *rec = NULL;

        /* A different query is fine; the very same one is busy. */
        g_assert_cmpint(store_get_run(s, run->id, &rec), ==, 0);
        json_decref(rec);
        g_assert_cmpint(store_list_runs(s, &f, &a), ==, -EBUSY);
        g_assert_null(a);
        return 0;
}

static int stop_at_first(const StoredRun *run, void *userdata) {
        (*(unsigned *) userdata)++;
        return -ECANCELED;
}

static void test_foreach(void) {
        unsigned n = 0;
        TestDir t;
        Store *s;

        test_dir_init(&t);
        s = open_store(t.db);
        insert(s, make_run(1, 1000, "m", T0, true, 0.5, 1, 2, 0));
        insert(s, make_run(2, 1000, "m", T0 + 1, true, 0.5, 1, 2, 0));

        g_assert_cmpint(store_foreach_run(s, &(RunFilter){.uid = 1000}, nested_query, s), ==, 0);
        g_assert_cmpint(store_foreach_run(s, &(RunFilter){.uid = 1000}, stop_at_first, &n), ==, -ECANCELED);
        g_assert_cmpuint(n, ==, 1);
        /* The statement was reset: the same query works again. */
        assert_ids(s, (RunFilter){.uid = 1000}, "2,1");

        store_free(s);
        test_dir_done(&t);
}

/* ---- users and sessions ------------------------------------------------------------------------- */

static void test_isolation(void) {
        json_t *a, *sum;
        size_t i;
        json_t *e;
        TestDir t;
        Store *s;

        test_dir_init(&t);
        s = open_store(t.db);
        for (unsigned k = 1; k <= 20; k++)
                insert(s, make_run(k, k % 2 ? 1001 : 1002, "m", T0 + k, true, 0.5, 1, 2, 0.5));

        a = list(s, (RunFilter){.uid = 1001, .include_warmup = true});
        g_assert_cmpuint(json_array_size(a), ==, 10);
        json_array_foreach (a, i, e) {
                g_assert_cmpint(json_integer_value(json_object_get(e, "uid")), ==, 1001);
                g_assert_cmpint(json_integer_value(json_object_get(e, "run")) % 2, ==, 1);
        }
        json_decref(a);

        g_assert_cmpint(store_session_summary(s, 1002, &sum), ==, 0);
        g_assert_cmpint(json_integer_value(json_object_get(sum, "runs")), ==, 10);
        g_assert_cmpfloat(json_real_value(json_object_get(sum, "total_wh")), ==, 5.0);
        json_decref(sum);

        /* Clearing one user's session leaves the other's alone. */
        g_assert_cmpint(store_clear_session(s, 1001, T0 + 3600 * USEC_PER_SEC), ==, 0);
        g_assert_cmpint(store_session_summary(s, 1001, &sum), ==, 0);
        g_assert_cmpint(json_integer_value(json_object_get(sum, "runs")), ==, 0);
        json_decref(sum);
        g_assert_cmpint(store_session_summary(s, 1002, &sum), ==, 0);
        g_assert_cmpint(json_integer_value(json_object_get(sum, "runs")), ==, 10);
        json_decref(sum);

        assert_ids(s, (RunFilter){.uid = 1003}, "");
        store_free(s);
        test_dir_done(&t);
}

static void assert_summary(json_t *sum, int64_t runs, int64_t measured_runs, double total, double measured,
                           double estimated, double co2, int64_t in, int64_t out) {
        g_assert_cmpint(json_integer_value(json_object_get(sum, "runs")), ==, runs);
        g_assert_cmpint(json_integer_value(json_object_get(sum, "measured_runs")), ==, measured_runs);
        g_assert_cmpfloat(json_real_value(json_object_get(sum, "total_wh")), ==, total);
        g_assert_cmpfloat(json_real_value(json_object_get(sum, "measured_wh")), ==, measured);
        g_assert_cmpfloat(json_real_value(json_object_get(sum, "estimated_wh")), ==, estimated);
        g_assert_cmpfloat(json_real_value(json_object_get(sum, "co2_g")), ==, co2);
        g_assert_cmpint(json_integer_value(json_object_get(sum, "input_tokens")), ==, in);
        g_assert_cmpint(json_integer_value(json_object_get(sum, "output_tokens")), ==, out);
}

static void test_session_summary(void) {
        TestDir t;
        Store *s;
        json_t *sum;
        StoredRun r;

        test_dir_init(&t);
        s = open_store(t.db);

        /* Never ran: zeros, no start, no mean. */
        g_assert_cmpint(store_session_summary(s, 1000, &sum), ==, 0);
        assert_summary(sum, 0, 0, 0, 0, 0, 0, 0, 0);
        g_assert_null(json_object_get(sum, "started"));
        g_assert_null(json_object_get(sum, "mean_wh_per_1000_etokens"));
        json_decref(sum);

        insert(s, make_run(1, 1000, "m", T0, true, 0.5, 100, 200, 0.25));        /* measured */
        insert(s, make_run(2, 1000, "m", T0 + 10, true, 0.25, 50, 300, 0.125));  /* measured */
        insert(s, make_run(3, 1000, "m", T0 + 20, false, 0.125, 10, 0, 0.0625)); /* estimate, no output */
        insert(s, make_run(4, 1000, "m", T0 + 30, false, -1, 40, 500, 0));       /* measure off: no energy */
        r = make_run(5, 1000, "m", T0 + 40, true, 8.0, 1000, 1000, 4.0);         /* warm-up: left out */
        r.warmup = true;
        insert(s, r);

        g_assert_cmpint(store_session_summary(s, 1000, &sum), ==, 0);
        assert_summary(sum, 4, 2, 0.875, 0.75, 0.125, 0.4375, 200, 1000);
        g_assert_cmpint(json_integer_value(json_object_get(sum, "started")), ==, T0);
        /* (0.5 + 0.25) Wh over 500 output tokens of the runs with energy and output: 1.5 Wh/1000. */
        g_assert_cmpfloat(json_real_value(json_object_get(sum, "mean_wh_per_1000_etokens")), ==, 1.5);
        json_decref(sum);

        /* Clear: a new session, nothing in it yet; runs are kept. */
        g_assert_cmpint(store_clear_session(s, 1000, T0 + 60 * USEC_PER_SEC), ==, 0);
        g_assert_cmpint(store_session_summary(s, 1000, &sum), ==, 0);
        assert_summary(sum, 0, 0, 0, 0, 0, 0, 0, 0);
        g_assert_cmpint(json_integer_value(json_object_get(sum, "started")), ==, T0 + 60 * USEC_PER_SEC);
        g_assert_null(json_object_get(sum, "mean_wh_per_1000_etokens"));
        json_decref(sum);
        assert_ids(s, (RunFilter){.uid = 1000, .include_warmup = true}, "5,4,3,2,1");

        /* A run finished after the clear counts, and does not move the start. */
        insert(s, make_run(6, 1000, "m", T0 + 61 * USEC_PER_SEC, false, 0.0625, 8, 16, 0.5));
        g_assert_cmpint(store_session_summary(s, 1000, &sum), ==, 0);
        assert_summary(sum, 1, 0, 0.0625, 0, 0.0625, 0.5, 8, 16);
        g_assert_cmpint(json_integer_value(json_object_get(sum, "started")), ==, T0 + 60 * USEC_PER_SEC);
        g_assert_cmpfloat(json_real_value(json_object_get(sum, "mean_wh_per_1000_etokens")), ==, 3.90625);
        json_decref(sum);

        /* The session survives a restart. */
        store_free(s);
        s = open_store(t.db);
        g_assert_cmpint(store_session_summary(s, 1000, &sum), ==, 0);
        assert_summary(sum, 1, 0, 0.0625, 0, 0.0625, 0.5, 8, 16);
        json_decref(sum);

        store_free(s);
        test_dir_done(&t);
}

/* ---- exports ---------------------------------------------------------------------------------- */

static void test_export_format_strings(void) {
        g_assert_cmpint(export_format_from_string("json"), ==, EXPORT_FORMAT_JSON);
        g_assert_cmpint(export_format_from_string("csv"), ==, EXPORT_FORMAT_CSV);
        g_assert_cmpint(export_format_from_string("openmetrics"), ==, EXPORT_FORMAT_OPENMETRICS);
        g_assert_cmpint(export_format_from_string("CSV"), ==, _EXPORT_FORMAT_INVALID);
        g_assert_cmpint(export_format_from_string(NULL), ==, _EXPORT_FORMAT_INVALID);
        g_assert_cmpstr(export_format_to_string(EXPORT_FORMAT_OPENMETRICS), ==, "openmetrics");
        g_assert_null(export_format_to_string(_EXPORT_FORMAT_MAX));
}

static void test_export_json(void) {
        g_autofree char *text = NULL, *empty = NULL;
        json_error_t error;
        json_t *a, *rec;
        StoredRun runs[3];
        TestDir t;
        Store *s;

        test_dir_init(&t);
        s = open_store(t.db);

        runs[0] = make_run(1, 1000, "llama3", T0, true, 0.5, 10, 20, 0.25);
        runs[1] = make_run(2, 1000, "qwen3:0.6b", T0 + 1, false, 0.25, 11, 21, 0.125);
        runs[1].answer = "line 1\nline \"2\"\t\xe2\x82\xac";
        runs[1].thinking = "hmm";
        runs[1].label = "a,b";
        runs[1].job_id = 4;
        runs[2] = make_run(3, 2000, "other-user", T0 + 2, true, 0.5, 10, 20, 0.25);
        for (size_t i = 0; i < 3; i++)
                g_assert_cmpint(store_insert_run(s, &runs[i]), ==, 0);

        empty = export_to_string(s, (RunFilter){.uid = 4242}, EXPORT_FORMAT_JSON);
        g_assert_cmpstr(empty, ==, "[]\n");

        text = export_to_string(s, (RunFilter){.uid = 1000}, EXPORT_FORMAT_JSON);
        g_assert_true(g_str_has_prefix(text, "[\n  {\n    \""));
        g_assert_true(g_str_has_suffix(text, "\n  }\n]\n"));
        a = json_loads(text, 0, &error);
        if (!a)
                g_error("export is not JSON: %s at %d:%d", error.text, error.line, error.column);
        g_assert_cmpuint(json_array_size(a), ==, 2);

        for (size_t i = 0; i < 2; i++) {
                StoredRun *r = &runs[1 - i]; /* newest first */

                rec = json_array_get(a, i);
                g_assert_cmpint(json_integer_value(json_object_get(rec, "id")), ==, r->id);
                g_assert_cmpint(json_integer_value(json_object_get(rec, "uid")), ==, r->uid);
                g_assert_cmpint(json_integer_value(json_object_get(rec, "created")), ==, r->created_usec);
                g_assert_cmpint(json_integer_value(json_object_get(rec, "finished")), ==, r->finished_usec);
                g_assert_cmpstr(json_string_value(json_object_get(rec, "model")), ==, r->model);
                g_assert_cmpstr(json_string_value(json_object_get(rec, "backend")), ==, r->backend);
                g_assert_cmpstr(json_string_value(json_object_get(rec, "state")), ==, r->state);
                g_assert_cmpstr(json_string_value(json_object_get(rec, "measure")), ==, r->measure);
                g_assert_cmpstr(json_string_value(json_object_get(rec, "answer")), ==, r->answer);
                g_assert_cmpstr(json_string_value(json_object_get(rec, "thinking")), ==, r->thinking);
                g_assert_cmpstr(json_string_value(json_object_get(rec, "label")), ==, r->label);
                g_assert_true(json_equal(json_object_get(rec, "request"), r->request));
                g_assert_true(json_equal(json_object_get(rec, "result"), r->result));
        }
        g_assert_cmpint(json_integer_value(json_object_get(json_array_get(a, 0), "job")), ==, 4);
        g_assert_null(json_object_get(json_array_get(a, 1), "job"));
        json_decref(a);

        for (size_t i = 0; i < 3; i++)
                run_clear(&runs[i]);
        g_assert_cmpint(store_export_runs(s, &(RunFilter){}, _EXPORT_FORMAT_MAX, 1), ==, -EINVAL);
        g_assert_cmpint(store_export_runs(s, &(RunFilter){}, EXPORT_FORMAT_JSON, -1), ==, -EINVAL);
        store_free(s);
        test_dir_done(&t);
}

/* A strict RFC 4180 reader: CRLF records, quoted fields with doubled quotes. */
static GPtrArray *csv_parse(const char *text) {
        GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify) g_ptr_array_unref);
        GPtrArray *row = g_ptr_array_new_with_free_func(g_free);
        GString *field = g_string_new(NULL);
        const char *p = text;

        while (*p) {
                if (*p == '"') {
                        g_assert_cmpuint(field->len, ==, 0);
                        for (p++;; p++) {
                                g_assert_true(*p != 0);
                                if (*p == '"') {
                                        if (p[1] != '"')
                                                break;
                                        p++;
                                }
                                g_string_append_c(field, *p);
                        }
                        p++;
                        g_assert_true(*p == ',' || *p == '\r');
                        continue;
                }
                if (*p == ',' || *p == '\r') {
                        g_ptr_array_add(row, g_strdup(field->str));
                        g_string_truncate(field, 0);
                        if (*p == '\r') {
                                g_assert_cmpint(p[1], ==, '\n');
                                g_ptr_array_add(rows, row);
                                row = g_ptr_array_new_with_free_func(g_free);
                                p++;
                        }
                        p++;
                        continue;
                }
                g_assert_true(*p != '\n' && *p != '"');
                g_string_append_c(field, *p++);
        }
        g_assert_cmpuint(row->len, ==, 0); /* the last record ends with CRLF */
        g_assert_cmpuint(field->len, ==, 0);
        g_ptr_array_unref(row);
        g_string_free(field, true);
        return rows;
}

static const char *cell(GPtrArray *rows, unsigned r, unsigned c) {
        return g_ptr_array_index((GPtrArray *) g_ptr_array_index(rows, r), c);
}

static void test_export_csv(void) {
        static const char header[] =
                "id,created,model,backend,state,measure,label,job,warmup,input_tokens,output_tokens,"
                "thinking_tokens,ttft_ms,tpot_ms,e2e_ms,tokens_per_s,load_wh,prefill_wh,decode_wh,total_wh,"
                "net_total_wh,idle_w,wh_per_1000_etokens,prefill_wh_per_1000_input_tokens,"
                "decode_wh_per_1000_output_tokens,j_per_output_token,co2_g,region,measured,split_method,"
                "sources";
        g_autoptr(GPtrArray) rows = NULL;
        g_autofree char *text = NULL, *empty = NULL, *first_row = NULL;
        TestDir t;
        Store *s;
        StoredRun r;

        test_dir_init(&t);
        s = open_store(t.db);
        g_assert_cmpstr(header, ==, STORE_CSV_HEADER);

        empty = export_to_string(s, (RunFilter){.uid = 1000}, EXPORT_FORMAT_CSV);
        g_assert_cmpstr(empty, ==, STORE_CSV_HEADER "\r\n");

        /* Run 1: plain; its row is checked byte for byte. */
        r = make_run(1, 1000, "llama3", T0 + 123, true, 0.5, 10, 20, 0.25);
        json_object_set_new(json_object_get(r.result, "energy"), "sources",
                            json_pack("[s, s]", "rapl", "nvml"));
        insert(s, r);
        /* Run 2: every character that needs quoting, in the model and the label; an estimate with a
         * job, a huge token count and a number that needs 17 digits. */
        r = make_run(2, 1000, "we,ird \"model\"", T0 + 2 * USEC_PER_SEC, false, 0.1, 10, 20, 0.25);
        r.label = "line1\r\nline2, \"quoted\"";
        r.job_id = 12;
        json_object_set_new(json_object_get(r.result, "tokens"), "input",
                            json_integer(INT64_C(9007199254740993)));
        insert(s, r);
        /* Run 3: no energy at all (measure off), no split method or sources: empty fields, except
         * measured which falls back to provenance. */
        insert(s, make_run(3, 1000, "m", T0 + 3 * USEC_PER_SEC, false, -1, 1, 2, 0));

        text = export_to_string(s, (RunFilter){.uid = 1000}, EXPORT_FORMAT_CSV);
        g_assert_true(g_str_has_prefix(text, STORE_CSV_HEADER "\r\n"));
        first_row = g_strdup(strstr(text, "\r\n1,") + 2);
        g_assert_cmpstr(
                first_row, ==,
                "1,2024-05-01T12:34:56.000123Z,llama3,ollama,done,live,,,false,10,20,7,125.5,6.25,1500,160,"
                "0,0.125,0.375,0.5,0.25,8,25,,,,0.25,FR,true,server-timings,rapl;nvml\r\n");

        rows = csv_parse(text);
        g_assert_cmpuint(rows->len, ==, 4);
        for (unsigned i = 0; i < rows->len; i++)
                g_assert_cmpuint(((GPtrArray *) g_ptr_array_index(rows, i))->len, ==, 31);

        /* Newest first: run 3, run 2, run 1. */
        g_assert_cmpstr(cell(rows, 1, 0), ==, "3");
        g_assert_cmpstr(cell(rows, 1, 5), ==, "off");
        g_assert_cmpstr(cell(rows, 1, 19), ==, "");      /* total_wh */
        g_assert_cmpstr(cell(rows, 1, 28), ==, "false"); /* measured, from provenance */
        g_assert_cmpstr(cell(rows, 1, 29), ==, "");      /* split_method */
        g_assert_cmpstr(cell(rows, 1, 30), ==, "");      /* sources */

        g_assert_cmpstr(cell(rows, 2, 0), ==, "2");
        g_assert_cmpstr(cell(rows, 2, 1), ==, "2024-05-01T12:34:58.000000Z");
        g_assert_cmpstr(cell(rows, 2, 2), ==, "we,ird \"model\"");
        g_assert_cmpstr(cell(rows, 2, 6), ==, "line1\r\nline2, \"quoted\"");
        g_assert_cmpstr(cell(rows, 2, 7), ==, "12");
        g_assert_cmpstr(cell(rows, 2, 9), ==, "9007199254740993");
        g_assert_cmpstr(cell(rows, 2, 19), ==, "0.1");
        g_assert_cmpstr(cell(rows, 2, 17), ==, "0.025");
        g_assert_cmpstr(cell(rows, 2, 18), ==, "0.07500000000000001"); /* 0.1 * 3 / 4 needs 16 digits */
        g_assert_cmpstr(cell(rows, 2, 28), ==, "false");
        g_assert_cmpstr(cell(rows, 2, 30), ==, "benchmark");
        g_assert_nonnull(strstr(text, ",\"we,ird \"\"model\"\"\",ollama,done,estimate,"
                                      "\"line1\r\nline2, \"\"quoted\"\"\",12,false,"));

        /* No prompts, no transcripts. */
        g_assert_null(strstr(text, "What is 2+2?"));

        store_free(s);
        test_dir_done(&t);
}

/* ---- a strict OpenMetrics 1.0 text checker ------------------------------------------------------ */

typedef struct OmFamily {
        char *name, *type;
        bool has_type, has_help, has_unit, has_samples;
        GHashTable *series;
} OmFamily;

static bool om_name_ok(const char *s, size_t n, bool label) {
        if (n == 0 || !(g_ascii_isalpha(s[0]) || s[0] == '_' || (!label && s[0] == ':')))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(g_ascii_isalnum(s[i]) || s[i] == '_' || (!label && s[i] == ':')))
                        return false;
        return true;
}

/* Escaped text up to (not including) @end; only \\, \n and \" are valid escapes. */
static bool om_escapes_ok(const char *s, const char *end, bool allow_raw_quote) {
        for (const char *p = s; p < end; p++) {
                if (*p == '\\') {
                        p++;
                        if (p >= end || (*p != '\\' && *p != 'n' && *p != '"'))
                                return false;
                } else if (*p == '\n' || (*p == '"' && !allow_raw_quote))
                        return false;
        }
        return true;
}

static bool om_number_ok(const char *s, double *ret) {
        g_autoptr(GRegex) re = g_regex_new("^(?:[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                                           "|[+-]?(?i:inf|infinity)|(?i:nan))$",
                                           0, 0, NULL);

        if (!g_regex_match(re, s, 0, NULL))
                return false;
        *ret = g_ascii_strtod(s, NULL);
        return true;
}

/* Parses {a="x",b="y"}; returns the position after '}' or NULL. */
static const char *om_labels(const char *p) {
        g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        if (*p != '{')
                return p;
        p++;
        if (*p == '}')
                return p + 1;
        for (;;) {
                const char *name = p, *value;

                while (g_ascii_isalnum(*p) || *p == '_')
                        p++;
                if (!om_name_ok(name, p - name, true) || !g_hash_table_add(names, g_strndup(name, p - name)))
                        return NULL;
                if (p[0] != '=' || p[1] != '"')
                        return NULL;
                value = p += 2;
                while (*p && *p != '"') {
                        if (*p == '\\' && p[1])
                                p++;
                        p++;
                }
                if (*p != '"' || !om_escapes_ok(value, p, false))
                        return NULL;
                p++;
                if (*p == '}')
                        return p + 1;
                if (*p != ',')
                        return NULL;
                p++;
        }
}

static void om_family_free(OmFamily *f) {
        g_free(f->name);
        g_free(f->type);
        g_hash_table_unref(f->series);
        g_free(f);
}

/* Returns NULL when @text is valid, else a description of the first problem. */
static char *om_check(const char *text) {
        static const char *const types[] = {"counter",  "gauge", "histogram", "gaugehistogram",
                                            "stateset", "info",  "summary",   "unknown"};
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_auto(GStrv) lines = NULL;
        OmFamily *cur = NULL;
        char *problem = NULL;
        size_t n;

        if (!g_utf8_validate(text, -1, NULL))
                return g_strdup("not UTF-8");
        if (!g_str_has_suffix(text, "# EOF\n"))
                return g_strdup("does not end with \"# EOF\\n\"");

        lines = g_strsplit(text, "\n", -1);
        n = g_strv_length(lines);
        g_assert_cmpstr(lines[n - 1], ==, "");
        g_assert_cmpstr(lines[n - 2], ==, "# EOF");

        for (size_t i = 0; i + 2 < n && !problem; i++) {
                const char *l = lines[i];

                if (l[0] == '#') {
                        g_auto(GStrv) parts = g_strsplit(l, " ", 4);
                        const char *kind = parts[1], *name = parts[1] ? parts[2] : NULL;
                        const char *arg = name ? parts[3] : NULL;

                        if (!streq(parts[0], "#") || !kind || !name || !arg)
                                problem = g_strdup_printf("line %zu: bad comment \"%s\"", i + 1, l);
                        else if (!om_name_ok(name, strlen(name), false))
                                problem = g_strdup_printf("line %zu: bad family name", i + 1);
                        if (problem)
                                break;
                        if (!cur || !streq(cur->name, name)) {
                                if (cur)
                                        om_family_free(cur);
                                if (!g_hash_table_add(seen, g_strdup(name))) {
                                        problem = g_strdup_printf("line %zu: family %s interleaved", i + 1,
                                                                  name);
                                        cur = NULL;
                                        break;
                                }
                                cur = g_new0(OmFamily, 1);
                                cur->name = g_strdup(name);
                                cur->type = g_strdup("unknown");
                                cur->series = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
                        }
                        if (cur->has_samples)
                                problem = g_strdup_printf("line %zu: metadata after samples", i + 1);
                        else if (streq(kind, "TYPE")) {
                                bool known = false;
                                for (size_t k = 0; k < ELEMENTSOF(types); k++)
                                        known = known || streq(arg, types[k]);
                                if (cur->has_type || !known)
                                        problem = g_strdup_printf("line %zu: bad or second TYPE", i + 1);
                                cur->has_type = true;
                                g_free(cur->type);
                                cur->type = g_strdup(arg);
                        } else if (streq(kind, "HELP")) {
                                if (cur->has_help || !om_escapes_ok(arg, arg + strlen(arg), false))
                                        problem = g_strdup_printf("line %zu: bad or second HELP", i + 1);
                                cur->has_help = true;
                        } else if (streq(kind, "UNIT")) {
                                g_autofree char *suffix = g_strconcat("_", arg, NULL);
                                if (cur->has_unit || !g_str_has_suffix(name, suffix))
                                        problem = g_strdup_printf("line %zu: bad or second UNIT", i + 1);
                                cur->has_unit = true;
                        } else
                                problem = g_strdup_printf("line %zu: unknown descriptor", i + 1);
                        continue;
                }

                /* A sample: name[{labels}] value */
                {
                        const char *p = l, *end;
                        g_autofree char *name = NULL, *series = NULL;
                        double value;

                        while (g_ascii_isalnum(*p) || *p == '_' || *p == ':')
                                p++;
                        name = g_strndup(l, p - l);
                        end = om_labels(p);
                        if (!om_name_ok(name, strlen(name), false) || !end || *end != ' ') {
                                problem = g_strdup_printf("line %zu: bad sample \"%s\"", i + 1, l);
                                break;
                        }
                        series = g_strndup(l, end - l);
                        if (!om_number_ok(end + 1, &value))
                                problem = g_strdup_printf("line %zu: bad value \"%s\"", i + 1, end + 1);
                        else if (!cur)
                                problem = g_strdup_printf("line %zu: sample without family", i + 1);
                        else if (streq(cur->type, "counter") && !(g_str_has_prefix(name, cur->name) &&
                                                                  streq(name + strlen(cur->name), "_total")))
                                problem = g_strdup_printf("line %zu: counter sample %s of %s", i + 1, name,
                                                          cur->name);
                        else if (!streq(cur->type, "counter") && !streq(name, cur->name))
                                problem =
                                        g_strdup_printf("line %zu: sample %s of %s", i + 1, name, cur->name);
                        else if (streq(cur->type, "counter") && !(value >= 0))
                                problem = g_strdup_printf("line %zu: negative or NaN counter", i + 1);
                        else if (!g_hash_table_add(cur->series, g_steal_pointer(&series)))
                                problem = g_strdup_printf("line %zu: duplicate series", i + 1);
                        else
                                cur->has_samples = true;
                }
        }

        if (cur)
                om_family_free(cur);
        return problem;
}

static void test_openmetrics_checker(void) {
        /* The checker itself must be able to fail. */
        static const char *const bad[] = {
                "a_total 1\n# EOF\n",                                       /* no family */
                "# TYPE a counter\na 1\n# EOF\n",                           /* counter without _total */
                "# TYPE a counter\na_total -1\n# EOF\n",                    /* negative counter */
                "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n# EOF\n",      /* duplicate series */
                "# TYPE a gauge\na{x=\"a\"b\"} 1\n# EOF\n",                 /* unescaped quote */
                "# TYPE a gauge\na{x=\"\\t\"} 1\n# EOF\n",                  /* invalid escape */
                "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n# EOF\n",            /* duplicate label */
                "# TYPE a gauge\na 1\n# HELP a late\n# EOF\n",              /* metadata after samples */
                "# TYPE a gauge\n# TYPE b gauge\n# HELP a x\n# EOF\n",      /* interleaved */
                "# TYPE a_seconds gauge\n# UNIT a_seconds joules\n# EOF\n", /* unit suffix */
                "# TYPE a gauge\na 1,5\n# EOF\n",                           /* bad number */
                "# TYPE a gauge\na 1\n",                                    /* no EOF */
                "# TYPE a gauge\n# just a comment\n# EOF\n",                /* free comment */
                "# TYPE a gauge\na 1\n# EOF\nextra\n",                      /* after EOF */
                "# TYPE a gauge\n# HELP a say \"hi\"\n# EOF\n",             /* raw quote in HELP */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                g_autofree char *problem = om_check(bad[i]);
                if (!problem)
                        g_error("checker accepted bad input %zu: %s", i, bad[i]);
        }
        g_assert_null(om_check(
                "# TYPE a_joules counter\n# UNIT a_joules joules\n# HELP a_joules x \\\\ \\\"y\\\"\n"
                "a_joules_total{m=\"q\\\"\\n\\\\\"} 1.5e-05\n# EOF\n"));
}

static void test_export_openmetrics(void) {
        g_autofree char *text = NULL, *empty = NULL, *problem = NULL;
        TestDir t;
        Store *s;
        StoredRun r;

        test_dir_init(&t);
        s = open_store(t.db);

        empty = export_to_string(s, (RunFilter){.uid = 1000}, EXPORT_FORMAT_OPENMETRICS);
        problem = om_check(empty);
        g_assert_null(problem);

        insert(s, make_run(1, 1000, "llama3", T0 + 1, true, 0.5, 10, 20, 0));
        insert(s, make_run(2, 1000, "llama3", T0 + 2, true, 0.25, 30, 40, 0));
        insert(s, make_run(3, 1000, "llama3", T0 + 3, false, 0.125, 5, 0, 0)); /* estimate, no output */
        insert(s, make_run(4, 1000, "llama3", T0 + 4, false, -1, 1, 2, 0));    /* no energy */
        insert(s, make_run(5, 1000, "we\"ird\\mo\ndel", T0 + 5, true, 1.0, 100, 1000, 0));
        r = make_run(6, 1000, "llama3", T0 + 6, true, 100.0, 1, 1, 0); /* warm-up: left out */
        r.warmup = true;
        insert(s, r);
        insert(s, make_run(7, 2000, "llama3", T0 + 7, true, 100.0, 1, 1, 0)); /* other user */

        text = export_to_string(s, (RunFilter){.uid = 1000}, EXPORT_FORMAT_OPENMETRICS);
        g_clear_pointer(&problem, g_free);
        problem = om_check(text);
        if (problem)
                g_error("invalid OpenMetrics: %s\n%s", problem, text);

        g_assert_cmpstr(
                text, ==,
                "# HELP llmlab_runs Runs stored by llmlabd.\n"
                "# TYPE llmlab_runs counter\n"
                "llmlab_runs_total{model=\"llama3\",backend=\"ollama\"} 4\n"
                "llmlab_runs_total{model=\"we\\\"ird\\\\mo\\ndel\",backend=\"ollama\"} 1\n"
                "# HELP llmlab_input_tokens Input tokens of the stored runs, as counted by the server.\n"
                "# TYPE llmlab_input_tokens counter\n"
                "llmlab_input_tokens_total{model=\"llama3\",backend=\"ollama\"} 46\n"
                "llmlab_input_tokens_total{model=\"we\\\"ird\\\\mo\\ndel\",backend=\"ollama\"} 100\n"
                "# HELP llmlab_output_tokens Output tokens of the stored runs, as counted by the server.\n"
                "# TYPE llmlab_output_tokens counter\n"
                "llmlab_output_tokens_total{model=\"llama3\",backend=\"ollama\"} 62\n"
                "llmlab_output_tokens_total{model=\"we\\\"ird\\\\mo\\ndel\",backend=\"ollama\"} 1000\n"
                "# HELP llmlab_energy_joules Gross energy of the stored runs; measured=\\\"false\\\" marks "
                "estimates from a benchmark.\n"
                "# TYPE llmlab_energy_joules counter\n"
                "# UNIT llmlab_energy_joules joules\n"
                "llmlab_energy_joules_total{model=\"llama3\",backend=\"ollama\",measured=\"false\"} 450\n"
                "llmlab_energy_joules_total{model=\"llama3\",backend=\"ollama\",measured=\"true\"} 2700\n"
                "llmlab_energy_joules_total{model=\"we\\\"ird\\\\mo\\ndel\",backend=\"ollama\","
                "measured=\"true\"} 3600\n"
                "# HELP llmlab_output_token_energy_joules Energy per output token: sum of energy / sum of "
                "output tokens.\n"
                "# TYPE llmlab_output_token_energy_joules gauge\n"
                "# UNIT llmlab_output_token_energy_joules joules\n"
                "llmlab_output_token_energy_joules{model=\"llama3\",backend=\"ollama\",measured=\"true\"} "
                "45\n"
                "llmlab_output_token_energy_joules{model=\"we\\\"ird\\\\mo\\ndel\",backend=\"ollama\","
                "measured=\"true\"} 3.6\n"
                "# HELP llmlab_wh_per_1000_etokens Energy per 1000 output tokens in watt-hours (the "
                "headline "
                "figure of llmlab): sum of Wh / sum of output tokens * 1000.\n"
                "# TYPE llmlab_wh_per_1000_etokens gauge\n"
                "llmlab_wh_per_1000_etokens{model=\"llama3\",backend=\"ollama\",measured=\"true\"} 12.5\n"
                "llmlab_wh_per_1000_etokens{model=\"we\\\"ird\\\\mo\\ndel\",backend=\"ollama\","
                "measured=\"true\"} 1\n"
                "# EOF\n");

        store_free(s);
        test_dir_done(&t);
}

/* ---- benchmarks, settings, jobs, ids -------------------------------------------------------------- */

static void test_benchmarks_settings(void) {
        g_autofree char *v = NULL;
        json_t *a, *b;
        TestDir t;
        Store *s;

        test_dir_init(&t);
        s = open_store(t.db);

        g_assert_cmpint(store_load_benchmarks(s, &a), ==, 0);
        g_assert_cmpuint(json_array_size(a), ==, 0);
        json_decref(a);

        b = json_pack("{s:s, s:f, s:f}", "name", "Mine", "input_wh_per_1000", 0.5, "output_wh_per_1000",
                      2.0);
        g_assert_cmpint(store_save_benchmark(s, "custom:z", b), ==, 0);
        json_decref(b);
        b = json_pack("{s:s, s:f, s:f}", "name", "Old", "input_wh_per_1000", 1.0, "output_wh_per_1000", 1.0);
        g_assert_cmpint(store_save_benchmark(s, "rapl_calibrated_llama3", b), ==, 0);
        json_decref(b);
        b = json_pack("{s:s, s:f, s:f}", "name", "New", "input_wh_per_1000", 0.25, "output_wh_per_1000",
                      4.0);
        g_assert_cmpint(store_save_benchmark(s, "rapl_calibrated_llama3", b), ==, 0); /* upsert */
        json_decref(b);
        b = json_string("not an object");
        g_assert_cmpint(store_save_benchmark(s, "x", b), ==, -EINVAL);
        json_decref(b);

        store_free(s);
        s = open_store(t.db);
        g_assert_cmpint(store_load_benchmarks(s, &a), ==, 0);
        g_assert_cmpuint(json_array_size(a), ==, 2);
        b = json_pack("{s:s, s:f, s:f, s:s}", "name", "Mine", "input_wh_per_1000", 0.5, "output_wh_per_1000",
                      2.0, "id", "custom:z");
        g_assert_true(json_equal(json_array_get(a, 0), b));
        json_decref(b);
        g_assert_cmpstr(json_string_value(json_object_get(json_array_get(a, 1), "name")), ==, "New");
        g_assert_cmpstr(json_string_value(json_object_get(json_array_get(a, 1), "id")), ==,
                        "rapl_calibrated_llama3");
        json_decref(a);

        g_assert_cmpint(store_remove_benchmark(s, "custom:z"), ==, 0);
        g_assert_cmpint(store_remove_benchmark(s, "custom:z"), ==, -ENOENT);
        g_assert_cmpint(store_load_benchmarks(s, &a), ==, 0);
        g_assert_cmpuint(json_array_size(a), ==, 1);
        json_decref(a);

        g_assert_cmpint(store_get_setting(s, "region", &v), ==, -ENOENT);
        g_assert_cmpint(store_set_setting(s, "region", "FR"), ==, 0);
        g_assert_cmpint(store_set_setting(s, "region", "DE"), ==, 0);
        g_assert_cmpint(store_get_setting(s, "region", &v), ==, 0);
        g_assert_cmpstr(v, ==, "DE");
        g_clear_pointer(&v, free);
        g_assert_cmpint(store_set_setting(s, "region", NULL), ==, 0);
        g_assert_cmpint(store_get_setting(s, "region", &v), ==, -ENOENT);
        g_assert_cmpint(store_set_setting(s, "", "x"), ==, -EINVAL);

        store_free(s);
        test_dir_done(&t);
}

static void test_jobs(void) {
        json_t *j, *request, *summary;
        uint64_t run_id, job_id;
        TestDir t;
        Store *s;
        StoredRun r;

        test_dir_init(&t);
        s = open_store(t.db);

        request = json_pack("{s:s}", "model", "llama3");
        summary = json_pack("{s:i, s:f}", "n", 3, "mean_wh", 0.5);
        g_assert_cmpint(store_insert_job(s, &(StoredJob){.id = 3,
                                                         .uid = 1000,
                                                         .kind = "batch",
                                                         .state = "running",
                                                         .created_usec = T0,
                                                         .request = request}),
                        ==, 0);
        for (unsigned k = 1; k <= 3; k++) {
                r = make_run(k, 1000, "llama3", T0 + k, true, 0.5, 1, 2, 0);
                r.job_id = 3;
                r.warmup = k == 1;
                insert(s, r);
        }
        g_assert_cmpint(store_insert_job(s, &(StoredJob){.id = 3,
                                                         .uid = 1000,
                                                         .kind = "batch",
                                                         .state = "done",
                                                         .created_usec = T0,
                                                         .finished_usec = T0 + 10,
                                                         .request = request,
                                                         .summary = summary}),
                        ==, 0);

        g_assert_cmpint(store_get_job(s, 3, &j), ==, 0);
        g_assert_cmpint(json_integer_value(json_object_get(j, "id")), ==, 3);
        g_assert_cmpint(json_integer_value(json_object_get(j, "uid")), ==, 1000);
        g_assert_cmpstr(json_string_value(json_object_get(j, "kind")), ==, "batch");
        g_assert_cmpstr(json_string_value(json_object_get(j, "state")), ==, "done");
        g_assert_cmpint(json_integer_value(json_object_get(j, "created")), ==, T0);
        g_assert_cmpint(json_integer_value(json_object_get(j, "finished")), ==, T0 + 10);
        g_assert_true(json_equal(json_object_get(j, "request"), request));
        g_assert_true(json_equal(json_object_get(j, "summary"), summary));
        g_assert_null(json_object_get(j, "options"));
        g_assert_cmpuint(json_array_size(json_object_get(j, "runs")), ==, 3);
        g_assert_cmpint(json_integer_value(json_array_get(json_object_get(j, "runs"), 2)), ==, 3);
        json_decref(j);
        json_decref(request);
        json_decref(summary);

        g_assert_cmpint(store_get_job(s, 4, &j), ==, -ENOENT);
        g_assert_cmpint(store_insert_job(s, &(StoredJob){.id = 5, .kind = "batch"}), ==, -EINVAL);

        /* A run of job 9, whose job row is not written yet: job ids still move past it. */
        r = make_run(4, 1000, "llama3", T0 + 5, true, 0.5, 1, 2, 0);
        r.job_id = 9;
        insert(s, r);
        g_assert_cmpint(store_next_ids(s, &run_id, &job_id), ==, 0);
        g_assert_cmpuint(run_id, ==, 5);
        g_assert_cmpuint(job_id, ==, 10);

        store_free(s);
        test_dir_done(&t);
}

static void test_next_ids_after_reopen(void) {
        uint64_t run_id = 0, job_id = 0;
        TestDir t;
        Store *s;

        test_dir_init(&t);
        s = open_store(t.db);
        insert(s, make_run(17, 1000, "m", T0, true, 0.5, 1, 2, 0));
        insert(s, make_run(5, 1000, "m", T0, true, 0.5, 1, 2, 0));
        g_assert_cmpint(store_insert_job(s, &(StoredJob){.id = 30, .kind = "crossover", .state = "done"}),
                        ==, 0);
        store_free(s);

        s = open_store(t.db);
        g_assert_cmpint(store_next_ids(s, &run_id, &job_id), ==, 0);
        g_assert_cmpuint(run_id, ==, 18);
        g_assert_cmpuint(job_id, ==, 31);
        g_assert_cmpint(store_next_ids(s, NULL, NULL), ==, 0);
        store_free(s);
        test_dir_done(&t);
}

/* ---- durability and speed ----------------------------------------------------------------------- */

#define KILL_AFTER 100
#define BIG_ANSWER 65536 /* 16 pages: a commit takes long enough to be hit by the kill */

/* The run the SIGKILL test stores under @id: everything derives from the id. */
static StoredRun durable_run(uint64_t id, char *answer) {
        StoredRun r = make_run(id, 1000 + id % 3, id % 2 ? "llama3" : "qwen3", T0 + id, true,
                               (double) id / 4, (json_int_t) id, (json_int_t) id * 2, 0.5);

        memset(answer, 'a' + id % 26, BIG_ANSWER);
        answer[BIG_ANSWER] = 0;
        r.answer = answer;
        return r;
}

static void check_durable_run(Store *s, uint64_t id) {
        g_autofree char *answer = g_malloc(BIG_ANSWER + 1);
        StoredRun expected = durable_run(id, answer);
        json_t *rec = NULL;

        if (store_get_run(s, id, &rec) < 0)
                g_error("committed run %" PRIu64 " is missing", id);
        g_assert_cmpstr(json_string_value(json_object_get(rec, "model")), ==, expected.model);
        g_assert_cmpint(json_integer_value(json_object_get(rec, "uid")), ==, expected.uid);
        g_assert_cmpstr(json_string_value(json_object_get(rec, "answer")), ==, answer);
        g_assert_true(json_equal(json_object_get(rec, "result"), expected.result));
        g_assert_true(json_equal(json_object_get(rec, "request"), expected.request));
        json_decref(rec);
        run_clear(&expected);
}

static _Noreturn void durable_child(const char *path, int fd) {
        g_autofree char *answer = g_malloc(BIG_ANSWER + 1);
        uint64_t first = 0;
        Store *s = NULL;

        if (store_open(path, &s) < 0 || store_next_ids(s, &first, NULL) < 0)
                _exit(2);
        /* Bounded: the parent kills us long before. */
        for (uint64_t id = first; id < first + 100000; id++) {
                StoredRun r = durable_run(id, answer);

                if (store_insert_run(s, &r) < 0)
                        _exit(3);
                run_clear(&r);
                /* Reported only once committed. */
                if (write(fd, &id, sizeof(id)) != sizeof(id))
                        _exit(4);
        }
        _exit(5);
}

/* Starts a child that stores runs as fast as it can, SIGKILLs it (most likely inside a transaction)
 * once it reported KILL_AFTER runs, and returns the last id it reported. */
static uint64_t run_and_kill(const char *path) {
        uint64_t id, last = 0;
        int pipefd[2], status;
        unsigned n = 0;
        pid_t pid;

        g_assert_cmpint(pipe2(pipefd, O_CLOEXEC), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                close(pipefd[0]);
                durable_child(path, pipefd[1]);
        }
        close(pipefd[1]);

        while (n < KILL_AFTER && read(pipefd[0], &id, sizeof(id)) == sizeof(id)) {
                last = id;
                n++;
        }
        g_assert_cmpuint(n, ==, KILL_AFTER);
        /* A random delay, so that over the rounds the kill lands at different points of an insert:
         * building it, inside the transaction, while the commit writes the WAL. */
        g_usleep(g_test_rand_int_range(0, 1000));
        g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while (read(pipefd[0], &id, sizeof(id)) == sizeof(id))
                last = id;
        close(pipefd[0]);
        return last;
}

static void test_sigkill_durability(void) {
        TestDir t;

        test_dir_init(&t);

        for (unsigned round = 1; round <= 5; round++) {
                uint64_t last = run_and_kill(t.db);
                size_t stored;
                json_t *all;
                Store *s;

                s = open_store(t.db);
                g_assert_cmpint(store_check_integrity(s), ==, 0);
                for (uint64_t id = 1; id <= last; id++)
                        check_durable_run(s, id);

                /* At most the one run that was committed but not yet reported is there besides. */
                g_assert_cmpint(
                        store_list_runs(s, &(RunFilter){.all_users = true, .include_warmup = true}, &all),
                        ==, 0);
                stored = json_array_size(all);
                json_decref(all);
                g_assert_cmpuint(stored, >=, last);
                g_assert_cmpuint(stored, <=, last + 1);
                if (stored == last + 1)
                        check_durable_run(s, last + 1);
                g_test_message("round %u: SIGKILL after run %" PRIu64
                               " was reported; %zu stored; integrity ok",
                               round, last, stored);
                store_free(s);
        }

        test_dir_done(&t);
}

static void test_speed(void) {
        g_autofree char *csv = NULL;
        int64_t t0, t1, t2, t3;
        json_t *a;
        TestDir t;
        Store *s;

        test_dir_init(&t);
        s = open_store(t.db);

        t0 = g_get_monotonic_time();
        for (uint64_t id = 1; id <= 1000; id++) {
                StoredRun r = make_run(id, 1000, "llama3", T0 + id, true, 0.5, 100, 200, 0.25);
                r.answer =
                        "A typical answer of a few hundred bytes. A typical answer of a few hundred bytes. "
                        "A typical answer of a few hundred bytes. A typical answer of a few hundred bytes.";
                insert(s, r);
        }
        t1 = g_get_monotonic_time();
        g_assert_cmpint(store_list_runs(s, &(RunFilter){.uid = 1000, .limit = 50}, &a), ==, 0);
        g_assert_cmpuint(json_array_size(a), ==, 50);
        json_decref(a);
        t2 = g_get_monotonic_time();
        csv = export_to_string(s, (RunFilter){.uid = 1000}, EXPORT_FORMAT_CSV);
        t3 = g_get_monotonic_time();

        g_test_message("1000 inserts (one transaction each): %.1f ms (%.1f us/run); list 50: %.1f ms; "
                       "CSV of 1000: %.1f ms",
                       (t1 - t0) / 1000.0, (t1 - t0) / 1000.0, (t2 - t1) / 1000.0, (t3 - t2) / 1000.0);
        store_free(s);
        test_dir_done(&t);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/store/create", test_create);
        g_test_add_func("/store/migrate-v1", test_migrate_v1);
        g_test_add_func("/store/migrate-failure-is-atomic", test_migrate_failure_is_atomic);
        g_test_add_func("/store/refuse-newer", test_refuse_newer);
        g_test_add_func("/store/refuse-corrupt", test_refuse_corrupt);
        g_test_add_func("/store/insert-list-filters", test_insert_list_filters);
        g_test_add_func("/store/get-run", test_get_run);
        g_test_add_func("/store/foreach", test_foreach);
        g_test_add_func("/store/isolation", test_isolation);
        g_test_add_func("/store/session-summary", test_session_summary);
        g_test_add_func("/store/export-format-strings", test_export_format_strings);
        g_test_add_func("/store/export-json", test_export_json);
        g_test_add_func("/store/export-csv", test_export_csv);
        g_test_add_func("/store/openmetrics-checker", test_openmetrics_checker);
        g_test_add_func("/store/export-openmetrics", test_export_openmetrics);
        g_test_add_func("/store/benchmarks-settings", test_benchmarks_settings);
        g_test_add_func("/store/jobs", test_jobs);
        g_test_add_func("/store/next-ids-after-reopen", test_next_ids_after_reopen);
        g_test_add_func("/store/sigkill-durability", test_sigkill_durability);
        g_test_add_func("/store/speed", test_speed);

        return g_test_run();
}
