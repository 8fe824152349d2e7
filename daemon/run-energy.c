/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "benchmark.h"
#include "energy-components.h"
#include "energy-monitor.h"
#include "json-util.h"
#include "manager.h"
#include "metrics.h"
#include "run-energy.h"

void run_phases_compute(const RunTimes *t, const ChatResult *server, RunPhases *ret) {
        uint64_t end = t->final ?: t->finished, first = 0;

        *ret = (RunPhases){.split_method = "none", .start = t->sent, .end = MAX(end, t->sent)};
        ret->load_end = ret->prefill_end = ret->start;

        if (t->final && server->eval_ns >= 0 && server->prompt_eval_ns >= 0) {
                /* Anchor the server's durations at the arrival of the final object: decode is the last
                 * eval_duration before it, prefill the prompt_eval_duration before that, and load the
                 * rest since the request was sent (model load, queueing, tokenization, network). */
                uint64_t decode = (uint64_t) server->eval_ns, prefill = (uint64_t) server->prompt_eval_ns;

                ret->split_method = "server-timings";
                ret->prefill_end = decode < t->final - ret->start ? t->final - decode : ret->start;
                ret->load_end =
                        prefill < ret->prefill_end - ret->start ? ret->prefill_end - prefill : ret->start;
                ret->has_load = true;
                return;
        }

        if (t->first_thinking && t->first_answer)
                first = MIN(t->first_thinking, t->first_answer);
        else
                first = t->first_thinking ?: t->first_answer;
        if (first && first >= ret->start) {
                /* No server timings: split at the first token, as the original lab did. */
                ret->split_method = "first-token";
                ret->load_end = ret->start;
                ret->prefill_end = MIN(first, ret->end);
        }
}

json_t *run_energy_estimate_json(const Benchmark *b, int64_t in, int64_t out, double *ret_total_wh) {
        double prefill, decode, total;
        json_t *o;

        *ret_total_wh = NAN;
        if (!b || in < 0 || out < 0)
                return json_pack("{s:b, s:s}", "measured", 0, "method", "estimate");

        prefill = estimate_wh(b->wh_per_1000_input_tokens, 0, (uint64_t) in, 0);
        decode = estimate_wh(0, b->wh_per_1000_output_tokens, 0, (uint64_t) out);
        total = benchmark_estimate_wh(b, (uint64_t) in, (uint64_t) out); /* + a calibrated intercept */
        o = json_pack("{s:b, s:s, s:s, s:s, s:[]}", "measured", 0, "method", "estimate", "benchmark", b->id,
                      "split_method", "benchmark", "sources");
        json_set_real(o, "prefill_wh", prefill);
        json_set_real(o, "decode_wh", decode);
        json_set_real(o, "total_wh", total);
        if (b->intercept_wh != 0.0)
                json_set_real(o, "intercept_wh", b->intercept_wh);
        json_set_real(o, "wh_per_1000_etokens", wh_per_1000_tokens(total, (uint64_t) out));
        json_set_real(o, "prefill_wh_per_1000_input_tokens", wh_per_1000_tokens(prefill, (uint64_t) in));
        json_set_real(o, "decode_wh_per_1000_output_tokens", wh_per_1000_tokens(decode, (uint64_t) out));
        json_set_real(o, "j_per_output_token", joules_per_token(total, (uint64_t) out));
        if (out == 0)
                json_object_set_new(o, "no_output_tokens", json_true());
        *ret_total_wh = total;
        return o;
}

static double window_wh(EnergyRecording *rec, uint64_t t0, uint64_t t1) {
        EnergyWindow w = {};
        double wh = NAN;

        if (t1 > t0 && energy_recording_window(rec, t0, t1, &w) >= 0)
                wh = wh_from_uj(w.summed_uj);
        else if (t1 == t0)
                wh = 0.0;
        energy_window_done(&w);
        return wh;
}

static double seconds(uint64_t t0, uint64_t t1) {
        return t1 > t0 ? (double) (t1 - t0) / (double) NSEC_PER_SEC : 0.0;
}

static void set_phase(json_t *o, const char *name, double wh, double idle_w, uint64_t t0, uint64_t t1) {
        g_autofree char *gross = g_strconcat(name, "_wh", NULL),
                        *net = g_strconcat("net_", name, "_wh", NULL);

        json_set_real(o, gross, wh);
        if (isfinite(idle_w))
                json_set_real(o, net, net_wh(wh, idle_w, seconds(t0, t1)));
}

static json_t *zones_json(EnergyMonitor *em, EnergyRecording *rec, const RunPhases *p, json_t *sources,
                          bool *ret_complete) {
        EnergyWindow w = {};
        json_t *zones = json_object();

        *ret_complete = false;
        if (p->end <= p->start || energy_recording_window(rec, p->start, p->end, &w) < 0)
                return zones;
        *ret_complete = w.complete;
        for (size_t i = 0; i < w.n_zones && i < energy_monitor_n_zones(em); i++) {
                const EnergyZone *z = energy_monitor_zone(em, i);

                if (!isfinite(w.zone_uj[i]))
                        continue;
                json_set_real(zones, z->id, wh_from_uj(w.zone_uj[i]));
                if (z->summed) {
                        bool seen = false;
                        size_t j;
                        json_t *v;

                        json_array_foreach (sources, j, v)
                                seen = seen || streq(json_string_value(v), z->source);
                        if (!seen)
                                json_array_append_new(sources, json_string(z->source));
                }
        }
        energy_window_done(&w);
        return zones;
}

json_t *run_energy_live_json(Run *r, const RunPhases *p, double *ret_total_wh) {
        EnergyMonitor *em = r->manager->energy;
        EnergyRecording *rec = r->recording;
        const ChatResult *c = &r->chat_result;
        double total, idle_w = NAN, prefill = NAN, decode = NAN;
        uint64_t in = c->prompt_tokens > 0 ? (uint64_t) c->prompt_tokens : 0;
        uint64_t out = c->completion_tokens > 0 ? (uint64_t) c->completion_tokens : 0;
        bool complete;
        json_t *o, *sources = json_array();

        *ret_total_wh = NAN;
        if (!rec || p->end <= p->start) {
                json_decref(sources);
                return json_pack("{s:b, s:s, s:s}", "measured", 0, "method", "live", "note",
                                 "the run ended before anything could be measured");
        }

        o = json_pack("{s:b, s:s, s:s}", "measured", 1, "method", "live", "split_method", p->split_method);
        json_object_set_new(o, "zones", zones_json(em, rec, p, sources, &complete));
        json_object_set_new(o, "sources", sources);
        if (!complete)
                json_object_set_new(o, "incomplete", json_true());

        if (energy_monitor_idle_power(em, &idle_w, NULL) < 0)
                idle_w = NAN; /* no idle window seen yet: gross only */
        json_set_real(o, "idle_w", idle_w);

        total = window_wh(rec, p->start, p->end);
        if (p->has_load)
                set_phase(o, "load", window_wh(rec, p->start, p->load_end), idle_w, p->start, p->load_end);
        if (!streq(p->split_method, "none")) {
                prefill = window_wh(rec, p->load_end, p->prefill_end);
                decode = window_wh(rec, p->prefill_end, p->end);
                set_phase(o, "prefill", prefill, idle_w, p->load_end, p->prefill_end);
                set_phase(o, "decode", decode, idle_w, p->prefill_end, p->end);
        }
        set_phase(o, "total", total, idle_w, p->start, p->end);

        json_set_real(o, "wh_per_1000_etokens", wh_per_1000_tokens(total, out));
        json_set_real(o, "prefill_wh_per_1000_input_tokens", wh_per_1000_tokens(prefill, in));
        json_set_real(o, "decode_wh_per_1000_output_tokens", wh_per_1000_tokens(decode, out));
        json_set_real(o, "j_per_output_token", joules_per_token(total, out));
        if (c->completion_tokens == 0)
                json_object_set_new(o, "no_output_tokens", json_true());

        json_set_int(o, "wraps", energy_recording_wraps(rec));
        json_set_int(o, "gaps", energy_recording_gaps(rec));
        json_set_int(o, "samples", (int64_t) energy_timeline_n_samples(energy_recording_timeline(rec)));
        json_set_int(o, "sample_interval_ms",
                     (int64_t) (energy_monitor_sample_interval_ns(em) / NSEC_PER_MSEC));
        json_set_real(o, "duration_s", seconds(p->start, p->end));
        (void) energy_components_add_json(o, em, rec, p->start, p->end,
                                          (const EnergyPhase[]){{"load", p->start, p->load_end},
                                                                {"prefill", p->load_end, p->prefill_end},
                                                                {"decode", p->prefill_end, p->end}},
                                          streq(p->split_method, "none") ? 0 : 3);
        *ret_total_wh = total;
        return o;
}
