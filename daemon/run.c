/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <time.h>

#include "breakdown.h"
#include "energy-monitor.h"
#include "log.h"
#include "manager.h"
#include "run-result.h"
#include "run.h"

static const char *const run_state_table[_RUN_STATE_MAX] = {
        [RUN_QUEUED] = "queued",     [RUN_LOADING] = "loading", [RUN_PREFILL] = "prefill",
        [RUN_DECODING] = "decoding", [RUN_DONE] = "done",       [RUN_CANCELLED] = "cancelled",
        [RUN_FAILED] = "failed",
};

const char *run_state_to_string(RunState s) {
        return s >= 0 && s < _RUN_STATE_MAX ? run_state_table[s] : NULL;
}

RunState run_state_from_string(const char *s) {
        for (int i = 0; s && i < _RUN_STATE_MAX; i++)
                if (streq(run_state_table[i], s))
                        return (RunState) i;
        return _RUN_STATE_INVALID;
}

Run *run_new(Manager *m, uint64_t id, uint32_t uid, const char *owner, LabRequest *request, Backend *backend,
             json_t *model_info, MeasureMode measure) {
        Run *r = g_new0(Run, 1);

        r->n_ref = 1;
        r->manager = m;
        r->id = id;
        r->path = g_strdup_printf("/org/llmlab/Lab1/run/%" PRIu64, id);
        r->uid = uid;
        r->owner = g_strdup(owner);
        r->request = request;
        r->backend = backend;
        r->model_info = json_incref(model_info);
        r->measure = measure;
        r->state = RUN_LOADING;
        r->answer = g_string_new(NULL);
        r->thinking = g_string_new(NULL);
        r->pending = g_string_new(NULL);
        r->t.created = now_ns(CLOCK_MONOTONIC);
        r->created_usec = now_usec(CLOCK_REALTIME);
        r->error = LAB_ERROR_INIT;
        chat_result_init(&r->chat_result);
        return r;
}

Run *run_ref(Run *r) {
        if (r)
                r->n_ref++;
        return r;
}

static void run_free(Run *r) {
        if (r->chat)
                r->backend->ops->chat_cancel(r->chat);
        energy_recording_free(r->recording);
        sd_event_source_disable_unref(r->flush_timer);
        sd_event_source_disable_unref(r->overflow_event);
        sd_event_source_disable_unref(r->linger_timer);
        lab_request_free(r->request);
        json_decref(r->model_info);
        json_decref(r->result);
        chat_result_clear(&r->chat_result);
        lab_error_clear(&r->error);
        g_string_free(r->answer, TRUE);
        g_string_free(r->thinking, TRUE);
        g_string_free(r->pending, TRUE);
        g_free(r->system_base);
        g_free(r->system_message);
        g_free(r->owner);
        g_free(r->path);
        g_free(r);
}

Run *run_unref(Run *r) {
        if (!r)
                return NULL;
        if (--r->n_ref == 0)
                run_free(r);
        return NULL;
}

static void run_set_state(Run *r, RunState state) {
        if (r->state == state)
                return;
        log_debug("Run %" PRIu64 ": %s → %s", r->id, run_state_to_string(r->state),
                  run_state_to_string(state));
        r->state = state;
        manager_run_changed(r->manager, r, (const char *const[]){"State", NULL});
}

void run_set_queue_position(Run *r, unsigned pos) {
        if (r->queue_position == pos)
                return;
        r->queue_position = pos;
        manager_run_changed(r->manager, r, (const char *const[]){"QueuePosition", NULL});
}

char *run_user_message(const Run *r) {
        return g_strdup(r->request->user_prompt);
}

/* --- chunks ---------------------------------------------------------------------------------- */

static void run_flush(Run *r) {
        if (r->pending->len == 0)
                return;
        r->chunk_seq++;
        if (r->manager->hooks && r->manager->hooks->run_chunk)
                r->manager->hooks->run_chunk(r->manager, r, r->chunk_seq, r->pending->str, r->pending->len,
                                             r->pending_thinking, r->manager->hooks_userdata);
        g_string_truncate(r->pending, 0);
        r->pending_pieces = 0;
        r->last_flush_usec = now_usec(CLOCK_MONOTONIC);
        (void) sd_event_source_set_enabled(r->flush_timer, SD_EVENT_OFF);
}

static int flush_timer_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        run_flush(userdata);
        return 0;
}

/* Rate limit rather than delay: text after a quiet period goes out at once (first-token latency
 * stays low); text within CHUNK_FLUSH_MS of the previous signal waits for that window to end. */
static void run_queue_text(Run *r, const char *text, size_t size, bool thinking, uint64_t t) {
        uint64_t now = t / NSEC_PER_USEC, next;
        int k;

        if (r->pending->len > 0 && r->pending_thinking != thinking)
                run_flush(r);
        g_string_append_len(r->pending, text, (gssize) size);
        r->pending_thinking = thinking;
        r->pending_pieces++;

        next = r->last_flush_usec + CHUNK_FLUSH_MS * USEC_PER_MSEC;
        if (r->pending_pieces >= CHUNK_MAX_PIECES || now >= next)
                return run_flush(r);
        if (r->flush_timer && sd_event_source_get_enabled(r->flush_timer, NULL) > 0)
                return; /* already scheduled */

        if (!r->flush_timer) {
                /* Accuracy 0 would be sd-event's default of 250 ms: pending text would wait up to
                 * a quarter second past its window. */
                k = sd_event_add_time(r->manager->event, &r->flush_timer, CLOCK_MONOTONIC, next,
                                      CHUNK_FLUSH_ACCURACY_USEC, flush_timer_handler, r);
                if (k < 0) {
                        log_warning_errno(k, "Failed to add the chunk timer, flushing at once: %m");
                        return run_flush(r);
                }
                (void) sd_event_source_set_description(r->flush_timer, "run-chunk-flush");
        } else
                (void) sd_event_source_set_time(r->flush_timer, next);
        (void) sd_event_source_set_enabled(r->flush_timer, SD_EVENT_ONESHOT);
}

/* --- backend callbacks ----------------------------------------------------------------------- */

static void run_mark_energy(Run *r) {
        if (r->recording)
                (void) energy_monitor_sample_now(r->manager->energy);
}

static void on_progress(BackendChat *c, ChatProgress p, uint64_t t, void *userdata) {
        Run *r = userdata;

        switch (p) {
        case CHAT_PROGRESS_HEADERS:
                r->t.headers = t;
                if (r->state == RUN_LOADING)
                        run_set_state(r, RUN_PREFILL);
                break;
        case CHAT_PROGRESS_FIRST_BYTE:
                r->t.first_byte = t;
                run_mark_energy(r);
                if (r->state == RUN_LOADING)
                        run_set_state(r, RUN_PREFILL);
                break;
        }
}

static void run_finalize(Run *r, RunState state);

static int overflow_handler(sd_event_source *s, void *userdata) {
        run_finalize(userdata, RUN_FAILED);
        return 0;
}

/* More streamed text than MaxTranscriptBytes: the run fails. Not from inside the backend's
 * callback, which must not free its own chat: from the next loop iteration, ignoring any text
 * that arrives meanwhile. */
static bool run_check_transcript_size(Run *r, size_t size) {
        unsigned max = r->manager->config->max_transcript_bytes;
        int k;

        if (lab_error_is_set(&r->error))
                return false; /* already over */
        if (r->answer->len + r->thinking->len + size <= max)
                return true;
        (void) lab_error_set(&r->error, LAB_ERROR_BACKEND_ERROR,
                             "The answer is longer than %u bytes (MaxTranscriptBytes=), the run was stopped",
                             max);
        k = sd_event_add_defer(r->manager->event, &r->overflow_event, overflow_handler, r);
        if (k < 0)
                log_error_errno(k, "Failed to schedule the end of run %" PRIu64 ": %m", r->id);
        return false;
}

static void on_text(BackendChat *c, const char *text, size_t size, bool thinking, uint64_t t,
                    void *userdata) {
        Run *r = userdata;

        if (!run_check_transcript_size(r, size))
                return;
        if (thinking) {
                if (!r->t.first_thinking) {
                        r->t.first_thinking = t;
                        run_mark_energy(r);
                }
                g_string_append_len(r->thinking, text, (gssize) size);
                r->pieces_thinking++;
        } else {
                if (!r->t.first_answer) {
                        r->t.first_answer = t;
                        run_mark_energy(r);
                }
                g_string_append_len(r->answer, text, (gssize) size);
                r->pieces_answer++;
        }
        if (r->state != RUN_DECODING)
                run_set_state(r, RUN_DECODING);
        run_queue_text(r, text, size, thinking, t);
}

static void on_done(BackendChat *c, ChatResult *result, void *userdata) {
        Run *r = userdata;

        r->chat = NULL; /* freed by the backend after this returns */
        chat_result_clear(&r->chat_result);
        r->chat_result = *result;
        chat_result_init(result); /* ownership moved */
        if (r->chat_result.t_final_ns > 0) {
                r->t.final = r->chat_result.t_final_ns;
                run_mark_energy(r);
        }

        if (lab_error_is_set(&r->error)) /* over MaxTranscriptBytes */
                return run_finalize(r, RUN_FAILED);
        if (lab_error_is_set(&r->chat_result.error)) {
                (void) lab_error_copy(&r->error, &r->chat_result.error);
                return run_finalize(r, RUN_FAILED);
        }
        run_finalize(r, r->chat_result.complete ? RUN_DONE : RUN_FAILED);
}

/* --- lifecycle ------------------------------------------------------------------------------- */

int run_start(Run *r) {
        if (r->measure == MEASURE_LIVE) {
                manager_enqueue_measured(r->manager, r);
                return 0;
        }
        return run_begin(r);
}

static ChatRequest chat_request_for(const Run *r, const char *user) {
        const LabRequest *q = r->request;
        int think = -1;

        /* Ollama refuses "think" for models without the capability. OpenAI-compatible servers do not
         * report it, and ignore chat_template_kwargs a template does not use: always say it. */
        if (model_info_has_capability(r->model_info, "thinking") ||
            r->backend->ops->kind == BACKEND_KIND_OPENAI)
                think = q->include_thinking;
        return (ChatRequest){
                .model = q->model,
                .system = r->system_message,
                .user = user,
                .has_temperature = q->has_temperature,
                .temperature = q->temperature,
                .max_tokens = q->max_tokens,
                .has_seed = q->has_seed,
                .seed = q->seed,
                .num_ctx = q->num_ctx,
                .think = think,
                .cache_prompt_off = q->cache_prompt_off,
        };
}

static bool run_in_flight(const Run *r) {
        return r->state == RUN_LOADING || r->state == RUN_PREFILL || r->state == RUN_DECODING;
}

/* Provenance: the most other runs in flight at the same time. That number only grows when a run
 * begins, so it is updated then, for the new run and for every run it joins. */
static void run_note_concurrency(Run *r) {
        GHashTableIter it;
        unsigned n = 0;
        gpointer v;

        g_hash_table_iter_init(&it, r->manager->runs);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (v != r && run_in_flight(v))
                        n++;
        r->concurrent_max = MAX(r->concurrent_max, n);
        g_hash_table_iter_init(&it, r->manager->runs);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (v != r && run_in_flight(v))
                        ((Run *) v)->concurrent_max = MAX(((Run *) v)->concurrent_max, n);
}

int run_begin(Run *r) {
        static const ChatCallbacks callbacks = {
                .on_progress = on_progress,
                .on_text = on_text,
                .on_done = on_done,
        };
        g_autofree char *user = run_user_message(r);
        ChatRequest req = chat_request_for(r, user);
        int k;

        run_set_queue_position(r, 0);
        run_set_state(r, RUN_LOADING);
        run_note_concurrency(r);
        (void) getrusage(RUSAGE_SELF, &r->rusage_start);

        if (r->measure == MEASURE_LIVE) {
                k = energy_monitor_start_recording(r->manager->energy, &r->recording);
                if (k < 0) {
                        (void) lab_error_set(&r->error, LAB_ERROR_ENERGY_UNAVAILABLE,
                                             "Failed to start the energy recording: %s", strerror(-k));
                        run_finalize(r, RUN_FAILED);
                        return k;
                }
        }

        r->t.sent = now_ns(CLOCK_MONOTONIC);
        run_mark_energy(r);
        k = r->backend->ops->chat(r->backend, &req, &callbacks, r, &r->chat);
        if (k < 0) {
                (void) lab_error_set(&r->error, LAB_ERROR_FAILED, "Failed to start the request: %s",
                                     strerror(-k));
                run_finalize(r, RUN_FAILED);
                return k;
        }
        log_info("Run %" PRIu64 " started: model %s on backend %s, measure=%s.", r->id, r->request->model,
                 r->backend->id, measure_mode_to_string(r->measure));
        return 0;
}

static void run_publish(Run *r) {
        /* Stored and announced (State, Finished) before the next measured run may begin: no client
         * ever sees two measured runs active at once. */
        manager_run_finished(r->manager, r);
        manager_release_measurement(r->manager, r);
}

static void breakdown_done(Run *r, json_t *breakdown, void *userdata) {
        _cleanup_(run_unrefp) Run *ref = r; /* taken in run_finalize() */
        json_t *tokens = json_object_get(r->result, "tokens");

        json_object_set(r->result, "breakdown", breakdown);
        if (json_object_get(breakdown, "injected"))
                json_object_set(tokens, "injected", json_object_get(breakdown, "injected"));
        run_publish(r);
}

static void run_finalize(Run *r, RunState state) {
        _cleanup_(run_unrefp) Run *ref = run_ref(r); /* hooks may drop the last other reference */

        if (run_state_is_final(r->state))
                return;
        if (r->chat) {
                r->backend->ops->chat_cancel(r->chat);
                r->chat = NULL;
        }
        run_flush(r);
        r->t.finished = now_ns(CLOCK_MONOTONIC);
        r->finished_usec = now_usec(CLOCK_REALTIME);
        if (r->recording)
                (void) energy_monitor_stop_recording(r->manager->energy, r->recording);

        if (state == RUN_QUEUED || state == RUN_LOADING)
                state = RUN_FAILED;
        if (r->state == RUN_QUEUED)
                manager_unqueue(r->manager, r);
        r->state = state;
        r->result = run_result_build(r);

        if (state == RUN_FAILED)
                log_info("Run %" PRIu64 " failed: %s", r->id, strna(r->error.message));
        else
                log_info("Run %" PRIu64 " %s.", r->id, run_state_to_string(state));

        /* The breakdown asks the server for counts: still inside the measurement slot, after the
         * recording stopped, so it never overlaps another measured run. */
        if (state == RUN_DONE && run_breakdown_start(run_ref(r), breakdown_done, NULL) >= 0)
                return;
        run_publish(r);
}

void run_cancel(Run *r) {
        if (run_state_is_final(r->state))
                return;
        (void) lab_error_set(&r->error, LAB_ERROR_CANCELLED, "The run was cancelled");
        run_finalize(r, RUN_CANCELLED);
}
