/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Calibration: N measured runs of one model with prompt and output lengths varied independently,
 * measured exactly as live runs are (gross total energy, phase-resolved), then fitted by least
 * squares to energy = a × input tokens + b × output tokens + c. The result becomes (or replaces)
 * the benchmark "calibrated:<model>" with a and b per 1000 tokens, c, R² and n. */

#include <math.h>

#include "benchmark.h"
#include "energy-monitor.h"
#include "job.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "metrics.h"
#include "store.h"

#define CALIBRATION_MIN_RUNS 4U

/* Two orthogonal-ish sequences: input filler words and output tokens vary independently. */
static const uint32_t input_levels[] = {60, 480, 180, 900, 120, 660, 300, 1000};
static const uint32_t output_levels[] = {32, 160, 256, 48, 224, 96, 128, 192};

typedef struct CalibrationState {
        unsigned started;
        uint32_t num_ctx;
        char *benchmark_id;
        EnergyFit fit;
        bool fitted;
} CalibrationState;

static void calibration_state_free(void *p) {
        CalibrationState *st = p;

        g_free(st->benchmark_id);
        g_free(st);
}

static int calibration_validate(const LabRequest *req, const JobOptions *o, unsigned max_runs,
                                LabError *error) {
        if (o->runs < CALIBRATION_MIN_RUNS || o->runs > max_runs)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "runs must be between %u and %u, not %u", CALIBRATION_MIN_RUNS,
                                     max_runs, o->runs);
        if (req->measure == MEASURE_ESTIMATE || req->measure == MEASURE_OFF)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "calibration measures energy: measure must be \"live\" or \"auto\"");
        return 0;
}

static unsigned calibration_total(const Job *j) {
        return j->options.runs;
}

static uint32_t level(const uint32_t *levels, unsigned i) {
        return levels[i % ELEMENTSOF(input_levels)];
}

static void calibration_next(Job *j) {
        CalibrationState *st = j->state_data;
        unsigned i = st->started;
        LabRequest *req = lab_request_copy(j->request);
        g_autofree char *filler = job_filler_text((j->id << 16) ^ (0x5A5AU + i), level(input_levels, i));
        char *prompt = g_strconcat(filler, "\n\n", req->user_prompt, NULL);

        g_free(req->user_prompt);
        req->user_prompt = prompt;
        req->measure = MEASURE_LIVE;
        req->num_ctx = st->num_ctx;
        req->has_num_ctx = true;
        req->max_tokens = level(output_levels, i);
        req->has_max_tokens = true;
        st->started++;
        (void) job_start_run(j, req, /* warmup= */ false);
}

static int calibration_start(Job *j) {
        CalibrationState *st = g_new0(CalibrationState, 1);
        g_autofree char *sane = benchmark_id_sanitize(j->request->model);

        if (!energy_monitor_can_measure(j->manager->energy)) {
                g_free(st);
                job_fail(j, LAB_ERROR_ENERGY_UNAVAILABLE,
                         "Calibration needs readable energy counters, and this machine has none");
                return 0;
        }
        st->num_ctx = j->request->num_ctx ?: 4096;
        st->benchmark_id = g_strconcat("calibrated:", sane, NULL);
        j->state_data = st;
        j->state_free = calibration_state_free;
        calibration_next(j);
        return 0;
}

static int save_benchmark(Job *j, CalibrationState *st) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        _cleanup_json_ json_t *saved = NULL;
        Manager *m = j->manager;
        Benchmark *b = NULL;
        int r;

        r = benchmark_new(st->benchmark_id, st->fit.a_wh_per_token_in * 1000.0,
                          st->fit.b_wh_per_token_out * 1000.0, &b);
        if (r < 0)
                return r;
        free(b->name); /* benchmark_new() named it after its id */
        b->name = g_strdup_printf("%s (calibrated on this machine)", j->request->model);
        b->source = g_strdup("calibration");
        b->description = g_strdup_printf("Fitted by least squares from %zu measured runs (R² %.4f).",
                                         st->fit.n, st->fit.r2);
        b->calibrated = true;
        b->r2 = st->fit.r2;
        b->intercept_wh = st->fit.c_wh;
        b->n = (unsigned) st->fit.n;
        saved = benchmark_to_json(b);
        r = benchmark_registry_add(m->benchmarks, b, /* replace= */ true, &err);
        if (r < 0)
                return r;
        r = store_save_benchmark(m->store, st->benchmark_id, saved);
        if (r < 0)
                log_error_errno(r, "Failed to store benchmark %s, it will be lost on restart: %m",
                                st->benchmark_id);
        return 0;
}

static void calibration_fit(Job *j) {
        CalibrationState *st = j->state_data;
        guint n = j->runs->len;
        g_autofree double *in = g_new(double, n), *out = g_new(double, n), *wh = g_new(double, n);
        size_t k = 0;
        int r;

        for (guint i = 0; i < n; i++) {
                Run *run = g_ptr_array_index(j->runs, i);

                if (run->state != RUN_DONE)
                        continue;
                in[k] = run_result_number(run, "tokens", "input");
                out[k] = run_result_number(run, "tokens", "output");
                wh[k] = run_result_number(run, "energy", "total_wh");
                if (isfinite(in[k]) && isfinite(out[k]) && isfinite(wh[k]))
                        k++;
        }
        r = energy_fit_compute(in, out, wh, k, /* intercept= */ true, &st->fit);
        if (r < 0)
                return job_fail(j, LAB_ERROR_FAILED, "The energy fit failed over %zu measured runs: %s", k,
                                r == -EDOM ? "the input and output lengths did not vary enough"
                                           : strerror(-r));
        if (st->fit.a_wh_per_token_in < 0 || st->fit.b_wh_per_token_out < 0)
                return job_fail(j, LAB_ERROR_FAILED,
                                "The fit gave a negative per-token energy (a=%g, b=%g Wh/token, R² %.3f): "
                                "the measurements are too noisy; calibrate with more runs",
                                st->fit.a_wh_per_token_in, st->fit.b_wh_per_token_out, st->fit.r2);
        st->fitted = true;
        r = save_benchmark(j, st);
        if (r < 0)
                return job_fail(j, LAB_ERROR_FAILED, "Failed to save benchmark %s: %s", st->benchmark_id,
                                strerror(-r));
        job_finish(j, JOB_DONE);
}

static void calibration_run_finished(Job *j, Run *r) {
        CalibrationState *st = j->state_data;

        if (r->state != RUN_DONE)
                return job_fail(j, r->error.code >= 0 ? r->error.code : LAB_ERROR_FAILED,
                                "Calibration run %u failed: %s", st->started, strna(r->error.message));
        if (st->started < j->total)
                return calibration_next(j);
        calibration_fit(j);
}

static json_t *calibration_summary(Job *j) {
        CalibrationState *st = j->state_data;
        json_t *o = json_pack("{s:s, s:s}", "kind", "calibration", "model", j->request->model);

        if (st && st->fitted) {
                json_set_string(o, "benchmark", st->benchmark_id);
                json_set_real(o, "wh_per_1000_input_tokens", st->fit.a_wh_per_token_in * 1000.0);
                json_set_real(o, "wh_per_1000_output_tokens", st->fit.b_wh_per_token_out * 1000.0);
                json_set_real(o, "intercept_wh", st->fit.c_wh);
                json_set_real(o, "r2", st->fit.r2);
                json_set_int(o, "n", (int64_t) st->fit.n);
        }
        json_object_set_new(o, "runs", job_run_ids(j));
        return o;
}

const JobOps job_calibration_ops = {
        .kind = JOB_CALIBRATION,
        .validate = calibration_validate,
        .total_runs = calibration_total,
        .start = calibration_start,
        .run_finished = calibration_run_finished,
        .summary = calibration_summary,
};
