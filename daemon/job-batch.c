/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Batch: W warm-up runs (stored, flagged, left out of the statistics) then N runs of the same
 * request, one after another, after a fresh idle-power window. Summary: n, mean, median, sample
 * std, CV, 95 % CI, p5/p95, min, max per metric (docs/metrics.md). */

#include <math.h>

#include "energy-monitor.h"
#include "job.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"

#define BATCH_MAX_WARMUP  100U
#define BATCH_MAX_IDLE_MS 60000U

typedef struct BatchState {
        unsigned started;
        double idle_w; /* fresh idle window before the batch, NaN if none */
        int idle_error;
} BatchState;

static const char *const batch_metrics[][2] = {
        {"energy", "wh_per_1000_etokens"},
        {"energy", "total_wh"},
        {"energy", "net_total_wh"},
        {"energy", "prefill_wh_per_1000_input_tokens"},
        {"energy", "decode_wh_per_1000_output_tokens"},
        {"timing", "ttft_ms"},
        {"timing", "tokens_per_s"},
        {"tokens", "input"},
        {"tokens", "output"},
        {"tokens", "cached"},
};

static const char *metric_name(const char *section, const char *key) {
        if (streq(section, "tokens"))
                return streq(key, "input")    ? "input_tokens"
                       : streq(key, "output") ? "output_tokens"
                                              : "cached_tokens";
        return key;
}

static int batch_validate(const LabRequest *req, const JobOptions *o, unsigned max_runs, LabError *error) {
        if (o->runs < 1 || o->runs > max_runs)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "runs must be between 1 and %u, not %u", max_runs, o->runs);
        if (o->warmup > BATCH_MAX_WARMUP)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "warmup must be at most %u",
                                     BATCH_MAX_WARMUP);
        if (o->idle_ms > BATCH_MAX_IDLE_MS)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "idle_ms must be at most %u",
                                     BATCH_MAX_IDLE_MS);
        return 0;
}

static unsigned batch_total(const Job *j) {
        return j->options.runs + j->options.warmup;
}

static void batch_next(Job *j) {
        BatchState *st = j->state_data;
        LabRequest *req;

        if (j->state != JOB_RUNNING || st->started >= j->total)
                return;
        req = lab_request_copy(j->request);
        if (j->options.bust_cache) {
                /* A unique first line: the server's prompt cache cannot serve any of the prompt. */
                g_autofree char *nonce = job_nonce_prefix(j->id, st->started);
                char *p = g_strconcat(nonce, req->user_prompt, NULL);

                g_free(req->user_prompt);
                req->user_prompt = p;
        }
        st->started++;
        (void) job_start_run(j, req, /* warmup= */ st->started <= j->options.warmup);
}

static void batch_idle_done(EnergyMonitor *em, int error, double summed_w, const double *zone_w,
                            void *userdata) {
        _cleanup_(job_unrefp) Job *j = userdata;
        BatchState *st = j->state_data;

        st->idle_error = error;
        st->idle_w = error < 0 ? NAN : summed_w;
        if (error < 0)
                log_info("Job %" PRIu64 ": no fresh idle window (%s), using the tracked idle power.", j->id,
                         strerror(-error));
        batch_next(j);
}

static int batch_start(Job *j) {
        Manager *m = j->manager;
        BatchState *st = g_new0(BatchState, 1);
        int r;

        st->idle_w = NAN;
        j->state_data = st;
        j->state_free = g_free;

        if (j->options.idle_ms > 0 && j->request->measure != MEASURE_OFF &&
            j->request->measure != MEASURE_ESTIMATE && energy_monitor_can_measure(m->energy)) {
                r = energy_monitor_measure_idle(m->energy, j->options.idle_ms, batch_idle_done, job_ref(j));
                if (r >= 0)
                        return 0;
                job_unref(j);
                st->idle_error = r;
        }
        batch_next(j);
        return 0;
}

static void batch_run_finished(Job *j, Run *r) {
        BatchState *st = j->state_data;

        if (st->started < j->total)
                return batch_next(j);
        if (j->done >= j->total) {
                if (job_count_runs(j, RUN_DONE, false) == 0)
                        return job_fail(j, LAB_ERROR_FAILED, "No run of the batch succeeded (last: %s)",
                                        strna(r->error.message));
                job_finish(j, JOB_DONE);
        }
}

static json_t *batch_summary(Job *j) {
        BatchState *st = j->state_data;
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:b}", "kind", "batch", "n",
                              (json_int_t) job_count_runs(j, RUN_DONE, false), "warmup",
                              (json_int_t) j->options.warmup, "failed",
                              (json_int_t) job_count_runs(j, RUN_FAILED, false), "requested",
                              (json_int_t) j->options.runs, "bust_cache", j->options.bust_cache);

        for (size_t i = 0; i < ELEMENTSOF(batch_metrics); i++) {
                json_t *s = job_metric_stats(j, batch_metrics[i][0], batch_metrics[i][1]);

                if (s)
                        json_object_set_new(o, metric_name(batch_metrics[i][0], batch_metrics[i][1]), s);
        }
        if (st)
                json_set_real(o, "idle_w", st->idle_w);
        json_object_set_new(o, "runs", job_run_ids(j));
        json_set_string(o, "model", j->request->model);
        return o;
}

const JobOps job_batch_ops = {
        .kind = JOB_BATCH,
        .validate = batch_validate,
        .total_runs = batch_total,
        .start = batch_start,
        .run_finished = batch_run_finished,
        .summary = batch_summary,
};
