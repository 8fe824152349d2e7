/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <glib.h>
#include <sys/stat.h>

#include "log.h"
#include "metrics-textfile.h"

/* Label values escape backslash, double quote and newline; HELP text backslash and newline. */
static void append_escaped(GString *out, const char *v, bool quote) {
        for (const char *p = v; *p; p++) {
                if (*p == '\\')
                        g_string_append(out, "\\\\");
                else if (*p == '\n')
                        g_string_append(out, "\\n");
                else if (*p == '"' && quote)
                        g_string_append(out, "\\\"");
                else
                        g_string_append_c(out, *p);
        }
}

static void family(GString *out, const char *name, const char *type, const char *help) {
        g_string_append_printf(out, "# HELP %s ", name);
        append_escaped(out, help, false);
        g_string_append_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* The shortest decimal form (locale-independent) that reads back as @v. */
static void append_double(GString *out, double v) {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];

        for (int precision = 15; precision <= 17; precision++) {
                char format[8];

                (void) snprintf(format, sizeof(format), "%%.%dg", precision);
                (void) g_ascii_formatd(buf, sizeof(buf), format, v);
                if (g_ascii_strtod(buf, NULL) == v)
                        break;
        }
        g_string_append(out, buf);
}

/* name{model="…",backend="…"[,measured="…"]} */
static void sample_start(GString *out, const char *name, json_t *group, bool measured_label) {
        g_string_append_printf(out, "%s{model=\"", name);
        append_escaped(out, strempty(json_get_string(group, "model")), true);
        g_string_append(out, "\",backend=\"");
        append_escaped(out, strempty(json_get_string(group, "backend")), true);
        g_string_append_c(out, '"');
        if (measured_label)
                g_string_append_printf(out, ",measured=\"%s\"",
                                       json_is_true(json_object_get(group, "measured")) ? "true" : "false");
        g_string_append(out, "} ");
}

static bool same_series(json_t *a, json_t *b) {
        return streq_ptr(json_get_string(a, "model"), json_get_string(b, "model")) &&
               streq_ptr(json_get_string(a, "backend"), json_get_string(b, "backend"));
}

/* A counter by (model, backend): the groups of one pair (adjacent, as sorted) are summed. */
static void counter_by_model(GString *out, json_t *groups, const char *name, const char *key) {
        size_t n = json_array_size(groups);

        for (size_t i = 0; i < n;) {
                json_t *first = json_array_get(groups, i);
                json_int_t sum = 0;

                for (; i < n && same_series(first, json_array_get(groups, i)); i++)
                        sum += json_integer_value(json_object_get(json_array_get(groups, i), key));
                sample_start(out, name, first, false);
                g_string_append_printf(out, "%" JSON_INTEGER_FORMAT "\n", sum);
        }
}

/* The energy per output token of each group with energy and output tokens, times @factor. */
static void per_token(GString *out, json_t *groups, const char *name, double factor) {
        json_t *g;
        size_t i;

        json_array_foreach (groups, i, g) {
                json_int_t etokens = json_integer_value(json_object_get(g, "etokens"));

                if (etokens <= 0)
                        continue;
                sample_start(out, name, g, true);
                append_double(out,
                              json_real_value(json_object_get(g, "etoken_wh")) * factor / (double) etokens);
                g_string_append_c(out, '\n');
        }
}

char *metrics_textfile_format(json_t *groups) {
        GString *out = g_string_new(NULL);
        json_t *g;
        size_t i;

        family(out, "llmlab_runs_total", "counter",
               "Runs stored by llmlabd, all users, warm-up runs included.");
        counter_by_model(out, groups, "llmlab_runs_total", "runs");
        family(out, "llmlab_input_tokens_total", "counter",
               "Input tokens of the stored runs, as counted by the server.");
        counter_by_model(out, groups, "llmlab_input_tokens_total", "input_tokens");
        family(out, "llmlab_output_tokens_total", "counter",
               "Output tokens of the stored runs, as counted by the server.");
        counter_by_model(out, groups, "llmlab_output_tokens_total", "output_tokens");

        family(out, "llmlab_energy_joules_total", "counter",
               "Gross energy of the stored runs in joules; measured=\"false\" marks estimates from a "
               "benchmark.");
        json_array_foreach (groups, i, g) {
                if (json_integer_value(json_object_get(g, "energy_runs")) <= 0)
                        continue;
                sample_start(out, "llmlab_energy_joules_total", g, true);
                append_double(out, json_real_value(json_object_get(g, "total_wh")) * 3600.0);
                g_string_append_c(out, '\n');
        }

        family(out, "llmlab_output_token_energy_joules", "gauge",
               "Energy per output token in joules: sum of energy / sum of output tokens.");
        per_token(out, groups, "llmlab_output_token_energy_joules", 3600.0);
        family(out, "llmlab_wh_per_1000_etokens", "gauge",
               "Energy per 1000 output tokens in watt-hours (the headline figure of llmlab).");
        per_token(out, groups, "llmlab_wh_per_1000_etokens", 1000.0);
        return g_string_free(out, FALSE);
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int replace_file(const char *path, const char *text) {
        g_autofree char *dir = g_path_get_dirname(path), *base = g_path_get_basename(path), *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        /* Hidden and without the .prom suffix: the collector never reads a half-written file. */
        tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = RET_NERRNO(fchmod(fd, 0644));
        if (r >= 0)
                r = write_all(fd, text, strlen(text));
        if (r >= 0)
                r = RET_NERRNO(fsync(fd));
        if (r >= 0)
                r = RET_NERRNO(rename(tmp, path));
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int metrics_textfile_write(Store *s, const char *path) {
        RunFilter f = {.all_users = true, .include_warmup = true};
        _cleanup_json_ json_t *groups = NULL;
        g_autofree char *text = NULL;
        int r;

        if (!path)
                return 0;
        r = store_aggregate_runs(s, &f, &groups);
        if (r < 0)
                return log_warning_errno(r, "Failed to aggregate the runs for %s: %m", path);
        text = metrics_textfile_format(groups);
        r = replace_file(path, text);
        if (r < 0)
                return log_warning_errno(r, "Failed to write the metrics to %s: %m", path);
        log_debug("Wrote the metrics to %s.", path);
        return 0;
}
