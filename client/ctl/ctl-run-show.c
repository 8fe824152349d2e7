/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <math.h>

#include "ctl-output.h"
#include "ctl-run-show.h"
#include "json-util.h"

static int64_t get_count(json_t *o, const char *key) {
        return json_get_int(o, key, -1);
}

int run_show_summary(FILE *f, json_t *result, size_t width, bool legend) {
        json_t *tokens = json_object_get(result, "tokens"), *timing = json_object_get(result, "timing");
        _cleanup_table_ Table *t = NULL;
        char in[FORMAT_MAX], out[FORMAT_MAX], think[FORMAT_MAX], ttft[FORMAT_MAX], e2e[FORMAT_MAX],
                rate[FORMAT_MAX];
        int r;

        t = table_new("INPUT", "OUTPUT", "THINKING", "TTFT", "E2E", "SPEED", NULL);
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < 6; i++)
                table_set_align_right(t, i, true);
        r = table_add_row(t, format_count(in, get_count(tokens, "input")),
                          format_count(out, get_count(tokens, "output")),
                          format_count(think, get_count(tokens, "thinking")),
                          format_duration_ms(ttft, json_get_number(timing, "ttft_ms")),
                          format_duration_ms(e2e, json_get_number(timing, "e2e_ms")),
                          format_rate(rate, json_get_number(timing, "tokens_per_s")));
        if (r < 0)
                return r;
        return table_print(t, f, width, legend);
}

static const char *benchmark_of(json_t *result) {
        return json_get_string(json_object_get(result, "energy"), "benchmark")
                       ?: json_get_string(json_object_get(result, "estimate"), "benchmark");
}

static char *join_strings(json_t *array) {
        _cleanup_free_ char *s = NULL;
        size_t i;
        json_t *v;

        json_array_foreach (array, i, v)
                if (json_is_string(v) && string_append(&s, ", ", "%s", json_string_value(v)) < 0)
                        return NULL;
        return s ? TAKE_PTR(s) : strdup("-");
}

char *run_energy_origin(json_t *result, const char *measure) {
        json_t *energy = json_object_get(result, "energy"), *measured = json_object_get(energy, "measured");
        _cleanup_free_ char *sources = NULL;
        char *s = NULL;
        int r;

        if (!json_is_object(energy) || json_object_size(energy) == 0)
                return strdup("not measured");

        if (json_is_true(measured)) {
                int64_t interval = json_get_int(energy, "sample_interval_ms", -1),
                        samples = json_get_int(energy, "samples", -1);

                sources = join_strings(json_object_get(energy, "sources"));
                if (!sources)
                        return NULL;
                if (interval > 0 && samples >= 0)
                        r = asprintf(&s, "measured live (%s; %" PRIi64 " samples, every %" PRIi64 " ms)",
                                     sources, samples, interval);
                else
                        r = asprintf(&s, "measured live (%s)", sources);
                return r < 0 ? NULL : s;
        }

        r = asprintf(&s, "estimated from benchmark %s (%s)", benchmark_of(result) ?: "(unknown)",
                     streq_ptr(measure, "estimate") ? "as requested"
                                                    : "no readable energy counters on this machine");
        return r < 0 ? NULL : s;
}

static int add_phase(Table *t, const char *name, json_t *energy, json_t *timing, const char *time_key) {
        _cleanup_free_ char *gross_key = NULL, *net_key = NULL;
        char gross[FORMAT_MAX], net[FORMAT_MAX], time[FORMAT_MAX];

        if (asprintf(&gross_key, "%s_wh", name) < 0 || asprintf(&net_key, "net_%s_wh", name) < 0)
                return -ENOMEM;
        return table_add_row(t, name, format_energy_wh(gross, json_get_number(energy, gross_key)),
                             format_energy_wh(net, json_get_number(energy, net_key)),
                             format_duration_ms(time, json_get_number(timing, time_key)));
}

static int show_phases(FILE *f, json_t *energy, json_t *timing, size_t width, bool legend) {
        _cleanup_table_ Table *t = NULL;
        int r;

        t = table_new("PHASE", "ENERGY", "NET", "TIME", NULL);
        if (!t)
                return -ENOMEM;
        for (size_t i = 1; i < 4; i++)
                table_set_align_right(t, i, true);
        r = add_phase(t, "load", energy, timing, "load_ms");
        if (r >= 0)
                r = add_phase(t, "prefill", energy, timing, "prefill_ms");
        if (r >= 0)
                r = add_phase(t, "decode", energy, timing, "decode_ms");
        if (r >= 0)
                r = add_phase(t, "total", energy, timing, "e2e_ms");
        if (r < 0)
                return r;
        return table_print(t, f, width, legend);
}

static int add_tokens(KvBlock *b, json_t *tokens) {
        char in[FORMAT_MAX], out[FORMAT_MAX], think[FORMAT_MAX], inj[FORMAT_MAX];

        return kv_addf(b, "Tokens", "%s input, %s output, %s thinking%s, %s injected",
                       format_count(in, get_count(tokens, "input")),
                       format_count(out, get_count(tokens, "output")),
                       format_count(think, get_count(tokens, "thinking")),
                       json_is_true(json_object_get(tokens, "thinking_estimated")) ? " (estimated)" : "",
                       format_count(inj, get_count(tokens, "injected")));
}

static int add_timing(KvBlock *b, json_t *timing) {
        char buf[FORMAT_MAX];
        int r;

        r = kv_add(b, "TTFT", format_duration_ms(buf, json_get_number(timing, "ttft_ms")));
        if (r >= 0)
                r = kv_add(b, "TPOT", format_duration_ms(buf, json_get_number(timing, "tpot_ms")));
        if (r >= 0)
                r = kv_add(b, "End to end", format_duration_ms(buf, json_get_number(timing, "e2e_ms")));
        if (r >= 0)
                r = kv_add(b, "Speed", format_rate(buf, json_get_number(timing, "tokens_per_s")));
        return r;
}

static int add_carbon(KvBlock *b, json_t *carbon) {
        char co2[FORMAT_MAX], factor[FORMAT_MAX];

        if (!json_is_object(carbon))
                return kv_add(b, "CO2", NULL);
        return kv_addf(b, "CO2", "%s (%s, %s g/kWh)", format_co2_g(co2, json_get_number(carbon, "co2_g")),
                       json_get_string(carbon, "region") ?: "-",
                       format_real(factor, json_get_number(carbon, "g_per_kwh")));
}

static int add_zones(KvBlock *b, json_t *zones) {
        _cleanup_free_ char *s = NULL;
        const char *zone;
        json_t *v;

        json_object_foreach (zones, zone, v) {
                char e[FORMAT_MAX];

                if (string_append(&s, "\n", "%s %s", zone,
                                  format_energy_wh(e, json_is_number(v) ? json_number_value(v) : NAN)) < 0)
                        return -ENOMEM;
        }
        return s ? kv_add(b, "Zones", s) : 0;
}

static int add_energy_figures(KvBlock *b, json_t *energy) {
        char buf[FORMAT_MAX];
        int r;

        r = kv_add(b, "Wh/1000 e-tokens",
                   format_energy_wh(buf, json_get_number(energy, "wh_per_1000_etokens")));
        if (r >= 0)
                r = kv_add(
                        b, "Prefill per 1K in",
                        format_energy_wh(buf, json_get_number(energy, "prefill_wh_per_1000_input_tokens")));
        if (r >= 0)
                r = kv_add(
                        b, "Decode per 1K out",
                        format_energy_wh(buf, json_get_number(energy, "decode_wh_per_1000_output_tokens")));
        if (r >= 0)
                r = kv_add(b, "Per output token",
                           format_energy_j(buf, json_get_number(energy, "j_per_output_token")));
        if (r >= 0 && json_object_get(energy, "idle_w"))
                r = kv_add(b, "Idle power", format_power_w(buf, json_get_number(energy, "idle_w")));
        return r;
}

/* The whole-system cross-check and the phases too short for a coarse counter (energy-components.h). */
static int add_system(KvBlock *b, json_t *energy) {
        _cleanup_free_ char *bounded = NULL;
        char buf[FORMAT_MAX], d[FORMAT_MAX], rf[FORMAT_MAX];
        json_t *e;
        size_t i;
        int r = 0;

        if (json_object_get(energy, "components_wh"))
                r = kv_add(b, "Components", format_energy_wh(buf, json_get_number(energy, "components_wh")));
        if (r >= 0 && json_object_get(energy, "system_wh"))
                r = kv_addf(b, "Whole system", "%s (%s, sees %s)",
                            format_energy_wh(buf, json_get_number(energy, "system_wh")),
                            json_get_string(energy, "system_zone") ?: "-",
                            streq_ptr(json_get_string(energy, "system_covers"), "all")
                                    ? "every component"
                                    : "the CPU and memory");
        if (r >= 0 && json_object_get(energy, "unexplained_wh"))
                r = kv_add(b, "Unexplained",
                           format_energy_wh(buf, json_get_number(energy, "unexplained_wh")));
        /* One line per zone: its short phases and its refresh period. */
        json_array_foreach (json_object_get(energy, "bounded_estimates"), i, e) {
                const char *zone = json_get_string(e, "zone") ?: "-";
                json_t *prev =
                        i > 0 ? json_array_get(json_object_get(energy, "bounded_estimates"), i - 1) : NULL;
                json_t *next = json_array_get(json_object_get(energy, "bounded_estimates"), i + 1);
                bool first = !prev || !streq_ptr(json_get_string(prev, "zone"), zone);
                bool last = !next || !streq_ptr(json_get_string(next, "zone"), zone);

                if ((first ? string_append(&bounded, "\n", "%s: %s", zone,
                                           json_get_string(e, "phase") ?: "-")
                           : string_append(&bounded, ", ", "%s", json_get_string(e, "phase") ?: "-")) < 0 ||
                    string_append(&bounded, NULL, " %s",
                                  format_duration_ms(d, json_get_number(e, "duration_ms"))) < 0 ||
                    (last && string_append(&bounded, NULL, " (refreshed every %s)",
                                           format_duration_ms(rf, json_get_number(e, "refresh_ms"))) < 0))
                        return -ENOMEM;
        }
        if (r >= 0 && bounded)
                r = kv_add(b, "Bounded estimates", bounded);
        return r;
}

static int add_provenance(KvBlock *b, json_t *energy) {
        _cleanup_free_ char *sources = NULL;
        int r = 0;

        if (json_get_string(energy, "split_method"))
                r = kv_add(b, "Phase split", json_get_string(energy, "split_method"));
        if (r >= 0 && json_array_size(json_object_get(energy, "sources")) > 0) {
                sources = join_strings(json_object_get(energy, "sources"));
                r = sources ? kv_add(b, "Sources", sources) : -ENOMEM;
        }
        /* The components table supersedes the zones. */
        if (r >= 0 && !json_is_array(json_object_get(energy, "components")))
                r = add_zones(b, json_object_get(energy, "zones"));
        if (r >= 0)
                r = add_system(b, energy);
        if (r >= 0 && json_is_integer(json_object_get(energy, "wraps")))
                r = kv_addf(b, "Counter wraps", "%" PRIi64, json_get_int(energy, "wraps", 0));
        return r;
}

static char *component_note(json_t *c) {
        _cleanup_free_ char *s = NULL;
        char buf[FORMAT_MAX];

        if (!json_is_true(json_object_get(c, "available")) &&
            string_append(&s, "; ", "%s", json_get_string(c, "reason") ?: "not measured") < 0)
                return NULL;
        if (!json_is_true(json_object_get(c, "summed")) && string_append(&s, "; ", "nested, not summed") < 0)
                return NULL;
        if (json_get_string(c, "fallback") &&
            string_append(&s, "; ", "%s", json_get_string(c, "fallback")) < 0)
                return NULL;
        if (json_is_true(json_object_get(c, "bounded")) &&
            string_append(&s, "; ", "refreshed every %s%s: short phases are bounded estimates",
                          format_duration_ms(buf, json_get_number(c, "refresh_ms")),
                          json_is_true(json_object_get(c, "refresh_at_least")) ? " or less often" : "") < 0)
                return NULL;
        if (json_is_true(json_object_get(c, "shared")) &&
            string_append(&s, "; ", "shared with other processes") < 0)
                return NULL;
        return s ? TAKE_PTR(s) : strdup("");
}

/* Every component (zone) of the energy sources, measured or not, and why not. */
static int show_components(FILE *f, json_t *components, size_t width, bool legend) {
        _cleanup_table_ Table *t = NULL;
        json_t *c;
        size_t i;

        if (json_array_size(components) == 0)
                return 0;
        t = table_new("COMPONENT", "DOMAIN", "KIND", "ENERGY", "NOTE", NULL);
        if (!t)
                return -ENOMEM;
        table_set_ellipsize(t, 0, false);
        table_set_align_right(t, 3, true);
        json_array_foreach (components, i, c) {
                _cleanup_free_ char *note = component_note(c);
                char wh[FORMAT_MAX];

                if (!note || table_add_row(t, json_get_string(c, "id"), json_get_string(c, "domain"),
                                           json_get_string(c, "kind"),
                                           format_energy_wh(wh, json_get_number(c, "wh")), note) < 0)
                        return -ENOMEM;
        }
        fputc('\n', f);
        return table_print(t, f, width, legend);
}

int run_show_energy(FILE *f, json_t *result, const char *measure, size_t width, bool legend) {
        json_t *energy = json_object_get(result, "energy"), *timing = json_object_get(result, "timing");
        _cleanup_free_ char *origin = NULL;
        _cleanup_kv_ KvBlock *b = NULL;
        int r;

        origin = run_energy_origin(result, measure);
        if (!origin)
                return -ENOMEM;
        fprintf(f, "Energy: %s\n\n", origin);

        r = show_phases(f, energy, timing, width, legend);
        if (r < 0)
                return r;
        fputc('\n', f);

        b = kv_new();
        if (!b)
                return -ENOMEM;
        r = add_energy_figures(b, energy);
        if (r >= 0)
                r = add_carbon(b, json_object_get(result, "carbon"));
        if (r >= 0)
                r = add_tokens(b, json_object_get(result, "tokens"));
        if (r >= 0)
                r = add_timing(b, timing);
        if (r >= 0)
                r = add_provenance(b, energy);
        if (r < 0)
                return r;
        r = kv_print(b, f);
        if (r < 0)
                return r;
        return show_components(f, json_object_get(energy, "components"), width, legend);
}
