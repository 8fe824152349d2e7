/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Comparison: one user prompt on several panes (a model with alias, temperature, max tokens and
 * system prompt each). Panes stream concurrently; with measure=live they go through the
 * measurement queue one after another, in pane order. Each pane is an ordinary run. */

#include <math.h>

#include "job.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"

#define COMPARISON_MAX_PANES 16U

typedef struct ComparisonState {
        unsigned started;
        sd_event_source *next; /* starts the next pane once the current one is queued or running */
        json_t *failed;        /* panes that could not start: {pane, model, error} */
} ComparisonState;

static void comparison_state_free(void *p) {
        ComparisonState *st = p;

        sd_event_source_disable_unref(st->next);
        json_decref(st->failed);
        g_free(st);
}

static const char *const pane_keys[] = {
        "model",      "alias",         "backend",          "temperature",
        "max_tokens", "system_prompt", "system_prompt_id", "seed",
};

static int validate_pane(json_t *pane, size_t index, LabError *error) {
        const char *key;
        json_t *v;

        if (!json_is_object(pane))
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "pane %zu is not a dictionary",
                                     index);
        json_object_foreach (pane, key, v) {
                bool known = false;

                for (size_t i = 0; i < ELEMENTSOF(pane_keys); i++)
                        known = known || streq(key, pane_keys[i]);
                if (!known)
                        return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                             "unknown pane key \"%s\" in pane %zu", key, index);
        }
        if (!json_is_string(json_object_get(pane, "model")) || isempty(json_get_string(pane, "model")))
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "pane %zu needs a model", index);
        if (json_object_get(pane, "temperature") && !json_is_real(json_object_get(pane, "temperature")))
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "pane %zu: temperature must be of type 'd'", index);
        if (json_object_get(pane, "max_tokens") && !json_is_integer(json_object_get(pane, "max_tokens")))
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "pane %zu: max_tokens must be an integer", index);
        if (json_object_get(pane, "seed") && !json_is_integer(json_object_get(pane, "seed")))
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "pane %zu: seed must be an integer",
                                     index);
        for (size_t i = 0; i < ELEMENTSOF(pane_keys); i++) {
                json_t *s = json_object_get(pane, pane_keys[i]);

                if (s &&
                    (streq(pane_keys[i], "model") || streq(pane_keys[i], "alias") ||
                     streq(pane_keys[i], "backend") || startswith(pane_keys[i], "system_prompt")) &&
                    !json_is_string(s))
                        return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                             "pane %zu: %s must be a string", index, pane_keys[i]);
        }
        return 0;
}

static LabRequest *pane_request(const Job *j, json_t *pane, LabError *error) {
        g_autoptr(LabRequest) req = lab_request_copy(j->request);
        json_t *v;

        g_free(req->model);
        req->model = g_strdup(json_get_string(pane, "model"));
        if ((v = json_object_get(pane, "backend"))) {
                g_free(req->backend);
                req->backend = g_strdup(json_string_value(v));
        }
        if ((v = json_object_get(pane, "temperature"))) {
                req->temperature = json_real_value(v);
                req->has_temperature = true;
        }
        if ((v = json_object_get(pane, "max_tokens"))) {
                req->max_tokens = (uint32_t) CLAMP(json_integer_value(v), 0, (json_int_t) UINT32_MAX);
                req->has_max_tokens = true;
                if (req->max_tokens == 0)
                        return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "max_tokens must not be 0"),
                               NULL;
        }
        if ((v = json_object_get(pane, "seed"))) {
                req->seed = json_integer_value(v);
                req->has_seed = true;
        }
        if (json_object_get(pane, "system_prompt") || json_object_get(pane, "system_prompt_id")) {
                g_clear_pointer(&req->system_prompt, g_free);
                g_clear_pointer(&req->system_prompt_id, g_free);
                req->system_prompt = g_strdup(json_get_string(pane, "system_prompt"));
                req->system_prompt_id = g_strdup(json_get_string(pane, "system_prompt_id"));
        }
        g_free(req->label);
        req->label = g_strdup(json_get_string(pane, "alias") ?: req->model);
        if (lab_request_validate(req, error) < 0)
                return NULL;
        return TAKE_PTR(req);
}

static int comparison_validate(const LabRequest *req, const JobOptions *o, unsigned max_runs,
                               LabError *error) {
        size_t n = json_array_size(o->panes), i;
        json_t *pane;
        int r;

        if (n < 1 || n > COMPARISON_MAX_PANES)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "a comparison needs 1 to %u panes, not %zu", COMPARISON_MAX_PANES, n);
        json_array_foreach (o->panes, i, pane) {
                r = validate_pane(pane, i, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static unsigned comparison_total(const Job *j) {
        return (unsigned) json_array_size(j->options.panes);
}

static void comparison_next(Job *j) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        ComparisonState *st = j->state_data;
        LabRequest *req;

        if (j->state != JOB_RUNNING || st->started >= j->total)
                return;
        req = pane_request(j, json_array_get(j->options.panes, st->started), &err);
        st->started++;
        if (!req)
                return j->ops->run_start_failed(j, &err);
        (void) job_start_run(j, req, /* warmup= */ false);
}

static int next_handler(sd_event_source *s, void *userdata) {
        comparison_next(userdata);
        return 0;
}

static int comparison_start(Job *j) {
        ComparisonState *st = g_new0(ComparisonState, 1);
        int r;

        st->failed = json_array();
        j->state_data = st;
        j->state_free = comparison_state_free;
        r = sd_event_add_defer(j->manager->event, &st->next, next_handler, j);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(st->next, SD_EVENT_OFF);
        comparison_next(j);
        return 0;
}

/* Start the next pane after this one has been started (queued in pane order when measured). */
static void comparison_run_created(Job *j, Run *r) {
        ComparisonState *st = j->state_data;

        if (st->started < j->total)
                (void) sd_event_source_set_enabled(st->next, SD_EVENT_ONESHOT);
}

static void comparison_run_finished(Job *j, Run *r) {
        if (j->done >= j->total)
                job_finish(j, JOB_DONE);
}

/* A pane that cannot start (unknown model, bad options) fails alone; the others go on. */
static void comparison_run_start_failed(Job *j, const LabError *error) {
        ComparisonState *st = j->state_data;
        unsigned pane = st->started - 1;

        json_array_append_new(
                st->failed,
                json_pack("{s:I, s:s, s:s, s:s}", "pane", (json_int_t) pane, "model",
                          strempty(json_get_string(json_array_get(j->options.panes, pane), "model")),
                          "error", strempty(lab_error_code_to_bus_name(error->code)), "message",
                          strempty(error->message)));
        j->done++;
        job_progress(j, NULL);
        if (j->done >= j->total)
                return job_finish(j, job_count_runs(j, RUN_DONE, true) > 0 ? JOB_DONE : JOB_FAILED);
        if (st->started < j->total)
                (void) sd_event_source_set_enabled(st->next, SD_EVENT_ONESHOT);
}

/* Whether pane @pane could not start. */
static bool pane_failed(const ComparisonState *st, unsigned pane) {
        size_t i;
        json_t *f;

        json_array_foreach (st ? st->failed : NULL, i, f)
                if (json_integer_value(json_object_get(f, "pane")) == (json_int_t) pane)
                        return true;
        return false;
}

static json_t *comparison_summary(Job *j) {
        json_t *o = json_pack("{s:s}", "kind", "comparison"), *panes = json_array();
        ComparisonState *st = j->state_data;
        unsigned pane = 0;

        for (guint i = 0; i < j->runs->len; i++, pane++) {
                Run *r = g_ptr_array_index(j->runs, i);
                json_t *p;

                /* Panes start one at a time, in order; one that could not start has no run. */
                while (pane_failed(st, pane))
                        pane++;
                p = json_pack("{s:I, s:I, s:s, s:s, s:s}", "pane", (json_int_t) pane, "run",
                              (json_int_t) r->id, "model", r->request->model, "alias",
                              strempty(r->request->label), "state", run_state_to_string(r->state));

                json_set_count(p, "prompt_tokens",
                               json_get_int(json_object_get(r->result, "tokens"), "input", -1));
                json_set_count(p, "completion_tokens",
                               json_get_int(json_object_get(r->result, "tokens"), "output", -1));
                json_set_real(p, "ttft_ms", run_result_number(r, "timing", "ttft_ms"));
                json_set_real(p, "tokens_per_s", run_result_number(r, "timing", "tokens_per_s"));
                json_set_real(p, "e2e_ms", run_result_number(r, "timing", "e2e_ms"));
                if (r->request->has_temperature)
                        json_set_real(p, "temperature", r->request->temperature);
                if (json_is_true(json_object_get(json_object_get(r->result, "energy"), "measured")))
                        json_set_real(p, "total_wh", run_result_number(r, "energy", "total_wh"));
                if (lab_error_is_set(&r->error) && r->state == RUN_FAILED)
                        json_set_string(p, "error", r->error.message);
                json_array_append_new(panes, p);
        }
        json_object_set_new(o, "panes", panes);
        json_object_set_new(o, "runs", job_run_ids(j));
        if (j->state_data && json_array_size(((ComparisonState *) j->state_data)->failed) > 0)
                json_object_set(o, "failed_panes", ((ComparisonState *) j->state_data)->failed);
        return o;
}

const JobOps job_comparison_ops = {
        .kind = JOB_COMPARISON,
        .validate = comparison_validate,
        .total_runs = comparison_total,
        .start = comparison_start,
        .run_finished = comparison_run_finished,
        .summary = comparison_summary,
        .run_created = comparison_run_created,
        .run_start_failed = comparison_run_start_failed,
};
