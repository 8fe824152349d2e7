/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <math.h>

#include "ctl-job-show.h"
#include "ctl-output.h"
#include "ctl-result.h"
#include "json-util.h"

/* --- JSON ---------------------------------------------------------------------------------------- */

static const JsonShape stats_shape[] = {
        SHAPE_LEAF("n"),   SHAPE_LEAF("mean"),     SHAPE_LEAF("median"),    SHAPE_LEAF("std"),
        SHAPE_LEAF("cv"),  SHAPE_LEAF("ci95_low"), SHAPE_LEAF("ci95_high"), SHAPE_LEAF("p5"),
        SHAPE_LEAF("p95"), SHAPE_LEAF("min"),      SHAPE_LEAF("max"),       SHAPE_END,
};

static const JsonShape batch_shape[] = {
        SHAPE_LEAF("kind"),
        SHAPE_LEAF("model"),
        SHAPE_LEAF("n"),
        SHAPE_LEAF("warmup"),
        SHAPE_LEAF("requested"),
        SHAPE_LEAF("failed"),
        SHAPE_LEAF("bust_cache"),
        SHAPE_LEAF("idle_w"),
        SHAPE_OBJECT_OR_NULL("wh_per_1000_etokens", stats_shape),
        SHAPE_OBJECT_OR_NULL("total_wh", stats_shape),
        SHAPE_OBJECT_OR_NULL("net_total_wh", stats_shape),
        SHAPE_OBJECT_OR_NULL("prefill_wh_per_1000_input_tokens", stats_shape),
        SHAPE_OBJECT_OR_NULL("decode_wh_per_1000_output_tokens", stats_shape),
        SHAPE_OBJECT_OR_NULL("ttft_ms", stats_shape),
        SHAPE_OBJECT_OR_NULL("tokens_per_s", stats_shape),
        SHAPE_OBJECT_OR_NULL("input_tokens", stats_shape),
        SHAPE_OBJECT_OR_NULL("output_tokens", stats_shape),
        SHAPE_OBJECT_OR_NULL("cached_tokens", stats_shape),
        SHAPE_LEAF("runs"),
        SHAPE_END,
};

static const JsonShape step_shape[] = {
        SHAPE_LEAF("step"),         SHAPE_LEAF("target_tokens"), SHAPE_LEAF("run"),
        SHAPE_LEAF("input_tokens"), SHAPE_LEAF("output_tokens"), SHAPE_LEAF("prefill_wh"),
        SHAPE_LEAF("decode_wh"),    SHAPE_LEAF("total_wh"),      SHAPE_LEAF("wh_per_1000_etokens"),
        SHAPE_LEAF("crossed"),      SHAPE_LEAF("measured"),      SHAPE_END,
};

static const JsonShape crossover_shape[] = {
        SHAPE_LEAF("kind"),
        SHAPE_LEAF("model"),
        SHAPE_LEAF("crossed"),
        SHAPE_LEAF("crossover_step"),
        SHAPE_LEAF("crossover_input_tokens"),
        SHAPE_LEAF("start_tokens"),
        SHAPE_LEAF("step_tokens"),
        SHAPE_LEAF("num_ctx"),
        SHAPE_LEAF("max_tokens"),
        SHAPE_ARRAY("steps", step_shape),
        SHAPE_LEAF("runs"),
        SHAPE_END,
};

static const JsonShape calibration_shape[] = {
        SHAPE_LEAF("kind"),
        SHAPE_LEAF("model"),
        SHAPE_LEAF("benchmark"),
        SHAPE_LEAF("wh_per_1000_input_tokens"),
        SHAPE_LEAF("wh_per_1000_output_tokens"),
        SHAPE_LEAF("intercept_wh"),
        SHAPE_LEAF("r2"),
        SHAPE_LEAF("n"),
        SHAPE_LEAF("runs"),
        SHAPE_END,
};

static const JsonShape pane_shape[] = {
        SHAPE_LEAF("pane"),
        SHAPE_LEAF("run"),
        SHAPE_LEAF("model"),
        SHAPE_LEAF("alias"),
        SHAPE_LEAF("backend"),
        SHAPE_LEAF("temperature"),
        SHAPE_LEAF("state"),
        SHAPE_LEAF("prompt_tokens"),
        SHAPE_LEAF("completion_tokens"),
        SHAPE_LEAF("ttft_ms"),
        SHAPE_LEAF("tokens_per_s"),
        SHAPE_LEAF("e2e_ms"),
        SHAPE_LEAF("total_wh"),
        SHAPE_LEAF("error"),
        SHAPE_LEAF("answer"),
        SHAPE_LEAF("thinking"),
        SHAPE_END,
};

static const JsonShape comparison_shape[] = {
        SHAPE_LEAF("kind"),
        SHAPE_ARRAY("panes", pane_shape),
        SHAPE_LEAF("runs"),
        SHAPE_END,
};

static const JsonShape error_shape[] = {
        SHAPE_LEAF("name"),
        SHAPE_LEAF("message"),
        SHAPE_END,
};

static const JsonShape *summary_shape(const char *kind) {
        if (streq_ptr(kind, "batch"))
                return batch_shape;
        if (streq_ptr(kind, "crossover"))
                return crossover_shape;
        if (streq_ptr(kind, "calibration"))
                return calibration_shape;
        return comparison_shape;
}

json_t *job_json_build(uint64_t id, const char *kind, const char *state, const char *error_name,
                       const char *error_message, json_t *summary) {
        const JsonShape job_shape[] = {
                SHAPE_LEAF("job"),
                SHAPE_LEAF("kind"),
                SHAPE_LEAF("state"),
                SHAPE_OBJECT_OR_NULL("error", error_shape),
                SHAPE_OBJECT("summary", summary_shape(kind)),
                SHAPE_END,
        };
        _cleanup_json_ json_t *src = json_object(), *error = NULL;

        if (!src)
                return NULL;
        if (error_name || error_message) {
                error = json_object();
                if (!error)
                        return NULL;
                json_set_string(error, "name", error_name);
                json_set_string(error, "message", error_message);
        }
        if (json_object_set_new(src, "job", json_integer((json_int_t) id)) < 0 ||
            json_object_set_new(src, "kind", kind ? json_string(kind) : json_null()) < 0 ||
            json_object_set_new(src, "state", state ? json_string(state) : json_null()) < 0 ||
            (error && json_object_set(src, "error", error) < 0) ||
            (summary && json_object_set(src, "summary", summary) < 0))
                return NULL;
        return json_shape_build(job_shape, src);
}

/* --- batch ------------------------------------------------------------------------------------- */

typedef enum MetricUnit {
        UNIT_WH,
        UNIT_MS,
        UNIT_RATE,
        UNIT_TOKENS,
} MetricUnit;

static const struct {
        const char *key;
        const char *label;
        MetricUnit unit;
} batch_metrics[] = {
        {"wh_per_1000_etokens", "Wh/1000 e-tokens", UNIT_WH},
        {"total_wh", "Energy", UNIT_WH},
        {"net_total_wh", "Net energy", UNIT_WH},
        {"prefill_wh_per_1000_input_tokens", "Prefill per 1K in", UNIT_WH},
        {"decode_wh_per_1000_output_tokens", "Decode per 1K out", UNIT_WH},
        {"ttft_ms", "TTFT", UNIT_MS},
        {"tokens_per_s", "Speed", UNIT_RATE},
        {"input_tokens", "Input tokens", UNIT_TOKENS},
        {"output_tokens", "Output tokens", UNIT_TOKENS},
        {"cached_tokens", "Cached tokens", UNIT_TOKENS},
};

static char *format_value(char *buf, double v, MetricUnit unit) {
        switch (unit) {
        case UNIT_WH: return format_energy_wh(buf, v);
        case UNIT_MS: return format_duration_ms(buf, v);
        case UNIT_RATE: return format_rate(buf, v);
        default:
                if (isfinite(v) && v == floor(v) && fabs(v) < 1e15) {
                        (void) snprintf(buf, FORMAT_MAX, "%.0f", v);
                        return buf;
                }
                return format_real(buf, v);
        }
}

typedef enum StatColumn {
        COL_N,
        COL_MEAN,
        COL_MEDIAN,
        COL_STD,
        COL_CV,
        COL_CI,
        COL_P5,
        COL_P95,
        COL_MIN,
        COL_MAX,
        _COL_MAX,
} StatColumn;

static const char *const stat_headers[_COL_MAX] = {
        [COL_N] = "N",     [COL_MEAN] = "MEAN", [COL_MEDIAN] = "MEDIAN", [COL_STD] = "STD",
        [COL_CV] = "CV",   [COL_CI] = "95% CI", [COL_P5] = "P5",         [COL_P95] = "P95",
        [COL_MIN] = "MIN", [COL_MAX] = "MAX",
};

static const char *const stat_keys[_COL_MAX] = {
        [COL_MEDIAN] = "median", [COL_STD] = "std", [COL_P5] = "p5",     [COL_P95] = "p95",
        [COL_MIN] = "min",       [COL_MAX] = "max", [COL_MEAN] = "mean",
};

static int stat_cell(Table *t, json_t *stats, StatColumn col, MetricUnit unit) {
        char a[FORMAT_MAX], b[FORMAT_MAX];
        double cv;

        switch (col) {
        case COL_N: return table_add_cell(t, format_count(a, json_get_int(stats, "n", -1)));
        case COL_CV:
                cv = json_get_number(stats, "cv");
                if (!isfinite(cv))
                        return table_add_cell(t, NULL);
                return table_add_cellf(t, "%s %%", format_real(a, cv * 100));
        case COL_CI:
                if (!isfinite(json_get_number(stats, "ci95_low")))
                        return table_add_cell(t, NULL);
                return table_add_cellf(t, "%s … %s",
                                       format_value(a, json_get_number(stats, "ci95_low"), unit),
                                       format_value(b, json_get_number(stats, "ci95_high"), unit));
        default: return table_add_cell(t, format_value(a, json_get_number(stats, stat_keys[col]), unit));
        }
}

static Table *batch_table(json_t *summary, const StatColumn *cols, size_t n_cols) {
        _cleanup_table_ Table *t = NULL;
        const char *h[_COL_MAX + 1] = {};

        for (size_t i = 0; i < n_cols; i++)
                h[i] = stat_headers[cols[i]];
        /* table_new() takes a NULL-terminated list: pass the unused slots as NULLs. */
        t = table_new("METRIC", h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], NULL);
        if (!t)
                return NULL;
        for (size_t i = 0; i < n_cols; i++)
                table_set_align_right(t, i + 1, true);

        for (size_t m = 0; m < ELEMENTSOF(batch_metrics); m++) {
                json_t *stats = json_object_get(summary, batch_metrics[m].key);

                if (!json_is_object(stats))
                        continue;
                if (table_add_cell(t, batch_metrics[m].label) < 0)
                        return NULL;
                for (size_t i = 0; i < n_cols; i++)
                        if (stat_cell(t, stats, cols[i], batch_metrics[m].unit) < 0)
                                return NULL;
        }
        return TAKE_PTR(t);
}

static int batch_header(FILE *f, json_t *summary) {
        int64_t n = json_get_int(summary, "n", 0), warmup = json_get_int(summary, "warmup", 0),
                failed = json_get_int(summary, "failed", 0),
                requested = json_get_int(summary, "requested", n);
        char idle[FORMAT_MAX];

        fprintf(f, "Batch: %" PRIi64 " of %" PRIi64 " run%s of %s finished", n, requested,
                requested == 1 ? "" : "s", json_get_string(summary, "model") ?: "-");
        if (warmup > 0)
                fprintf(f, ", after %" PRIi64 " warm-up run%s (left out)", warmup, warmup == 1 ? "" : "s");
        if (failed > 0)
                fprintf(f, ", %" PRIi64 " failed", failed);
        fputs(".\n", f);
        if (isfinite(json_get_number(summary, "idle_w")))
                fprintf(f, "Idle power measured before the batch: %s.\n",
                        format_power_w(idle, json_get_number(summary, "idle_w")));
        if (json_is_true(json_object_get(summary, "bust_cache")))
                fputs("Prompt cache busted: every prompt began with a unique line.\n", f);
        return 0;
}

int job_show_batch(FILE *f, json_t *summary, size_t width, bool legend) {
        /* Column sets from all to the fewest, the first that fits is printed. */
        static const StatColumn full[] = {COL_N,  COL_MEAN, COL_MEDIAN, COL_STD, COL_CV,
                                          COL_CI, COL_P5,   COL_P95,    COL_MIN, COL_MAX};
        static const StatColumn medium[] = {COL_N, COL_MEAN, COL_STD, COL_CV, COL_CI, COL_MIN, COL_MAX};
        static const StatColumn small[] = {COL_MEAN, COL_STD, COL_CV, COL_CI};
        static const StatColumn tiny[] = {COL_MEAN, COL_CV};
        static const struct {
                const StatColumn *cols;
                size_t n;
        } sets[] = {
                {full, ELEMENTSOF(full)},
                {medium, ELEMENTSOF(medium)},
                {small, ELEMENTSOF(small)},
                {tiny, ELEMENTSOF(tiny)},
        };
        _cleanup_table_ Table *t = NULL;
        size_t i;

        batch_header(f, summary);
        for (i = 0; i < ELEMENTSOF(sets); i++) {
                table_free(t);
                t = batch_table(summary, sets[i].cols, sets[i].n);
                if (!t)
                        return -ENOMEM;
                if (table_natural_width(t, legend) <= width)
                        break;
        }
        if (table_get_rows(t) == 0) {
                fputs("No run finished: no statistics.\n", f);
                return 0;
        }
        fputc('\n', f);
        if (table_print(t, f, width, legend) < 0)
                return -EIO;
        if (i > 0)
                fputs("(Columns left out to fit the terminal; --json has every statistic.)\n", f);
        return ferror(f) ? -EIO : 0;
}

/* --- crossover --------------------------------------------------------------------------------- */

static int add_step(Table *t, json_t *s) {
        char step[FORMAT_MAX], target[FORMAT_MAX], in[FORMAT_MAX], out[FORMAT_MAX], pre[FORMAT_MAX],
                dec[FORMAT_MAX], total[FORMAT_MAX], per[FORMAT_MAX];

        return table_add_row(t, format_count(step, json_get_int(s, "step", -1)),
                             format_count(target, json_get_int(s, "target_tokens", -1)),
                             format_count(in, json_get_int(s, "input_tokens", -1)),
                             format_count(out, json_get_int(s, "output_tokens", -1)),
                             format_energy_wh(pre, json_get_number(s, "prefill_wh")),
                             format_energy_wh(dec, json_get_number(s, "decode_wh")),
                             format_energy_wh(total, json_get_number(s, "total_wh")),
                             format_energy_wh(per, json_get_number(s, "wh_per_1000_etokens")),
                             json_is_true(json_object_get(s, "crossed")) ? "yes" : "no");
}

int job_show_crossover(FILE *f, json_t *summary, size_t width, bool legend) {
        json_t *steps = json_object_get(summary, "steps"), *s, *last;
        _cleanup_table_ Table *t = NULL;
        size_t i;
        int r;

        t = table_new("STEP", "TARGET", "INPUT", "OUTPUT", "PREFILL", "DECODE", "TOTAL", "Wh/1K", "CROSSED",
                      NULL);
        if (!t)
                return -ENOMEM;
        for (size_t c = 0; c < 8; c++)
                table_set_align_right(t, c, true);
        json_array_foreach (steps, i, s) {
                r = add_step(t, s);
                if (r < 0)
                        return r;
        }

        fprintf(f,
                "Crossover finder: %s, num_ctx pinned at %" PRIi64 ", at most %" PRIi64
                " output tokens.\n\n",
                json_get_string(summary, "model") ?: "-", json_get_int(summary, "num_ctx", 0),
                json_get_int(summary, "max_tokens", 0));
        if (table_get_rows(t) == 0) {
                fputs("No step finished.\n", f);
                return 0;
        }
        r = table_print(t, f, width, legend);
        if (r < 0)
                return r;
        fputc('\n', f);

        last = json_array_get(steps, json_array_size(steps) - 1);
        if (json_is_true(json_object_get(summary, "crossed")) &&
            isfinite(json_get_number(summary, "crossover_input_tokens"))) {
                int64_t step = json_get_int(summary, "crossover_step", 0);

                fprintf(f, "Prefill energy overtakes decode energy at about %.0f input tokens",
                        json_get_number(summary, "crossover_input_tokens"));
                if (step > 1)
                        fprintf(f, " (between steps %" PRIi64 " and %" PRIi64 ").\n", step - 1, step);
                else
                        fputs(" (already at the first step).\n", f);
        } else
                fprintf(f,
                        "No crossover: decode cost more than prefill at every step, up to %" PRIi64
                        " input tokens.\n",
                        json_get_int(last, "input_tokens", 0));
        return ferror(f) ? -EIO : 0;
}

/* --- calibration ------------------------------------------------------------------------------- */

int job_show_calibration(FILE *f, json_t *summary) {
        _cleanup_kv_ KvBlock *b = kv_new();
        char a[FORMAT_MAX];
        int r;

        if (!b)
                return -ENOMEM;
        if (!json_get_string(summary, "benchmark")) {
                fputs("No fit: the calibration did not finish.\n", f);
                return 0;
        }
        r = kv_add(b, "Benchmark", json_get_string(summary, "benchmark"));
        if (r >= 0)
                r = kv_add(b, "Model", json_get_string(summary, "model"));
        if (r >= 0)
                r = kv_add(b, "Per 1000 input tokens",
                           format_energy_wh(a, json_get_number(summary, "wh_per_1000_input_tokens")));
        if (r >= 0)
                r = kv_add(b, "Per 1000 output tokens",
                           format_energy_wh(a, json_get_number(summary, "wh_per_1000_output_tokens")));
        if (r >= 0)
                r = kv_add(b, "Per run (intercept)",
                           format_energy_wh(a, json_get_number(summary, "intercept_wh")));
        if (r >= 0)
                r = kv_addf(b, "Fit", "R² %.4f over %s runs", json_get_number(summary, "r2"),
                            format_count(a, json_get_int(summary, "n", -1)));
        if (r < 0)
                return r;
        r = kv_print(b, f);
        if (r < 0)
                return r;
        fprintf(f, "\nEstimates can use it: llmlabctl run-energy --measure=estimate --benchmark=%s …\n",
                json_get_string(summary, "benchmark"));
        return ferror(f) ? -EIO : 0;
}

/* --- comparison -------------------------------------------------------------------------------- */

static bool any_energy(json_t *panes) {
        json_t *p;
        size_t i;

        json_array_foreach (panes, i, p)
                if (isfinite(json_get_number(p, "total_wh")))
                        return true;
        return false;
}

static int add_pane(Table *t, json_t *p, bool energy) {
        char num[FORMAT_MAX], in[FORMAT_MAX], out[FORMAT_MAX], ttft[FORMAT_MAX], speed[FORMAT_MAX],
                e2e[FORMAT_MAX], wh[FORMAT_MAX];
        const char *alias = json_get_string(p, "alias"), *model = json_get_string(p, "model");
        const char *cells[] = {
                format_count(num, json_get_int(p, "pane", -2) + 1),
                isempty(alias) ? model : alias,
                model,
                json_get_string(p, "state"),
                format_count(in, json_get_int(p, "prompt_tokens", -1)),
                format_count(out, json_get_int(p, "completion_tokens", -1)),
                format_duration_ms(ttft, json_get_number(p, "ttft_ms")),
                format_rate(speed, json_get_number(p, "tokens_per_s")),
                format_duration_ms(e2e, json_get_number(p, "e2e_ms")),
                format_energy_wh(wh, json_get_number(p, "total_wh")),
        };
        int r = 0;

        /* The energy column only when some pane was measured. */
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(cells) - !energy; i++)
                r = table_add_cell(t, cells[i]);
        return r;
}

int job_show_panes(FILE *f, json_t *panes, size_t width, bool legend) {
        bool energy = any_energy(panes);
        _cleanup_table_ Table *t = NULL;
        json_t *p;
        size_t i;
        int r;

        t = energy ? table_new("PANE", "NAME", "MODEL", "STATE", "PROMPT", "COMPLETION", "TTFT", "SPEED",
                               "TIME", "ENERGY", NULL)
                   : table_new("PANE", "NAME", "MODEL", "STATE", "PROMPT", "COMPLETION", "TTFT", "SPEED",
                               "TIME", NULL);
        if (!t)
                return -ENOMEM;
        table_set_align_right(t, 0, true);
        for (size_t c = 4; c < table_get_columns(t); c++)
                table_set_align_right(t, c, true);
        json_array_foreach (panes, i, p) {
                r = add_pane(t, p, energy);
                if (r < 0)
                        return r;
        }
        r = table_print(t, f, width, legend);
        if (r < 0)
                return r;
        /* Why a pane failed, under the table. */
        json_array_foreach (panes, i, p)
                if (json_get_string(p, "error"))
                        fprintf(f, "Pane %" PRIi64 ": %s\n", json_get_int(p, "pane", -1) + 1,
                                json_get_string(p, "error"));
        return ferror(f) ? -EIO : 0;
}

/* --- progress ---------------------------------------------------------------------------------- */

uint64_t job_eta_usec(unsigned done, unsigned total, uint64_t done_usec, uint64_t elapsed_usec) {
        double left, since;

        if (done == 0)
                return UINT64_MAX;
        if (done >= total)
                return 0;
        left = (double) done_usec / done * (total - done);
        since = elapsed_usec > done_usec ? (double) (elapsed_usec - done_usec) : 0;
        return left > since ? (uint64_t) (left - since) : 0;
}

static char *current_part(const JobProgress *p) {
        char *s = NULL;
        int r;

        if (p->cancelling)
                return strdup("cancelling…");
        if (p->current == 0)
                return strdup("");
        if (!streq_ptr(p->current_state, "decoding") || p->current_chars == 0)
                r = asprintf(&s, "run %u %s", p->current, p->current_state ?: "starting");
        else if (isfinite(p->chars_per_token) && p->chars_per_token > 0)
                r = asprintf(&s, "run %u %s, ~%.0f tokens", p->current, p->current_state,
                             (double) p->current_chars / p->chars_per_token);
        else
                r = asprintf(&s, "run %u %s, %" PRIu64 " characters", p->current, p->current_state,
                             p->current_chars);
        return r < 0 ? NULL : s;
}

static char *bar(unsigned done, unsigned total, size_t width) {
        size_t fill = total > 0 ? (size_t) ((double) width * MIN(done, total) / total) : 0;
        char *s = malloc(width + 3);

        if (!s)
                return NULL;
        s[0] = '[';
        for (size_t i = 0; i < width; i++)
                s[i + 1] = i < fill ? '#' : '-';
        s[width + 1] = ']';
        s[width + 2] = '\0';
        return s;
}

char *job_progress_line(const JobProgress *p, size_t width) {
        _cleanup_free_ char *counts = NULL, *eta = NULL, *current = NULL, *b = NULL, *line = NULL;
        uint64_t left = job_eta_usec(p->done, p->total, p->done_usec, p->elapsed_usec);
        char d[FORMAT_MAX];
        size_t used;

        if (asprintf(&counts, "%u/%u %s", p->done, p->total, p->unit ?: "runs") < 0)
                return NULL;
        if (left != UINT64_MAX && p->done < p->total &&
            asprintf(&eta, "ETA %s", format_duration_ms(d, (double) left / USEC_PER_MSEC)) < 0)
                return NULL;
        current = current_part(p);
        if (!current)
                return NULL;

        /* Drop the least useful parts until the rest fits with a bar of at least 10. */
        for (;;) {
                used = utf8_width(counts) + (eta ? utf8_width(eta) + 3 : 0) +
                       (!isempty(current) ? utf8_width(current) + 3 : 0);
                if (used + 13 <= width || (!eta && isempty(current)))
                        break;
                if (!isempty(current) && !p->cancelling)
                        current[0] = '\0';
                else if (eta) {
                        free(eta);
                        eta = NULL;
                } else
                        current[0] = '\0';
        }

        if (used + 13 <= width) {
                b = bar(p->done, p->total, MIN(width - used - 3, (size_t) 30));
                if (!b)
                        return NULL;
        }
        if (asprintf(&line, "%s%s%s%s%s%s%s", strempty(b), b ? " " : "", counts, eta ? " · " : "",
                     strempty(eta), isempty(current) ? "" : " · ", current) < 0)
                return NULL;
        return TAKE_PTR(line);
}

/* --- text in columns --------------------------------------------------------------------------- */

void lines_done(Lines *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->text[i]);
        free(l->text);
        free(l->dim);
        *l = (Lines){};
}

static int lines_add_take(Lines *l, char *text, bool dim) {
        if (l->n == l->allocated) {
                size_t a = MAX(l->allocated * 2, (size_t) 16);
                char **t = reallocarray(l->text, a, sizeof(char *));
                bool *d;

                if (!t) {
                        free(text);
                        return -ENOMEM;
                }
                l->text = t;
                d = reallocarray(l->dim, a, sizeof(bool));
                if (!d) {
                        free(text);
                        return -ENOMEM;
                }
                l->dim = d;
                l->allocated = a;
        }
        l->text[l->n] = text;
        l->dim[l->n++] = dim;
        return 0;
}

int lines_add(Lines *l, const char *text, bool dim) {
        char *s = strdup(text);

        if (!s)
                return -ENOMEM;
        return lines_add_take(l, s, dim);
}

static bool is_continuation(char c) {
        return ((unsigned char) c & 0xc0) == 0x80;
}

/* Wraps one line (no '\n') of @n bytes. */
static int wrap_line(Lines *l, const char *s, size_t n, size_t width, bool dim) {
        do {
                size_t cols = 0, cut = n, space = SIZE_MAX, skip = 0;
                char *piece;
                int r;

                for (size_t i = 0; i < n; i++) {
                        if (is_continuation(s[i]))
                                continue;
                        if (cols == width) {
                                cut = i;
                                break;
                        }
                        if (s[i] == ' ' || s[i] == '\t')
                                space = i;
                        cols++;
                }
                if (cut < n) {
                        if (s[cut] == ' ' || s[cut] == '\t')
                                skip = 1; /* a word ends at the edge: the space is not shown */
                        else if (space != SIZE_MAX && space > 0) {
                                cut = space; /* break at the last space, unless it is one long word */
                                skip = 1;
                        }
                }
                piece = strndup(s, cut);
                if (!piece)
                        return -ENOMEM;
                for (char *p = piece; *p; p++)
                        if (*p == '\t')
                                *p = ' ';
                r = lines_add_take(l, piece, dim);
                if (r < 0)
                        return r;
                s += cut + skip;
                n -= cut + skip;
        } while (n > 0);
        return 0;
}

int lines_wrap(Lines *l, const char *text, size_t width, bool dim) {
        const char *p = text;
        int r;

        if (width == 0)
                return -EINVAL;
        while (p && *p) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t) (nl - p) : strlen(p);

                r = n == 0 ? lines_add(l, "", dim) : wrap_line(l, p, n, width, dim);
                if (r < 0)
                        return r;
                p = nl ? nl + 1 : NULL;
                if (p && *p == '\0') {
                        /* A trailing newline: the cursor is on a new, empty line. */
                        r = lines_add(l, "", dim);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

#define COLUMN_SEPARATOR " │ "
#define COLUMN_MIN       20U

size_t columns_width(size_t total, size_t n_panes) {
        size_t sep = 3 * (n_panes > 0 ? n_panes - 1 : 0), w;

        if (n_panes == 0 || total == SIZE_MAX || total <= sep)
                return 0;
        w = (total - sep) / n_panes;
        return w >= COLUMN_MIN ? w : 0;
}

int columns_print(FILE *f, Lines *const *panes, size_t n_panes, size_t width, size_t first, size_t n,
                  const char *dim_on, const char *dim_off, bool clear) {
        for (size_t row = first; row < first + n; row++) {
                if (clear)
                        fputs("\x1b[K", f);
                for (size_t i = 0; i < n_panes; i++) {
                        const Lines *l = panes[i];
                        const char *text = row < l->n ? l->text[row] : "";
                        bool dim = row < l->n && l->dim[row] && !isempty(text);
                        size_t w = utf8_width(text), pad = w < width ? width - w : 0;

                        if (i > 0)
                                fputs(COLUMN_SEPARATOR, f);
                        fprintf(f, "%s%s%s", dim ? dim_on : "", text, dim ? dim_off : "");
                        /* No trailing spaces after the last column. */
                        if (i + 1 < n_panes)
                                fprintf(f, "%*s", (int) pad, "");
                }
                fputc('\n', f);
        }
        return ferror(f) ? -EIO : 0;
}
