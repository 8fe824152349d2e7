/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <math.h>

#include "energy-components.h"
#include "json-util.h"

#define UJ_PER_WH 3.6e9
/* A counter is coarse when it changes less often than every 1.5 sample intervals on average. */
#define COARSE_NUM 3
#define COARSE_DEN 2

typedef struct ComponentsCtx {
        EnergyMonitor *m;
        EnergyRecording *rec;
        const EnergyWindow *w;
        const EnergyPhase *phases;
        size_t n_phases;
        EnergyPhase total;
        json_t *bounded; /* the bounded_estimates array */
        bool gpu_processes_known;
        bool gpu_shared;
} ComponentsCtx;

static int json_set(json_t *o, const char *key, json_t *v) {
        /* json_object_set_new() steals v, also on failure. */
        return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

static double ms(uint64_t ns) {
        return (double) ns / (double) NSEC_PER_MSEC;
}

static bool coarser_than_sampling(EnergyMonitor *m, uint64_t refresh_ns) {
        return refresh_ns * COARSE_DEN > energy_monitor_sample_interval_ns(m) * COARSE_NUM;
}

uint64_t energy_components_refresh_ns(EnergyMonitor *m, EnergyRecording *rec, size_t zone, bool *ret_coarse,
                                      bool *ret_at_least) {
        const EnergyTimeline *tl = energy_recording_timeline(rec);
        const EnergyZone *z = energy_monitor_zone(m, zone);
        uint64_t first, last, t_first, t_last, measured;
        size_t n = 0;

        *ret_coarse = *ret_at_least = false;
        if (!z)
                return 0;

        if (z->kind == ENERGY_ZONE_COUNTER && energy_timeline_range(tl, &first, &last) >= 0 &&
            energy_timeline_zone_changes(tl, zone, first, last, &n, &t_first, &t_last) >= 0) {
                if (n < 2) {
                        /* Changed less than twice while recording: refreshed at most that often. */
                        *ret_coarse = *ret_at_least = true;
                        return MAX(last - first, z->refresh_ns);
                }
                measured = (t_last - t_first) / (n - 1);
                if (coarser_than_sampling(m, measured)) {
                        *ret_coarse = true;
                        return measured;
                }
                /* It changed at about every sample: nothing finer than the sampling can be seen. */
                return z->refresh_ns;
        }

        *ret_coarse = z->refresh_ns > 0 && coarser_than_sampling(m, z->refresh_ns);
        return z->refresh_ns;
}

static int add_bounded(ComponentsCtx *c, const EnergyZone *z, const EnergyPhase *p, uint64_t refresh) {
        json_t *o;

        o = json_pack("{s:s, s:s, s:f, s:f}", "zone", z->id, "phase", p->name, "duration_ms",
                      ms(p->t1_ns - p->t0_ns), "refresh_ms", ms(refresh));
        if (!o || json_array_append_new(c->bounded, o) < 0)
                return -ENOMEM;
        return 0;
}

/* Flags the phases of zone @i that are shorter than its refresh period, when it is coarser than the
 * sampling; sets "bounded" on its component. */
static int component_bounded(ComponentsCtx *c, size_t i, json_t *o) {
        const EnergyZone *z = energy_monitor_zone(c->m, i);
        bool coarse, at_least, any = false;
        uint64_t refresh;
        int r;

        refresh = energy_components_refresh_ns(c->m, c->rec, i, &coarse, &at_least);
        if (!coarse || refresh == 0)
                return json_set(o, "bounded", json_false());

        for (size_t k = 0; k <= c->n_phases; k++) {
                const EnergyPhase *p = k < c->n_phases ? &c->phases[k] : &c->total;

                if (p->t1_ns <= p->t0_ns || p->t1_ns - p->t0_ns >= refresh)
                        continue;
                r = add_bounded(c, z, p, refresh);
                if (r < 0)
                        return r;
                any = true;
        }
        return json_set(o, "bounded", json_boolean(any));
}

static int component_processes(ComponentsCtx *c, size_t i, json_t *o) {
        _cleanup_json_ json_t *a = NULL;
        const EnergyProcess *list;
        size_t n;

        if (energy_recording_processes(c->rec, i, &list, &n) < 0)
                return 0;

        a = json_array();
        if (!a)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++) {
                json_t *p = json_pack("{s:I, s:s}", "pid", (json_int_t) list[k].pid, "name", list[k].comm);

                if (p && list[k].used_memory_bytes != UINT64_MAX &&
                    json_set(p, "used_memory_mib",
                             json_real((double) list[k].used_memory_bytes / 1048576.0)) < 0)
                        p = NULL;
                if (!p || json_array_append_new(a, p) < 0)
                        return -ENOMEM;
        }
        c->gpu_processes_known = true;
        if (n > 1)
                c->gpu_shared = true;
        if (json_set(o, "shared", json_boolean(n > 1)) < 0)
                return -ENOMEM;
        return json_set(o, "processes", TAKE_PTR(a));
}

static json_t *component_json(ComponentsCtx *c, size_t i) {
        const EnergyZone *z = energy_monitor_zone(c->m, i);
        bool measured = energy_recording_zone_measured(c->rec, i) && isfinite(c->w->zone_uj[i]);
        _cleanup_json_ json_t *o = json_object();
        bool coarse, at_least;
        uint64_t refresh;
        int r = 0;

        if (!o)
                return NULL;
        if (z->info && json_object_update(o, z->info) < 0)
                return NULL;

        r |= json_set(o, "id", json_string(z->id));
        r |= json_set(o, "name", json_string(z->name));
        r |= json_set(o, "source", json_string(z->source));
        r |= json_set(o, "domain", json_string(energy_domain_to_string(z->domain)));
        r |= json_set(o, "kind", json_string(energy_zone_kind_to_string(z->kind)));
        r |= json_set(o, "summed", json_boolean(z->summed));
        r |= json_set(o, "available", json_boolean(measured));
        r |= json_set(o, "state", json_string(energy_zone_state(z)));
        if (measured)
                r |= json_set(o, "wh", json_real(c->w->zone_uj[i] / UJ_PER_WH));
        else
                r |= json_set(o, "reason", json_string(z->reason ?: "not measured throughout the run"));
        if (r != 0 || energy_zone_json_add_resolution(o, z) < 0)
                return NULL;

        if (measured) {
                refresh = energy_components_refresh_ns(c->m, c->rec, i, &coarse, &at_least);
                if (refresh > 0 && json_set(o, "refresh_ms", json_real(ms(refresh))) < 0)
                        return NULL;
                if (at_least && json_set(o, "refresh_at_least", json_true()) < 0)
                        return NULL;
                if (component_bounded(c, i, o) < 0)
                        return NULL;
        }
        if (component_processes(c, i, o) < 0)
                return NULL;
        return TAKE_PTR(o);
}

/* The whole-system zone: a battery measured throughout, else psys. */
static ssize_t find_system_zone(ComponentsCtx *c) {
        ssize_t psys = -1;

        for (size_t i = 0; i < c->w->n_zones; i++) {
                const EnergyZone *z = energy_monitor_zone(c->m, i);

                if (!z || !energy_recording_zone_measured(c->rec, i) || !isfinite(c->w->zone_uj[i]))
                        continue;
                if (z->domain == ENERGY_DOMAIN_BATTERY)
                        return (ssize_t) i;
                if (z->domain == ENERGY_DOMAIN_PSYS && psys < 0)
                        psys = (ssize_t) i;
        }
        return psys;
}

static int add_system(ComponentsCtx *c, json_t *energy) {
        ssize_t sys = find_system_zone(c);
        const EnergyZone *s;
        double covered = 0;
        bool all;
        int r = 0;

        if (sys < 0)
                return 0;
        s = energy_monitor_zone(c->m, (size_t) sys);
        all = s->domain == ENERGY_DOMAIN_BATTERY;

        for (size_t i = 0; i < c->w->n_zones; i++) {
                const EnergyZone *z = energy_monitor_zone(c->m, i);

                if (!z->summed || !isfinite(c->w->zone_uj[i]) || !energy_recording_zone_measured(c->rec, i))
                        continue;
                if (all || z->domain != ENERGY_DOMAIN_GPU)
                        covered += c->w->zone_uj[i];
        }

        r |= json_set(energy, "system_zone", json_string(s->id));
        r |= json_set(energy, "system_wh", json_real(c->w->zone_uj[sys] / UJ_PER_WH));
        r |= json_set(energy, "system_covers", json_string(all ? "all" : "cpu"));
        r |= json_set(energy, "unexplained_wh", json_real((c->w->zone_uj[sys] - covered) / UJ_PER_WH));
        return r != 0 ? -ENOMEM : 0;
}

int energy_components_add_json(json_t *energy, EnergyMonitor *m, EnergyRecording *rec, uint64_t t0_ns,
                               uint64_t t1_ns, const EnergyPhase *phases, size_t n_phases) {
        _cleanup_json_ json_t *components = json_array(), *bounded = json_array();
        _cleanup_(energy_window_done) EnergyWindow w = {};
        ComponentsCtx c;
        double summed = 0;
        int r;

        assert(energy && m && rec);

        if (!components || !bounded)
                return -ENOMEM;

        r = energy_recording_window(rec, t0_ns, t1_ns, &w);
        if (r < 0)
                return r;

        c = (ComponentsCtx){
                .m = m,
                .rec = rec,
                .w = &w,
                .phases = phases,
                .n_phases = phases ? n_phases : 0,
                .total = {.name = "total", .t0_ns = w.t0_ns, .t1_ns = w.t1_ns},
                .bounded = bounded,
        };

        for (size_t i = 0; i < w.n_zones && i < energy_monitor_n_zones(m); i++) {
                const EnergyZone *z = energy_monitor_zone(m, i);

                if (json_array_append_new(components, component_json(&c, i)) < 0)
                        return -ENOMEM;
                if (z->summed && energy_recording_zone_measured(rec, i) && isfinite(w.zone_uj[i]))
                        summed += w.zone_uj[i];
        }

        r = add_system(&c, energy);
        if (r < 0)
                return r;

        if (c.gpu_processes_known && json_set(energy, "gpu_shared", json_boolean(c.gpu_shared)) < 0)
                return -ENOMEM;
        if (json_set(energy, "components", TAKE_PTR(components)) < 0 ||
            json_set(energy, "components_wh", json_real(summed / UJ_PER_WH)) < 0 ||
            json_set(energy, "bounded_estimates", TAKE_PTR(bounded)) < 0)
                return -ENOMEM;
        return 0;
}
