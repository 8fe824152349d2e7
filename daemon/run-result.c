/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "benchmark.h"
#include "build-config.h"
#include "carbon.h"
#include "json-util.h"
#include "manager.h"
#include "metrics.h"
#include "run-energy.h"
#include "run-result.h"

double run_ms_between(uint64_t from_ns, uint64_t to_ns) {
        if (from_ns == 0 || to_ns == 0 || to_ns < from_ns)
                return NAN;
        return (double) (to_ns - from_ns) / (double) NSEC_PER_MSEC;
}

static uint64_t first_token_ns(const Run *r) {
        if (r->t.first_thinking && r->t.first_answer)
                return MIN(r->t.first_thinking, r->t.first_answer);
        return r->t.first_thinking ?: r->t.first_answer;
}

static uint64_t end_ns(const Run *r) {
        return r->t.final ?: r->t.finished;
}

static json_t *tokens_json(const Run *r) {
        const ChatResult *c = &r->chat_result;
        json_t *o = json_object();

        json_set_count(o, "input", c->prompt_tokens);
        json_set_count(o, "output", c->completion_tokens);
        json_set_count(o, "cached", c->cached_tokens);
        if (c->completion_tokens >= 0) {
                int64_t thinking;
                bool estimated = false;

                if (c->reasoning_tokens >= 0)
                        thinking = MIN(c->reasoning_tokens, c->completion_tokens);
                else if (r->pieces_thinking == 0)
                        thinking = 0;
                else {
                        /* The server does not count reasoning tokens apart: split its exact total by
                         * the share of streamed pieces (one piece is one token on Ollama and llama.cpp). */
                        double share = (double) r->pieces_thinking /
                                       (double) (r->pieces_thinking + r->pieces_answer);

                        thinking = (int64_t) llround(share * (double) c->completion_tokens);
                        estimated = true;
                }
                json_set_int(o, "thinking", thinking);
                json_set_int(o, "answer", c->completion_tokens - thinking);
                json_object_set_new(o, "thinking_estimated", json_boolean(estimated));
        }
        json_set_int(o, "pieces", (int64_t) (r->pieces_answer + r->pieces_thinking));
        return o;
}

static json_t *timing_json(const Run *r, const RunPhases *p) {
        const ChatResult *c = &r->chat_result;
        uint64_t first = first_token_ns(r);
        double decode_ms, ttft_ms = run_ms_between(r->t.sent, first),
                          e2e_ms = run_ms_between(r->t.sent, end_ns(r));
        RunTiming rt;
        json_t *o = json_object();

        json_set_real(o, "first_byte_ms", run_ms_between(r->t.sent, r->t.first_byte));
        json_set_real(o, "first_thinking_ms", run_ms_between(r->t.sent, r->t.first_thinking));
        json_set_real(o, "first_answer_ms", run_ms_between(r->t.sent, r->t.first_answer));

        if (streq(p->split_method, "server-timings")) {
                if (c->load_ns >= 0)
                        json_set_real(o, "load_ms", (double) c->load_ns / NSEC_PER_MSEC);
                else /* the server reports no load time: the rest since the request was sent */
                        json_set_real(o, "load_ms", (double) (p->load_end - p->start) / NSEC_PER_MSEC);
                json_set_real(o, "prefill_ms", (double) c->prompt_eval_ns / NSEC_PER_MSEC);
                decode_ms = (double) c->eval_ns / NSEC_PER_MSEC;
        } else {
                json_set_real(o, "prefill_ms", ttft_ms);
                decode_ms = run_ms_between(first, end_ns(r));
        }
        json_set_real(o, "decode_ms", decode_ms);
        if (c->total_ns >= 0)
                json_set_real(o, "server_total_ms", (double) c->total_ns / NSEC_PER_MSEC);

        run_timing_compute(c->completion_tokens > 0 ? (uint64_t) c->completion_tokens : 0, ttft_ms,
                           decode_ms, e2e_ms, &rt);
        json_set_real(o, "ttft_ms", rt.ttft_ms);
        json_set_real(o, "tpot_ms", rt.tpot_ms);
        json_set_real(o, "e2e_ms", rt.e2e_ms);
        json_set_real(o, "tokens_per_s", rt.tokens_per_s);
        return o;
}

static const Benchmark *run_benchmark(const Run *r) {
        Manager *m = r->manager;

        return benchmark_registry_get(m->benchmarks, r->request->benchmark ?: m->default_benchmark);
}

static json_t *estimate_json(const Run *r, double *ret_wh) {
        const Benchmark *b = run_benchmark(r);
        const ChatResult *c = &r->chat_result;
        json_t *o;
        double wh;

        *ret_wh = NAN;
        if (!b || c->prompt_tokens < 0 || c->completion_tokens < 0)
                return NULL;
        wh = benchmark_estimate_wh(b, (uint64_t) c->prompt_tokens, (uint64_t) c->completion_tokens);
        o = json_pack("{s:s, s:f, s:f}", "benchmark", b->id, "wh_per_1000_input_tokens",
                      b->wh_per_1000_input_tokens, "wh_per_1000_output_tokens",
                      b->wh_per_1000_output_tokens);
        json_set_real(o, "total_wh", wh);
        json_set_real(o, "wh_per_1000_etokens", wh_per_1000_tokens(wh, (uint64_t) c->completion_tokens));
        *ret_wh = wh;
        return o;
}

static json_t *carbon_json(const Run *r, double total_wh) {
        Manager *m = r->manager;
        const char *code = r->request->region ?: m->config->region;
        const GridRegion *g = grid_table_lookup(m->grid, code);
        json_t *o;

        if (!g)
                return NULL;
        o = json_pack("{s:s, s:s, s:f}", "region", g->code, "region_name", g->name, "g_per_kwh",
                      g->g_per_kwh);
        json_set_real(o, "co2_g", co2_grams(total_wh, g->g_per_kwh));
        return o;
}

static json_t *energy_json(Run *r, const RunPhases *p, double estimate_wh, double *ret_total_wh) {
        const ChatResult *c = &r->chat_result;

        *ret_total_wh = NAN;
        switch (r->measure) {
        case MEASURE_LIVE: return run_energy_live_json(r, p, ret_total_wh);
        case MEASURE_ESTIMATE:
                if (isfinite(estimate_wh))
                        return run_energy_estimate_json(run_benchmark(r), c->prompt_tokens,
                                                        c->completion_tokens, ret_total_wh);
                return json_pack("{s:b, s:s, s:s}", "measured", 0, "method", "estimate", "note",
                                 "no token counts from the server, nothing to estimate from");
        default: return json_pack("{s:b, s:s}", "measured", 0, "method", "off");
        }
}

static json_t *provenance_json(const Run *r, json_t *energy) {
        Manager *m = r->manager;
        struct rusage now;
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "llmlab_version", VERSION, "backend_kind",
                              backend_kind_name(r->backend), "backend_url", r->backend->url, "clock",
                              "CLOCK_MONOTONIC", "measure", measure_mode_to_string(r->measure));

        json_set_string(o, "server_version", r->backend->version);
        json_object_set_new(o, "measured", json_boolean(json_is_true(json_object_get(energy, "measured"))));
        json_set_string(o, "split_method", json_get_string(energy, "split_method"));
        if (json_object_get(energy, "sources"))
                json_object_set(o, "sources", json_object_get(energy, "sources"));
        if (json_object_get(energy, "zones"))
                json_object_set_new(o, "zones", json_array());
        {
                const char *key;
                json_t *v;

                json_object_foreach (json_object_get(energy, "zones"), key, v)
                        json_array_append_new(json_object_get(o, "zones"), json_string(key));
        }
        if (json_object_get(energy, "sample_interval_ms"))
                json_object_set(o, "sample_interval_ms", json_object_get(energy, "sample_interval_ms"));
        if (json_object_get(energy, "samples"))
                json_object_set(o, "samples", json_object_get(energy, "samples"));
        if (json_object_get(energy, "wraps"))
                json_object_set(o, "wraps", json_object_get(energy, "wraps"));
        if (json_object_get(energy, "benchmark"))
                json_object_set(o, "benchmark", json_object_get(energy, "benchmark"));
        json_set_int(o, "concurrent_runs", r->concurrent_max);
        if (getrusage(RUSAGE_SELF, &now) >= 0) {
                double us = (double) (now.ru_utime.tv_sec - r->rusage_start.ru_utime.tv_sec) * 1e6 +
                            (double) (now.ru_utime.tv_usec - r->rusage_start.ru_utime.tv_usec) +
                            (double) (now.ru_stime.tv_sec - r->rusage_start.ru_stime.tv_sec) * 1e6 +
                            (double) (now.ru_stime.tv_usec - r->rusage_start.ru_stime.tv_usec);

                if (r->t.sent)
                        json_set_real(o, "daemon_cpu_ms", us / 1000.0);
        }
        if (m->config->path)
                json_set_string(o, "config", m->config->path);
        return o;
}

json_t *run_result_build(Run *r) {
        const ChatResult *c = &r->chat_result;
        double estimate_wh, total_wh;
        RunPhases phases;
        json_t *o, *energy, *estimate;

        run_phases_compute(&r->t, c, &phases);

        o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:b, s:I}", "run", (json_int_t) r->id, "model",
                      r->request->model, "backend", r->backend->id, "state", run_state_to_string(r->state),
                      "measure", measure_mode_to_string(r->measure), "job", (json_int_t) r->job_id, "warmup",
                      r->warmup, "created", (json_int_t) r->created_usec);
        json_set_string(o, "label", r->request->label);
        json_set_string(o, "done_reason", c->done_reason);
        json_object_set_new(o, "include_thinking", json_boolean(r->request->include_thinking));
        json_object_set_new(o, "thinking_requested",
                            json_boolean(model_info_has_capability(r->model_info, "thinking") &&
                                         r->request->include_thinking));
        json_object_set_new(o, "tokens", tokens_json(r));
        json_object_set_new(o, "timing", timing_json(r, &phases));

        estimate = estimate_json(r, &estimate_wh);
        energy = energy_json(r, &phases, estimate_wh, &total_wh);
        if (!isfinite(total_wh) && json_object_get(energy, "total_wh"))
                total_wh = json_get_number(energy, "total_wh");
        json_object_set_new(o, "carbon", carbon_json(r, total_wh));
        json_object_set_new(o, "provenance", provenance_json(r, energy));
        json_object_set_new(o, "energy", energy);
        if (estimate)
                json_object_set_new(o, "estimate", estimate);

        if (lab_error_is_set(&r->error))
                json_object_set_new(o, "error",
                                    json_pack("{s:s, s:s}", "name",
                                              lab_error_code_to_bus_name(r->error.code), "message",
                                              strempty(r->error.message)));
        return o;
}
