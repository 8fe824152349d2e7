/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>
#include <stdbool.h>

#include "json-util.h"
#include "macro.h"
#include "metrics-format.h"

typedef enum SampleKind {
        SAMPLE_COUNT,     /* Σ of an integer key over the groups of one (model, backend) */
        SAMPLE_ENERGY,    /* total_wh × factor, per group with energy figures */
        SAMPLE_PER_TOKEN, /* etoken_wh × factor ÷ etokens, per group with output tokens */
} SampleKind;

typedef struct Family {
        const char *name; /* without "_total" for counters */
        bool counter;
        const char *unit; /* OpenMetrics only; the name ends in it */
        const char *help;
        SampleKind kind;
        const char *key; /* SAMPLE_COUNT */
        double factor;   /* SAMPLE_ENERGY, SAMPLE_PER_TOKEN */
} Family;

static const Family families[] = {
        {"llmlab_runs", true, NULL, "Runs stored by llmlabd.", SAMPLE_COUNT, "runs", 0},
        {"llmlab_input_tokens", true, NULL, "Input tokens of the stored runs, as counted by the server.",
         SAMPLE_COUNT, "input_tokens", 0},
        {"llmlab_output_tokens", true, NULL, "Output tokens of the stored runs, as counted by the server.",
         SAMPLE_COUNT, "output_tokens", 0},
        {"llmlab_energy_joules", true, "joules",
         "Gross energy of the stored runs; measured=\"false\" marks estimates from a benchmark.",
         SAMPLE_ENERGY, NULL, 3600.0},
        {"llmlab_output_token_energy_joules", false, "joules",
         "Energy per output token: sum of energy / sum of output tokens.", SAMPLE_PER_TOKEN, NULL, 3600.0},
        {"llmlab_wh_per_1000_etokens", false, NULL,
         "Energy per 1000 output tokens in watt-hours (the headline figure of llmlab): sum of Wh / sum of "
         "output tokens * 1000.",
         SAMPLE_PER_TOKEN, NULL, 1000.0},
};

/* Backslash and newline are escaped in label values and HELP text; the double quote in label values,
 * and in OpenMetrics HELP text too (@quote). */
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

static void append_family(GString *out, const Family *f, MetricsSyntax syntax) {
        bool om = syntax == METRICS_SYNTAX_OPENMETRICS;
        const char *suffix = f->counter && !om ? "_total" : "";

        g_string_append_printf(out, "# HELP %s%s ", f->name, suffix);
        append_escaped(out, f->help, om);
        g_string_append_printf(out, "\n# TYPE %s%s %s\n", f->name, suffix, f->counter ? "counter" : "gauge");
        if (om && f->unit)
                g_string_append_printf(out, "# UNIT %s %s\n", f->name, f->unit);
}

/* name{model="…",backend="…"[,measured="…"]} followed by a space. */
static void append_sample_start(GString *out, const Family *f, json_t *group, bool measured_label) {
        g_string_append_printf(out, "%s%s{model=\"", f->name, f->counter ? "_total" : "");
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

/* The groups of one (model, backend) pair are adjacent, as sorted; a count sums over them. */
static void append_counts(GString *out, const Family *f, json_t *groups) {
        size_t n = json_array_size(groups);

        for (size_t i = 0; i < n;) {
                json_t *first = json_array_get(groups, i);
                json_int_t sum = 0;

                for (; i < n && same_series(first, json_array_get(groups, i)); i++)
                        sum += json_integer_value(json_object_get(json_array_get(groups, i), f->key));
                append_sample_start(out, f, first, false);
                g_string_append_printf(out, "%" JSON_INTEGER_FORMAT "\n", sum);
        }
}

static void append_energies(GString *out, const Family *f, json_t *groups) {
        json_t *g;
        size_t i;

        json_array_foreach (groups, i, g) {
                json_int_t etokens = json_integer_value(json_object_get(g, "etokens"));
                double v;

                if (f->kind == SAMPLE_ENERGY) {
                        if (json_integer_value(json_object_get(g, "energy_runs")) <= 0)
                                continue;
                        v = json_real_value(json_object_get(g, "total_wh")) * f->factor;
                } else {
                        if (etokens <= 0)
                                continue;
                        v = json_real_value(json_object_get(g, "etoken_wh")) * f->factor / (double) etokens;
                }
                append_sample_start(out, f, g, true);
                append_double(out, v);
                g_string_append_c(out, '\n');
        }
}

char *metrics_format(json_t *groups, MetricsSyntax syntax) {
        GString *out = g_string_new(NULL);

        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                const Family *f = &families[i];

                append_family(out, f, syntax);
                if (f->kind == SAMPLE_COUNT)
                        append_counts(out, f, groups);
                else
                        append_energies(out, f, groups);
        }
        if (syntax == METRICS_SYNTAX_OPENMETRICS)
                g_string_append(out, "# EOF\n");
        return g_string_free(out, FALSE);
}
