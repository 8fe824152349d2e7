/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Crossover finder: grow the input from start_tokens by step_tokens per step with non-repeating
 * filler (a different filler for every step, so the server's prompt cache cannot hide prefill),
 * num_ctx and max_tokens pinned for the whole job (so the model is never reloaded and decode stays
 * comparable), until the prefill energy exceeds the decode energy or max_steps is reached. The
 * crossover point is interpolated between the last two steps. */

#include <math.h>

#include "job.h"
#include "json-util.h"
#include "metrics.h"
#include "manager.h"

#define CROSSOVER_MAX_TOKENS_DEFAULT 128U
#define CROSSOVER_MAX_STEPS          100U
#define CROSSOVER_MAX_STEP_TOKENS    100000U

typedef struct CrossoverState {
        unsigned step;    /* steps started */
        uint32_t num_ctx; /* pinned */
        uint32_t max_tokens;
        json_t *steps;
        bool crossed;
} CrossoverState;

static void crossover_state_free(void *p) {
        CrossoverState *st = p;

        json_decref(st->steps);
        g_free(st);
}

static int crossover_validate(const LabRequest *req, const JobOptions *o, unsigned max_runs,
                              LabError *error) {
        if (o->start_tokens < 1 || o->start_tokens > CROSSOVER_MAX_STEP_TOKENS)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "start_tokens must be between 1 and %u", CROSSOVER_MAX_STEP_TOKENS);
        if (o->step_tokens < 1 || o->step_tokens > CROSSOVER_MAX_STEP_TOKENS)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "step_tokens must be between 1 and %u", CROSSOVER_MAX_STEP_TOKENS);
        if (o->max_steps < 1 || o->max_steps > MIN(CROSSOVER_MAX_STEPS, max_runs))
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "max_steps must be between 1 and %u",
                                     MIN(CROSSOVER_MAX_STEPS, max_runs));
        return 0;
}

static unsigned crossover_total(const Job *j) {
        return j->options.max_steps;
}

static uint32_t target_tokens(const Job *j, unsigned step) {
        return j->options.start_tokens + j->options.step_tokens * step;
}

/* A context that holds the largest step: filler words take one to two tokens each. */
static uint32_t pinned_num_ctx(const Job *j, uint32_t max_tokens) {
        uint64_t need = (uint64_t) target_tokens(j, j->options.max_steps - 1) * 2 + max_tokens + 512;
        uint32_t ctx = 2048;

        while (ctx < need && ctx < REQUEST_MAX_NUM_CTX)
                ctx *= 2;
        return ctx;
}

static void crossover_next(Job *j) {
        CrossoverState *st = j->state_data;
        LabRequest *req = lab_request_copy(j->request);
        g_autofree char *filler = job_filler_text((j->id << 16) ^ st->step, target_tokens(j, st->step));
        char *prompt = g_strconcat(filler, "\n\n", req->user_prompt, NULL);

        g_free(req->user_prompt);
        req->user_prompt = prompt;
        req->num_ctx = st->num_ctx;
        req->has_num_ctx = true;
        req->max_tokens = st->max_tokens;
        req->has_max_tokens = true;
        st->step++;
        (void) job_start_run(j, req, /* warmup= */ false);
}

static int crossover_start(Job *j) {
        CrossoverState *st = g_new0(CrossoverState, 1);

        st->steps = json_array();
        st->max_tokens = j->request->max_tokens ?: CROSSOVER_MAX_TOKENS_DEFAULT;
        st->num_ctx = j->request->num_ctx ?: pinned_num_ctx(j, st->max_tokens);
        j->state_data = st;
        j->state_free = crossover_state_free;
        crossover_next(j);
        return 0;
}

static void crossover_run_finished(Job *j, Run *r) {
        CrossoverState *st = j->state_data;
        double prefill = run_result_number(r, "energy", "prefill_wh");
        double decode = run_result_number(r, "energy", "decode_wh");
        json_t *step;

        if (r->state != RUN_DONE)
                return job_fail(j, r->error.code >= 0 ? r->error.code : LAB_ERROR_FAILED,
                                "Step %u failed: %s", st->step, strna(r->error.message));
        if (!isfinite(prefill) || !isfinite(decode))
                return job_fail(j, LAB_ERROR_ENERGY_UNAVAILABLE,
                                "Step %u has no prefill/decode energy split", st->step);

        st->crossed = prefill > decode;
        step = json_pack("{s:I, s:I, s:I}", "step", (json_int_t) st->step, "target_tokens",
                         (json_int_t) target_tokens(j, st->step - 1), "run", (json_int_t) r->id);
        json_set_real(step, "input_tokens", run_result_number(r, "tokens", "input"));
        json_set_real(step, "output_tokens", run_result_number(r, "tokens", "output"));
        json_set_real(step, "prefill_wh", prefill);
        json_set_real(step, "decode_wh", decode);
        json_set_real(step, "total_wh", run_result_number(r, "energy", "total_wh"));
        json_set_real(step, "wh_per_1000_etokens", run_result_number(r, "energy", "wh_per_1000_etokens"));
        json_object_set_new(step, "crossed", json_boolean(st->crossed));
        json_object_set_new(step, "measured",
                            json_boolean(json_is_true(
                                    json_object_get(json_object_get(r->result, "energy"), "measured"))));
        json_array_append_new(st->steps, step);

        if (st->crossed || st->step >= j->options.max_steps)
                return job_finish(j, JOB_DONE);
        crossover_next(j);
}

static json_t *crossover_summary(Job *j) {
        CrossoverState *st = j->state_data;
        json_t *o = json_pack("{s:s, s:b}", "kind", "crossover", "crossed", st && st->crossed);
        size_t n = st ? json_array_size(st->steps) : 0, index;
        g_autofree CrossoverStep *steps = g_new0(CrossoverStep, MAX(n, 1u));
        double tokens;

        if (!st)
                return o;
        for (size_t i = 0; i < n; i++) {
                json_t *s = json_array_get(st->steps, i);

                steps[i] = (CrossoverStep){
                        .input_tokens = json_get_number(s, "input_tokens"),
                        .prefill_wh = json_get_number(s, "prefill_wh"),
                        .decode_wh = json_get_number(s, "decode_wh"),
                };
        }
        if (n > 0 && crossover_find(steps, n, &index, &tokens) > 0) {
                json_set_int(o, "crossover_step", (int64_t) index + 1);
                json_set_real(o, "crossover_input_tokens", tokens);
        }
        json_object_set(o, "steps", st->steps);
        json_set_int(o, "num_ctx", st->num_ctx);
        json_set_int(o, "max_tokens", st->max_tokens);
        json_set_int(o, "start_tokens", j->options.start_tokens);
        json_set_int(o, "step_tokens", j->options.step_tokens);
        json_set_string(o, "model", j->request->model);
        json_object_set_new(o, "runs", job_run_ids(j));
        return o;
}

const JobOps job_crossover_ops = {
        .kind = JOB_CROSSOVER,
        .validate = crossover_validate,
        .total_runs = crossover_total,
        .start = crossover_start,
        .run_finished = crossover_run_finished,
        .summary = crossover_summary,
};
