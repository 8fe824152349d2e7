/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Exports of stored runs to a file descriptor: JSON, CSV (RFC 4180) and OpenMetrics text. The
 * formats are documented in store.h. Everything is streamed through a buffered FILE on a duplicate
 * of the caller's fd; nothing here chooses a path. */

#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <time.h>

#include "log.h"
#include "metrics-format.h"
#include "store.h"

static const char *const export_format_table[_EXPORT_FORMAT_MAX] = {
        [EXPORT_FORMAT_JSON] = "json",
        [EXPORT_FORMAT_CSV] = "csv",
        [EXPORT_FORMAT_OPENMETRICS] = "openmetrics",
};

ExportFormat export_format_from_string(const char *s) {
        if (!s)
                return _EXPORT_FORMAT_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(export_format_table); i++)
                if (streq(s, export_format_table[i]))
                        return (ExportFormat) i;
        return _EXPORT_FORMAT_INVALID;
}

const char *export_format_to_string(ExportFormat f) {
        if (f < 0 || f >= _EXPORT_FORMAT_MAX)
                return NULL;
        return export_format_table[f];
}

/* ---- output ---------------------------------------------------------------------------------- */

static int export_open(int fd, FILE **ret) {
        _cleanup_close_ int copy = -EBADF;
        FILE *f;

        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return log_debug_errno(negative_errno(), "Failed to duplicate export fd: %m");

        f = fdopen(copy, "w");
        if (!f)
                return log_debug_errno(negative_errno(), "Failed to open export fd: %m");
        TAKE_FD(copy);

        *ret = f;
        return 0;
}

static int export_close(FILE **f) {
        int r = 0;

        if (fflush(*f) != 0)
                r = negative_errno();
        else if (ferror(*f))
                r = -EIO;
        if (fclose(TAKE_PTR(*f)) != 0 && r == 0)
                r = negative_errno();
        if (r < 0)
                return log_debug_errno(r, "Failed to write export: %m");
        return 0;
}

/* The shortest decimal form (locale-independent) that reads back as @v. */
static const char *format_double(char buf[static G_ASCII_DTOSTR_BUF_SIZE], double v) {
        for (int precision = 15; precision <= 17; precision++) {
                char format[8];

                (void) snprintf(format, sizeof(format), "%%.%dg", precision);
                (void) g_ascii_formatd(buf, G_ASCII_DTOSTR_BUF_SIZE, format, v);
                if (g_ascii_strtod(buf, NULL) == v)
                        break;
        }
        return buf;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

/* jansson output of one record, indented one more level so that it sits inside the array. Raw
 * newlines only occur between tokens (strings escape theirs). */
static int json_write_indented(const char *buffer, size_t size, void *userdata) {
        FILE *f = userdata;
        const char *p = buffer, *end = buffer + size, *nl;

        while ((nl = memchr(p, '\n', (size_t) (end - p)))) {
                (void) fwrite(p, 1, (size_t) (nl - p + 1), f);
                (void) fputs("  ", f);
                p = nl + 1;
        }
        (void) fwrite(p, 1, (size_t) (end - p), f);
        return ferror(f) ? -1 : 0;
}

typedef struct JsonExport {
        FILE *f;
        size_t n;
} JsonExport;

static int export_json_run(const StoredRun *run, void *userdata) {
        _cleanup_json_ json_t *record = NULL;
        JsonExport *x = userdata;

        record = stored_run_to_json(run);
        if (!record)
                return -ENOMEM;

        (void) fputs(x->n++ == 0 ? "[\n  " : ",\n  ", x->f);
        if (json_dump_callback(record, json_write_indented, x->f, JSON_INDENT(2)) < 0 || ferror(x->f))
                return -EIO;
        return 0;
}

static int export_json(Store *s, const RunFilter *f, FILE *out) {
        JsonExport x = {.f = out};
        int r;

        r = store_foreach_run(s, f, export_json_run, &x);
        if (r < 0)
                return r;

        (void) fputs(x.n == 0 ? "[]\n" : "\n]\n", out);
        return 0;
}

/* ---- CSV ------------------------------------------------------------------------------------- */

typedef enum CsvMeta {
        CSV_FROM_RESULT,
        CSV_ID,
        CSV_CREATED,
        CSV_MODEL,
        CSV_BACKEND,
        CSV_STATE,
        CSV_MEASURE,
        CSV_LABEL,
        CSV_JOB,
        CSV_WARMUP,
} CsvMeta;

typedef struct CsvColumn {
        const char *name;
        CsvMeta meta;
        const char *section, *key, *fallback_section; /* result.section.key, else result.fallback.key */
} CsvColumn;

/* The fixed, documented columns (store.h). Add new columns at the end only. */
static const CsvColumn csv_columns[] = {
        {"id", CSV_ID},
        {"created", CSV_CREATED},
        {"model", CSV_MODEL},
        {"backend", CSV_BACKEND},
        {"state", CSV_STATE},
        {"measure", CSV_MEASURE},
        {"label", CSV_LABEL},
        {"job", CSV_JOB},
        {"warmup", CSV_WARMUP},
        {"input_tokens", CSV_FROM_RESULT, "tokens", "input"},
        {"output_tokens", CSV_FROM_RESULT, "tokens", "output"},
        {"thinking_tokens", CSV_FROM_RESULT, "tokens", "thinking"},
        {"ttft_ms", CSV_FROM_RESULT, "timing", "ttft_ms"},
        {"tpot_ms", CSV_FROM_RESULT, "timing", "tpot_ms"},
        {"e2e_ms", CSV_FROM_RESULT, "timing", "e2e_ms"},
        {"tokens_per_s", CSV_FROM_RESULT, "timing", "tokens_per_s"},
        {"load_wh", CSV_FROM_RESULT, "energy", "load_wh"},
        {"prefill_wh", CSV_FROM_RESULT, "energy", "prefill_wh"},
        {"decode_wh", CSV_FROM_RESULT, "energy", "decode_wh"},
        {"total_wh", CSV_FROM_RESULT, "energy", "total_wh"},
        {"net_total_wh", CSV_FROM_RESULT, "energy", "net_total_wh"},
        {"idle_w", CSV_FROM_RESULT, "energy", "idle_w"},
        {"wh_per_1000_etokens", CSV_FROM_RESULT, "energy", "wh_per_1000_etokens"},
        {"prefill_wh_per_1000_input_tokens", CSV_FROM_RESULT, "energy", "prefill_wh_per_1000_input_tokens"},
        {"decode_wh_per_1000_output_tokens", CSV_FROM_RESULT, "energy", "decode_wh_per_1000_output_tokens"},
        {"j_per_output_token", CSV_FROM_RESULT, "energy", "j_per_output_token"},
        {"co2_g", CSV_FROM_RESULT, "carbon", "co2_g"},
        {"region", CSV_FROM_RESULT, "carbon", "region"},
        {"measured", CSV_FROM_RESULT, "energy", "measured", "provenance"},
        {"split_method", CSV_FROM_RESULT, "energy", "split_method", "provenance"},
        {"sources", CSV_FROM_RESULT, "energy", "sources", "provenance"},
};

/* Appends @v as one RFC 4180 field: quoted when it holds a comma, a double quote, CR or LF, with
 * its double quotes doubled. */
static void csv_append_field(GString *line, const char *v) {
        if (!strpbrk(v, ",\"\r\n")) {
                g_string_append(line, v);
                return;
        }

        g_string_append_c(line, '"');
        for (const char *p = v; *p; p++) {
                if (*p == '"')
                        g_string_append_c(line, '"');
                g_string_append_c(line, *p);
        }
        g_string_append_c(line, '"');
}

/* A scalar JSON value as text (empty for null, objects and anything unknown). */
static void csv_format_scalar(GString *out, json_t *v) {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];

        if (json_is_string(v))
                g_string_append(out, json_string_value(v));
        else if (json_is_integer(v))
                g_string_append_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
                g_string_append(out, format_double(buf, json_real_value(v)));
        else if (json_is_boolean(v))
                g_string_append(out, json_is_true(v) ? "true" : "false");
}

static void csv_format_value(GString *out, json_t *v) {
        size_t i;
        json_t *e;

        if (!json_is_array(v)) {
                csv_format_scalar(out, v);
                return;
        }
        json_array_foreach (v, i, e) {
                if (i > 0)
                        g_string_append_c(out, ';');
                csv_format_scalar(out, e);
        }
}

static void format_iso8601(char *buf, size_t size, uint64_t usec) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;
        size_t n;

        if (!gmtime_r(&t, &tm) || (n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
                buf[0] = 0;
                return;
        }
        (void) snprintf(buf + n, size - n, ".%06" PRIu64 "Z", usec % USEC_PER_SEC);
}

static void csv_format_column(GString *out, const CsvColumn *c, const StoredRun *run) {
        char buf[64];
        json_t *v;

        switch (c->meta) {
        case CSV_ID: g_string_append_printf(out, "%" PRIu64, run->id); break;
        case CSV_CREATED:
                format_iso8601(buf, sizeof(buf), run->created_usec);
                g_string_append(out, buf);
                break;
        case CSV_MODEL: g_string_append(out, strempty(run->model)); break;
        case CSV_BACKEND: g_string_append(out, strempty(run->backend)); break;
        case CSV_STATE: g_string_append(out, strempty(run->state)); break;
        case CSV_MEASURE: g_string_append(out, strempty(run->measure)); break;
        case CSV_LABEL: g_string_append(out, strempty(run->label)); break;
        case CSV_JOB:
                if (run->job_id > 0)
                        g_string_append_printf(out, "%" PRIu64, run->job_id);
                break;
        case CSV_WARMUP: g_string_append(out, run->warmup ? "true" : "false"); break;
        case CSV_FROM_RESULT:
                v = json_object_get(json_object_get(run->result, c->section), c->key);
                if ((!v || json_is_null(v)) && c->fallback_section)
                        v = json_object_get(json_object_get(run->result, c->fallback_section), c->key);
                csv_format_value(out, v);
                break;
        }
}

typedef struct CsvExport {
        FILE *f;
        GString *line, *field;
} CsvExport;

static int export_csv_run(const StoredRun *run, void *userdata) {
        CsvExport *x = userdata;

        g_string_truncate(x->line, 0);
        for (size_t i = 0; i < ELEMENTSOF(csv_columns); i++) {
                if (i > 0)
                        g_string_append_c(x->line, ',');
                g_string_truncate(x->field, 0);
                csv_format_column(x->field, &csv_columns[i], run);
                csv_append_field(x->line, x->field->str);
        }
        g_string_append(x->line, "\r\n");

        if (fwrite(x->line->str, 1, x->line->len, x->f) != x->line->len)
                return -EIO;
        return 0;
}

static int export_csv(Store *s, const RunFilter *f, FILE *out) {
        g_autoptr(GString) line = g_string_new(NULL), field = g_string_new(NULL);
        CsvExport x = {.f = out, .line = line, .field = field};

        for (size_t i = 0; i < ELEMENTSOF(csv_columns); i++) {
                if (i > 0)
                        (void) fputc(',', out);
                (void) fputs(csv_columns[i].name, out);
        }
        (void) fputs("\r\n", out);

        return store_foreach_run(s, f, export_csv_run, &x);
}

/* ---- OpenMetrics ----------------------------------------------------------------------------- */

static int export_openmetrics(Store *s, const RunFilter *f, FILE *out) {
        _cleanup_json_ json_t *groups = NULL;
        g_autofree char *text = NULL;
        int r;

        r = store_aggregate_runs(s, f, &groups);
        if (r < 0)
                return r;
        text = metrics_format(groups, METRICS_SYNTAX_OPENMETRICS);
        if (fputs(text, out) == EOF)
                return -EIO;
        return 0;
}

/* ---- entry point ----------------------------------------------------------------------------- */

int store_export_runs(Store *s, const RunFilter *f, ExportFormat format, int fd) {
        _cleanup_fclose_ FILE *out = NULL;
        int r;

        if (!s || !f || fd < 0 || !export_format_to_string(format))
                return -EINVAL;

        r = export_open(fd, &out);
        if (r < 0)
                return r;

        switch (format) {
        case EXPORT_FORMAT_JSON: r = export_json(s, f, out); break;
        case EXPORT_FORMAT_CSV: r = export_csv(s, f, out); break;
        case EXPORT_FORMAT_OPENMETRICS: r = export_openmetrics(s, f, out); break;
        default: return -EINVAL;
        }
        if (r < 0)
                return log_debug_errno(r, "Failed to export runs as %s: %m",
                                       export_format_to_string(format));

        return export_close(&out);
}
