/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <dirent.h>
#include <math.h>

#include "benchmark.h"
#include "json-util.h"
#include "log.h"
#include "metrics.h"

#define BENCHMARK_FILE_FORMAT 1

struct BenchmarkRegistry {
        GPtrArray *list;   /* Benchmark*, owned, insertion order */
        GHashTable *by_id; /* id → Benchmark* (borrowed from list) */
};

/* ---- Benchmark --------------------------------------------------------------------------------- */

Benchmark *benchmark_free(Benchmark *b) {
        if (!b)
                return NULL;
        free(b->id);
        free(b->name);
        free(b->source);
        free(b->description);
        free(b->hardware);
        free(b->url);
        free(b);
        return NULL;
}

static void benchmark_destroy(void *p) {
        benchmark_free(p);
}

static bool id_char_ok(char c) {
        return g_ascii_isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
}

bool benchmark_id_is_valid(const char *id) {
        size_t n;

        if (!id)
                return false;
        n = strlen(id);
        if (n == 0 || n > BENCHMARK_ID_MAX || id[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!id_char_ok(id[i]))
                        return false;
        return true;
}

char *benchmark_id_sanitize(const char *s) {
        char *id;
        size_t n = 0;

        if (!s)
                return NULL;
        while (*s == '.')
                s++;
        id = malloc(MIN(strlen(s), (size_t) BENCHMARK_ID_MAX) + 1);
        if (!id)
                return NULL;
        for (; *s && n < BENCHMARK_ID_MAX; s++)
                id[n++] = id_char_ok(*s) ? *s : '-';
        id[n] = '\0';
        if (n == 0) {
                free(id);
                return NULL;
        }
        return id;
}

static bool coefficient_ok(double v) {
        return isfinite(v) && v >= 0;
}

int benchmark_new(const char *id, double wh_per_1000_in, double wh_per_1000_out, Benchmark **ret) {
        Benchmark *b;

        if (!benchmark_id_is_valid(id) || !coefficient_ok(wh_per_1000_in) ||
            !coefficient_ok(wh_per_1000_out))
                return -EINVAL;
        b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        *b = (Benchmark){
                .id = strdup(id),
                .name = strdup(id),
                .wh_per_1000_input_tokens = wh_per_1000_in,
                .wh_per_1000_output_tokens = wh_per_1000_out,
                .r2 = NAN,
        };
        if (!b->id || !b->name) {
                benchmark_free(b);
                return -ENOMEM;
        }
        *ret = b;
        return 0;
}

double benchmark_estimate_wh(const Benchmark *b, uint64_t in, uint64_t out) {
        return estimate_wh(b->wh_per_1000_input_tokens, b->wh_per_1000_output_tokens, in, out) +
               b->intercept_wh;
}

json_t *benchmark_to_json(const Benchmark *b) {
        json_t *o = json_object();

        if (!o)
                return NULL;
        json_set_string(o, "id", b->id);
        json_set_string(o, "name", b->name);
        json_set_string(o, "source", b->source);
        json_set_string(o, "description", b->description);
        json_set_string(o, "hardware", b->hardware);
        json_set_string(o, "url", b->url);
        json_object_set_new(o, "wh_per_1000_input_tokens", json_real(b->wh_per_1000_input_tokens));
        json_object_set_new(o, "wh_per_1000_output_tokens", json_real(b->wh_per_1000_output_tokens));
        json_object_set_new(o, "builtin", json_boolean(b->builtin));
        json_object_set_new(o, "calibrated", json_boolean(b->calibrated));
        if (b->calibrated) {
                json_set_real(o, "r2", b->r2);
                json_object_set_new(o, "intercept_wh", json_real(b->intercept_wh));
                json_set_int(o, "n", b->n);
        }
        return o;
}

/* ---- strict parsing ---------------------------------------------------------------------------- */

typedef struct TextField {
        const char *key;
        size_t offset;
        size_t max;
} TextField;

static const TextField text_fields[] = {
        {"name", offsetof(Benchmark, name), 256},
        {"source", offsetof(Benchmark, source), 256},
        {"description", offsetof(Benchmark, description), 4096},
        {"hardware", offsetof(Benchmark, hardware), 1024},
        {"url", offsetof(Benchmark, url), 2048},
};

/* clang-format off */
static const char *const benchmark_keys[] = {
        "id", "name", "source", "description", "hardware", "url",
        "wh_per_1000_input_tokens", "wh_per_1000_output_tokens",
        "builtin", "calibrated", "r2", "intercept_wh", "n",
        NULL,
};
/* clang-format on */

static bool key_in(const char *key, const char *const *list) {
        for (; *list; list++)
                if (streq(*list, key))
                        return true;
        return false;
}

/* @extra: one more key a caller handles itself ("published" in built-in files), or NULL. */
static int check_benchmark_keys(json_t *o, const char *extra, LabError *err) {
        const char *key;
        json_t *v;

        json_object_foreach (o, key, v)
                if (!key_in(key, benchmark_keys) && !streq_ptr(key, extra))
                        return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                             "Unknown benchmark key \"%s\".", key);
        return 0;
}

static int parse_text(json_t *o, const TextField *f, Benchmark *b, LabError *err) {
        json_t *v = json_object_get(o, f->key);
        char **field = (char **) ((uint8_t *) b + f->offset);
        const char *s;

        if (!v)
                return 0;
        s = json_string_value(v);
        if (!s)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                     "Benchmark key \"%s\" must be a string.", f->key);
        if (json_string_length(v) != strlen(s) || strlen(s) > f->max)
                return lab_error_set(
                        err, LAB_ERROR_INVALID_ARGUMENT,
                        "Benchmark key \"%s\" must be a string of at most %zu bytes without NUL.", f->key,
                        f->max);
        *field = strdup(s);
        return *field ? 0 : -ENOMEM;
}

static int parse_number(json_t *o, const char *key, bool required, bool non_negative, double *ret,
                        LabError *err) {
        json_t *v = json_object_get(o, key);

        if (!v) {
                if (required)
                        return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                             "Benchmark key \"%s\" is required.", key);
                return 0;
        }
        if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
            (non_negative && json_number_value(v) < 0))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                     "Benchmark key \"%s\" must be a %snumber.", key,
                                     non_negative ? "non-negative " : "");
        *ret = json_number_value(v);
        return 0;
}

static int parse_bool(json_t *o, const char *key, bool *ret, LabError *err) {
        json_t *v = json_object_get(o, key);

        if (!v)
                return 0;
        if (!json_is_boolean(v))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                     "Benchmark key \"%s\" must be a boolean.", key);
        *ret = json_is_true(v);
        return 0;
}

static int parse_calibration(json_t *o, Benchmark *b, LabError *err) {
        json_t *v;
        int r;

        r = parse_bool(o, "calibrated", &b->calibrated, err);
        if (r < 0)
                return r;
        r = parse_number(o, "r2", false, false, &b->r2, err);
        if (r < 0)
                return r;
        if (b->r2 > 1)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                     "Benchmark key \"r2\" must be at most 1.");
        r = parse_number(o, "intercept_wh", false, false, &b->intercept_wh, err);
        if (r < 0)
                return r;
        v = json_object_get(o, "n");
        if (v) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT_MAX)
                        return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                             "Benchmark key \"n\" must be a non-negative integer.");
                b->n = (unsigned) json_integer_value(v);
        }
        return 0;
}

static int benchmark_parse(json_t *o, const char *extra_key, Benchmark **ret, LabError *err) {
        _cleanup_(benchmark_freep) Benchmark *b = NULL;
        bool builtin = false;
        const char *id;
        int r;

        if (!json_is_object(o))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "A benchmark must be a JSON object.");
        r = check_benchmark_keys(o, extra_key, err);
        if (r < 0)
                return r;

        id = json_get_string(o, "id");
        if (!id)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                     "Benchmark key \"id\" is required (a string).");
        if (!benchmark_id_is_valid(id))
                return lab_error_set(
                        err, LAB_ERROR_INVALID_ARGUMENT,
                        "Benchmark key \"id\": \"%s\" is not a valid id (letters, digits and ._:-, "
                        "1-%d characters, not starting with '.').",
                        id, BENCHMARK_ID_MAX);

        b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->r2 = NAN;
        b->id = strdup(id);
        if (!b->id)
                return -ENOMEM;

        for (size_t i = 0; i < ELEMENTSOF(text_fields); i++) {
                r = parse_text(o, &text_fields[i], b, err);
                if (r < 0)
                        return r;
        }
        r = parse_number(o, "wh_per_1000_input_tokens", true, true, &b->wh_per_1000_input_tokens, err);
        if (r < 0)
                return r;
        r = parse_number(o, "wh_per_1000_output_tokens", true, true, &b->wh_per_1000_output_tokens, err);
        if (r < 0)
                return r;
        r = parse_bool(o, "builtin", &builtin, err);
        if (r < 0)
                return r;
        if (builtin)
                return lab_error_set(
                        err, LAB_ERROR_INVALID_ARGUMENT,
                        "Benchmark key \"builtin\": built-in benchmarks come from data files only.");
        r = parse_calibration(o, b, err);
        if (r < 0)
                return r;

        if (!b->name) {
                b->name = strdup(b->id);
                if (!b->name)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(b);
        return 0;
}

int benchmark_from_json(json_t *o, Benchmark **ret, LabError *err) {
        return benchmark_parse(o, NULL, ret, err);
}

/* ---- registry ---------------------------------------------------------------------------------- */

BenchmarkRegistry *benchmark_registry_new(void) {
        BenchmarkRegistry *r = g_new0(BenchmarkRegistry, 1);

        r->list = g_ptr_array_new_with_free_func(benchmark_destroy);
        r->by_id = g_hash_table_new(g_str_hash, g_str_equal);
        return r;
}

BenchmarkRegistry *benchmark_registry_free(BenchmarkRegistry *r) {
        if (!r)
                return NULL;
        g_hash_table_unref(r->by_id);
        g_ptr_array_unref(r->list);
        g_free(r);
        return NULL;
}

const Benchmark *benchmark_registry_get(const BenchmarkRegistry *r, const char *id) {
        if (!r || !id)
                return NULL;
        return g_hash_table_lookup(r->by_id, id);
}

size_t benchmark_registry_size(const BenchmarkRegistry *r) {
        return r ? r->list->len : 0;
}

const Benchmark *benchmark_registry_nth(const BenchmarkRegistry *r, size_t i) {
        if (!r || i >= r->list->len)
                return NULL;
        return g_ptr_array_index(r->list, i);
}

int benchmark_registry_add(BenchmarkRegistry *r, Benchmark *take, bool replace, LabError *err) {
        _cleanup_(benchmark_freep) Benchmark *b = take;
        Benchmark *old;
        guint idx;

        assert(r);
        assert(b);

        if (!benchmark_id_is_valid(b->id))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "Invalid benchmark id \"%s\".",
                                     strna(b->id));
        if (!coefficient_ok(b->wh_per_1000_input_tokens) || !coefficient_ok(b->wh_per_1000_output_tokens))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                     "Benchmark %s: coefficients must be finite and non-negative.", b->id);

        old = g_hash_table_lookup(r->by_id, b->id);
        if (!old) {
                if (r->list->len >= BENCHMARK_REGISTRY_MAX)
                        return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                             "Too many benchmarks (at most %d).", BENCHMARK_REGISTRY_MAX);
                g_hash_table_insert(r->by_id, b->id, b);
                g_ptr_array_add(r->list, TAKE_PTR(b));
                return 0;
        }

        if (old->builtin)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                     "Benchmark %s is built in and cannot be replaced.", b->id);
        if (!replace)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "Benchmark %s already exists.", b->id);

        if (!g_ptr_array_find(r->list, old, &idx))
                return -EIO; /* cannot happen: the table and the list hold the same pointers */
        g_hash_table_replace(r->by_id, b->id, b); /* replace, not insert: the old key is freed below */
        r->list->pdata[idx] = TAKE_PTR(b);
        benchmark_free(old);
        return 0;
}

int benchmark_registry_remove(BenchmarkRegistry *r, const char *id, LabError *err) {
        Benchmark *b;

        b = id ? g_hash_table_lookup(r->by_id, id) : NULL;
        if (!b)
                return lab_error_set(err, LAB_ERROR_NO_SUCH_BENCHMARK, "No benchmark \"%s\".", strna(id));
        if (b->builtin)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                     "Benchmark %s is built in and cannot be removed.", id);
        g_hash_table_remove(r->by_id, b->id);
        g_ptr_array_remove(r->list, b); /* frees b */
        return 0;
}

json_t *benchmark_registry_to_json(const BenchmarkRegistry *r, const char *default_id) {
        _cleanup_json_ json_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t i = 0; i < benchmark_registry_size(r); i++) {
                const Benchmark *b = benchmark_registry_nth(r, i);
                json_t *o = benchmark_to_json(b);

                if (!o || json_array_append_new(a, o) < 0)
                        return NULL;
                json_object_set_new(o, "default", json_boolean(streq_ptr(b->id, default_id)));
        }
        return TAKE_PTR(a);
}

/* ---- built-in files ---------------------------------------------------------------------------- */

typedef struct FileSource {
        const char *name, *hardware, *url;
} FileSource;

static int parse_file_source(json_t *src, const char *path, FileSource *ret, LabError *err) {
        static const char *const keys[] = {"id",         "name",       "url", "hardware",
                                           "conversion", "parameters", NULL};
        const char *key;
        json_t *v;

        if (!json_is_object(src))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: \"source\" must be an object.",
                                     path);
        json_object_foreach (src, key, v) {
                if (!key_in(key, keys))
                        return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                             "%s: source: unknown key \"%s\".", path, key);
                if (streq(key, "parameters") ? !json_is_object(v) : !json_is_string(v))
                        return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                             "%s: source.%s has the wrong type.", path, key);
        }
        if (!json_get_string(src, "id") || !json_get_string(src, "name") ||
            !json_get_string(src, "conversion"))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                     "%s: source needs \"id\", \"name\" and \"conversion\".", path);
        *ret = (FileSource){
                .name = json_get_string(src, "name"),
                .hardware = json_get_string(src, "hardware"),
                .url = json_get_string(src, "url"),
        };
        return 0;
}

static int set_default_text(char **field, const char *value) {
        if (*field || !value)
                return 0;
        *field = strdup(value);
        return *field ? 0 : -ENOMEM;
}

static int parse_file_entry(json_t *e, const FileSource *src, const char *path, size_t idx, Benchmark **ret,
                            LabError *err) {
        _cleanup_lab_error_ LabError inner = LAB_ERROR_INIT;
        _cleanup_(benchmark_freep) Benchmark *b = NULL;
        json_t *published;
        int r;

        r = benchmark_parse(e, "published", &b, &inner);
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: benchmarks[%zu]: %s", path, idx,
                                     strna(inner.message));
        }
        published = json_object_get(e, "published");
        if (published && !json_is_object(published))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                     "%s: benchmarks[%zu]: \"published\" must be an object.", path, idx);

        if (set_default_text(&b->source, src->name) < 0 ||
            set_default_text(&b->hardware, src->hardware) < 0 || set_default_text(&b->url, src->url) < 0)
                return -ENOMEM;
        b->builtin = true;
        *ret = TAKE_PTR(b);
        return 0;
}

/* Reads and parses @path; syntax errors name the line and column. */
static int load_json_file(const char *path, json_t **ret, LabError *err) {
        _cleanup_fclose_ FILE *f = NULL;
        json_error_t jerr;
        json_t *root;
        int r;

        f = fopen(path, "re");
        if (!f) {
                r = negative_errno();
                (void) lab_error_set(err, LAB_ERROR_FAILED, "Failed to open %s: %s", path, strerror(-r));
                return r;
        }
        root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s:%d:%d: %s", path, jerr.line,
                                     jerr.column, jerr.text);
        *ret = root;
        return 0;
}

static int parse_file_header(json_t *root, const char *path, FileSource *ret_source, LabError *err) {
        static const char *const keys[] = {"format", "source", "benchmarks", NULL};
        const char *key;
        json_t *v;

        if (!json_is_object(root))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: not a JSON object.", path);
        json_object_foreach (root, key, v)
                if (!key_in(key, keys))
                        return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: unknown key \"%s\".",
                                             path, key);
        v = json_object_get(root, "format");
        if (!json_is_integer(v) || json_integer_value(v) != BENCHMARK_FILE_FORMAT)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: \"format\" must be %d.", path,
                                     BENCHMARK_FILE_FORMAT);
        if (!json_is_array(json_object_get(root, "benchmarks")))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: \"benchmarks\" must be an array.",
                                     path);
        return parse_file_source(json_object_get(root, "source"), path, ret_source, err);
}

int benchmark_registry_load_builtin_file(BenchmarkRegistry *r, const char *path, LabError *err) {
        g_autoptr(GPtrArray) parsed = g_ptr_array_new_with_free_func(benchmark_destroy);
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        _cleanup_json_ json_t *root = NULL;
        FileSource src = {};
        size_t i, n;
        json_t *e;
        int k;

        k = load_json_file(path, &root, err);
        if (k < 0)
                return k;
        k = parse_file_header(root, path, &src, err);
        if (k < 0)
                return k;

        /* Parse and check everything first, so that a bad file adds nothing. */
        json_array_foreach (json_object_get(root, "benchmarks"), i, e) {
                Benchmark *b = NULL;

                k = parse_file_entry(e, &src, path, i, &b, err);
                if (k < 0)
                        return k;
                g_ptr_array_add(parsed, b);
                if (benchmark_registry_get(r, b->id) || !g_hash_table_add(seen, b->id))
                        return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                             "%s: benchmarks[%zu]: duplicate id %s.", path, i, b->id);
        }
        if (r->list->len + parsed->len > BENCHMARK_REGISTRY_MAX)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: too many benchmarks.", path);

        n = parsed->len;
        for (i = 0; i < n; i++) {
                Benchmark *b = g_ptr_array_index(parsed, i);

                parsed->pdata[i] = NULL;
                g_hash_table_insert(r->by_id, b->id, b);
                g_ptr_array_add(r->list, b);
        }
        return (int) n;
}

static int cmp_strings(gconstpointer a, gconstpointer b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int list_json_files(const char *dir, GPtrArray **ret) {
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        DIR *d;
        struct dirent *de;

        d = opendir(dir);
        if (!d)
                return negative_errno();
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && g_str_has_suffix(de->d_name, ".json"))
                        g_ptr_array_add(names, g_build_filename(dir, de->d_name, NULL));
        closedir(d);
        g_ptr_array_sort(names, cmp_strings);
        *ret = g_steal_pointer(&names);
        return 0;
}

int benchmark_registry_load_builtin_dir(BenchmarkRegistry *r, const char *dir) {
        g_autoptr(GPtrArray) files = NULL;
        int k, total = 0;

        k = list_json_files(dir, &files);
        if (k < 0)
                return log_error_errno(k, "Failed to list built-in benchmarks in %s: %m", dir);

        for (guint i = 0; i < files->len; i++) {
                _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
                const char *path = g_ptr_array_index(files, i);

                k = benchmark_registry_load_builtin_file(r, path, &err);
                if (k < 0)
                        return log_error_errno(k, "%s",
                                               err.message ?: "Failed to load built-in benchmarks.");
                log_debug("Loaded %d built-in benchmarks from %s.", k, path);
                total += k;
        }
        return total;
}
