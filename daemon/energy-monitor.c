/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <inttypes.h>
#include <math.h>

#include "energy-monitor.h"
#include "json-util.h"
#include "log.h"
#include "sysfs.h"

/* After macro.h: GLib redefines MIN/MAX/CLAMP (equivalently), macro.h does not #undef CLAMP. */
#include <glib.h>

#define IDLE_SLOTS       64u
#define IDLE_MIN_SPAN_NS (1 * NSEC_PER_SEC)

typedef struct IdleHistory {
        size_t stride;   /* 1 + n_zones: t, totals */
        uint64_t *slots; /* IDLE_SLOTS × stride, a ring */
        size_t head;     /* oldest */
        size_t count;
} IdleHistory;

typedef struct IdleResult {
        bool valid;
        double summed_w;
        double *zone_w;
} IdleResult;

typedef struct IdleMeasurement {
        EnergyMonitor *monitor;
        sd_event_source *timer;
        uint64_t t0_ns;
        uint64_t *start; /* n_zones totals */
        unsigned gaps;   /* all zones' gaps at the start */
        bool interrupted;
        energy_idle_cb cb;
        void *userdata;
} IdleMeasurement;

struct EnergyMonitor {
        sd_event *event;
        sd_event_source *timer;
        uint64_t sample_interval_ns;
        uint64_t idle_period_ns;
        uint64_t idle_window_ns;
        uint64_t settle_ns;

        energy_clock_fn clock;
        void *clock_userdata;

        EnergySource **sources;
        size_t n_sources;
        EnergyZone **zones; /* all zones of all sources, in source order (borrowed) */
        size_t n_zones;
        EnergyReading *readings; /* n_zones */
        bool *summed;            /* n_zones */
        uint64_t *totals;        /* n_zones, scratch */

        GPtrArray *recordings; /* active EnergyRecording* */
        uint64_t quiet_since_ns;

        IdleHistory history;
        IdleResult idle;
        GPtrArray *idle_measurements; /* IdleMeasurement* */

        uint64_t n_reads;
        uint64_t read_time_ns;
};

typedef struct ZoneProcesses {
        EnergyProcess *list;
        size_t n;
        bool known; /* the source told at least once */
} ZoneProcesses;

struct EnergyRecording {
        EnergyMonitor *monitor; /* NULL once stopped */
        EnergyTimeline *timeline;
        size_t n_zones;
        bool *unavailable;    /* per zone: unavailable at the start */
        bool *lost;           /* per zone: lost during the recording */
        ZoneProcesses *procs; /* per zone: processes seen at the start and at the end */
        unsigned wraps_start, wraps_end;
        unsigned gaps_start, gaps_end;
};

/* ---- accounting ---------------------------------------------------------------------------- */

static uint64_t plausible_uj(uint64_t dt_ns) {
        uint64_t t = dt_ns + ENERGY_PLAUSIBLE_SLACK_NS;

        /* E[µJ] = P[W] × t[ns] / 1000, saturating (after weeks without a read anything goes). */
        if (t > UINT64_MAX / ENERGY_PLAUSIBLE_MAX_W)
                return UINT64_MAX;
        return ENERGY_PLAUSIBLE_MAX_W * t / 1000;
}

static EnergyStep account_counter(EnergyZone *z, uint64_t raw, uint64_t dt_ns, bool rebase) {
        uint64_t limit = plausible_uj(dt_ns), d;

        if (rebase) {
                z->gaps++;
                return ENERGY_STEP_REBASE;
        }

        if (raw >= z->last_raw) {
                d = raw - z->last_raw;
                if (d > limit) {
                        z->gaps++;
                        return ENERGY_STEP_JUMP;
                }
                z->total_uj += d;
                return ENERGY_STEP_OK;
        }

        if (z->max_range_uj > 0 && z->last_raw < z->max_range_uj) {
                d = z->max_range_uj - z->last_raw + raw;
                if (d <= limit) {
                        z->total_uj += d;
                        z->wraps++;
                        return ENERGY_STEP_WRAP;
                }
        }
        z->resets++;
        z->gaps++;
        return ENERGY_STEP_RESET;
}

static EnergyStep account_power(EnergyZone *z, uint64_t raw_uw, uint64_t dt_ns) {
        /* Trapezoid: µW × ns = 1e-9 µJ. */
        z->integrated_uj += ((double) z->last_raw + (double) raw_uw) / 2.0 * (double) dt_ns / 1e9;
        z->total_uj = (uint64_t) z->integrated_uj;
        return ENERGY_STEP_OK;
}

EnergyStep energy_zone_account(EnergyZone *z, uint64_t raw, uint64_t t_ns, bool rebase) {
        uint64_t dt;
        EnergyStep step;

        if (!z->have_last)
                step = ENERGY_STEP_FIRST;
        else if (z->kind == ENERGY_ZONE_INTEGRATED_POWER) {
                dt = t_ns > z->last_t_ns ? t_ns - z->last_t_ns : 0;
                step = account_power(z, raw, dt);
        } else {
                /* A counter that the hardware refreshes more slowly than it is read (NVML, batteries)
                 * stays flat, then jumps by the energy of all the time since it last changed: that
                 * time, not the last poll interval, bounds what is plausible. */
                dt = t_ns > z->last_change_t_ns ? t_ns - z->last_change_t_ns : 0;
                step = account_counter(z, raw, dt, rebase);
        }

        if (!z->have_last || raw != z->last_raw)
                z->last_change_t_ns = t_ns;
        z->have_last = true;
        z->last_raw = raw;
        z->last_t_ns = MAX(t_ns, z->last_t_ns);
        return step;
}

/* ---- idle history ---------------------------------------------------------------------------- */

static uint64_t *history_slot(IdleHistory *h, size_t i) {
        return h->slots + ((h->head + i) % IDLE_SLOTS) * h->stride;
}

static void history_clear(IdleHistory *h) {
        h->head = 0;
        h->count = 0;
}

static void history_add(IdleHistory *h, uint64_t window_ns, uint64_t t_ns, const uint64_t *totals) {
        uint64_t step = MAX(window_ns / (IDLE_SLOTS / 2), 1u), *slot;

        if (h->count >= 2 && t_ns - history_slot(h, h->count - 2)[0] < step)
                /* Too close to the previous checkpoint: move the newest one forward. */
                slot = history_slot(h, h->count - 1);
        else {
                if (h->count == IDLE_SLOTS) {
                        h->head = (h->head + 1) % IDLE_SLOTS;
                        h->count--;
                }
                slot = history_slot(h, h->count++);
        }
        slot[0] = t_ns;
        memcpy(slot + 1, totals, (h->stride - 1) * sizeof(uint64_t));

        /* Keep the oldest checkpoint that is still inside the window. */
        while (h->count > 2 && history_slot(h, 0)[0] + window_ns < t_ns) {
                h->head = (h->head + 1) % IDLE_SLOTS;
                h->count--;
        }
}

static void idle_compute(EnergyMonitor *m, const uint64_t *a, const uint64_t *b, uint64_t dt_ns,
                         double *zone_w, double *ret_summed) {
        double summed = 0;

        for (size_t i = 0; i < m->n_zones; i++) {
                if (!m->zones[i]->available) {
                        zone_w[i] = NAN;
                        continue;
                }
                zone_w[i] = (double) (b[i] - a[i]) * 1000.0 / (double) dt_ns;
                if (m->zones[i]->summed)
                        summed += zone_w[i];
        }
        *ret_summed = summed;
}

/* The idle power of the current window into m->idle; false when the window is too short. */
static bool history_update_idle(EnergyMonitor *m) {
        IdleHistory *h = &m->history;
        uint64_t *first, *last, span;

        if (h->count < 2)
                return false;
        first = history_slot(h, 0);
        last = history_slot(h, h->count - 1);
        span = last[0] - first[0];
        if (span == 0 || span < MIN(IDLE_MIN_SPAN_NS, m->idle_window_ns))
                return false;

        idle_compute(m, first + 1, last + 1, span, m->idle.zone_w, &m->idle.summed_w);
        m->idle.valid = true;
        return true;
}

/* ---- sampling ---------------------------------------------------------------------------------- */

static uint64_t monitor_now(EnergyMonitor *m) {
        return m->clock ? m->clock(m->clock_userdata) : now_ns(CLOCK_MONOTONIC);
}

static void monitor_zone_lost(EnergyMonitor *m, EnergyZone *z, const EnergyReading *rd) {
        int r;

        if (rd->reason) {
                r = energy_zone_set_reason(z, rd->reason);
                z->available = false;
        } else
                r = energy_zone_set_unavailable(z, rd->error);
        if (r < 0)
                z->available = false;
        z->lost = true;
        log_warning_errno(rd->error, "Energy zone %s became unreadable (%s), no longer measured: %m", z->id,
                          strna(z->reason));
        history_clear(&m->history);
}

static void monitor_account(EnergyMonitor *m, EnergyZone *z, const EnergyReading *rd, uint64_t t_ns) {
        const char *what;

        switch (energy_zone_account(z, rd->value, t_ns, rd->rebase)) {
        case ENERGY_STEP_WRAP: log_debug("Energy zone %s wrapped (%u so far).", z->id, z->wraps); return;
        case ENERGY_STEP_RESET: what = "counter reset"; break;
        case ENERGY_STEP_JUMP: what = "counter jumped implausibly far"; break;
        case ENERGY_STEP_REBASE: what = "switched to its duplicate counter"; break;
        default: return;
        }

        /* The interval's energy is unknown: not counted, and the idle window restarts. */
        log_warning("Energy zone %s: %s (now %" PRIu64 " µJ at %s), one poll period not counted.", z->id,
                    what, rd->value, z->path);
        history_clear(&m->history);
}

/* Reads every zone and updates the running totals; returns the sample time. */
static uint64_t monitor_snapshot(EnergyMonitor *m) {
        uint64_t cost0, cost1, t0, t1, t;
        size_t off = 0;

        cost0 = now_ns(CLOCK_MONOTONIC);
        t0 = monitor_now(m);
        for (size_t s = 0; s < m->n_sources; s++) {
                int r;

                r = energy_source_read(m->sources[s], t0, m->readings + off);
                if (r < 0)
                        log_debug_errno(r, "Failed to read energy source %s, ignoring: %m",
                                        m->sources[s]->ops->name);
                off += m->sources[s]->n_zones;
        }
        t1 = monitor_now(m);
        cost1 = now_ns(CLOCK_MONOTONIC);
        t = t0 + (t1 - t0) / 2;

        for (size_t i = 0; i < m->n_zones; i++) {
                EnergyZone *z = m->zones[i];
                const EnergyReading *rd = &m->readings[i];

                if (!z->available)
                        continue;
                if (rd->error < 0)
                        monitor_zone_lost(m, z, rd);
                else
                        monitor_account(m, z, rd, t);
        }

        m->n_reads++;
        m->read_time_ns += cost1 - cost0;
        return t;
}

static void monitor_totals(EnergyMonitor *m, uint64_t *ret) {
        for (size_t i = 0; i < m->n_zones; i++)
                ret[i] = m->zones[i]->total_uj;
}

static unsigned monitor_sum_wraps(EnergyMonitor *m) {
        unsigned n = 0;

        for (size_t i = 0; i < m->n_zones; i++)
                n += m->zones[i]->wraps;
        return n;
}

static unsigned monitor_sum_gaps(EnergyMonitor *m) {
        unsigned n = 0;

        for (size_t i = 0; i < m->n_zones; i++)
                n += m->zones[i]->gaps;
        return n;
}

static int monitor_sample(EnergyMonitor *m, uint64_t *ret_t_ns) {
        uint64_t t;
        int r;

        t = monitor_snapshot(m);
        monitor_totals(m, m->totals);

        if (m->recordings->len == 0) {
                if (t >= m->quiet_since_ns)
                        history_add(&m->history, m->idle_window_ns, t, m->totals);
        } else
                for (guint i = 0; i < m->recordings->len; i++) {
                        EnergyRecording *rec = g_ptr_array_index(m->recordings, i);

                        for (size_t z = 0; z < rec->n_zones; z++)
                                if (!rec->unavailable[z] && !m->zones[z]->available)
                                        rec->lost[z] = true;

                        r = energy_timeline_append(rec->timeline, t, m->totals);
                        if (r < 0)
                                return log_error_errno(r, "Failed to append an energy sample: %m");
                }

        if (ret_t_ns)
                *ret_t_ns = t;
        return 0;
}

int energy_monitor_sample_now(EnergyMonitor *m) {
        assert(m);

        return monitor_sample(m, NULL);
}

/* ---- polling ----------------------------------------------------------------------------------- */

uint64_t energy_monitor_poll_period_ns(EnergyMonitor *m) {
        if (m->recordings->len > 0)
                return MIN(m->sample_interval_ns, m->idle_period_ns);
        return m->idle_period_ns;
}

static int monitor_arm(EnergyMonitor *m, uint64_t base_usec) {
        uint64_t period = energy_monitor_poll_period_ns(m) / NSEC_PER_USEC, now;
        int r;

        if (!m->timer)
                return 0;

        r = sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        /* Keep the rhythm, but never catch up with a burst after a stall. */
        if (base_usec == 0 || base_usec + period < now)
                base_usec = now;

        r = sd_event_source_set_time(m->timer, base_usec + MAX(period, 1u));
        if (r < 0)
                return r;
        r = sd_event_source_set_time_accuracy(m->timer, MAX(period / 10, 1u));
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
}

static int monitor_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        EnergyMonitor *m = userdata;
        int r;

        (void) monitor_sample(m, NULL);

        r = monitor_arm(m, usec);
        if (r < 0)
                log_error_errno(r, "Failed to re-arm the energy poll timer: %m");
        return 0;
}

static bool monitor_any_available(EnergyMonitor *m) {
        for (size_t i = 0; i < m->n_zones; i++)
                if (m->zones[i]->available)
                        return true;
        return false;
}

static int monitor_setup_timer(EnergyMonitor *m) {
        int r;

        if (!monitor_any_available(m))
                return 0;

        r = sd_event_add_time(m->event, &m->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, monitor_on_timer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->timer, "energy-poll");
        return monitor_arm(m, 0);
}

/* ---- life cycle ---------------------------------------------------------------------------------- */

static int monitor_add_source(EnergyMonitor *m, EnergySource *s) {
        EnergySource **a;
        EnergyZone **z;

        a = reallocarray(m->sources, m->n_sources + 1, sizeof(EnergySource *));
        if (!a) {
                energy_source_free(s);
                return -ENOMEM;
        }
        m->sources = a;
        m->sources[m->n_sources++] = s;

        z = reallocarray(m->zones, m->n_zones + s->n_zones + 1, sizeof(EnergyZone *));
        if (!z)
                return -ENOMEM;
        m->zones = z;
        for (size_t i = 0; i < s->n_zones; i++)
                m->zones[m->n_zones++] = s->zones[i];
        return 0;
}

static int monitor_probe(EnergyMonitor *m, const char *sysfs_root) {
        int r;

        for (size_t i = 0; i < energy_source_builtin_count; i++) {
                _cleanup_(energy_source_freep) EnergySource *s = NULL;

                r = energy_source_new(energy_source_builtin[i], &s);
                if (r < 0)
                        return r;

                r = energy_source_probe(s, sysfs_root);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_warning_errno(r, "Failed to probe energy source %s, ignoring: %m", s->ops->name);
                        continue;
                }
                log_debug("Energy source %s: %zu zone(s).", s->ops->name, s->n_zones);

                r = monitor_add_source(m, TAKE_PTR(s));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int monitor_alloc_zone_arrays(EnergyMonitor *m) {
        size_t n = MAX(m->n_zones, 1u);

        m->readings = calloc(n, sizeof(EnergyReading));
        m->summed = calloc(n, sizeof(bool));
        m->totals = calloc(n, sizeof(uint64_t));
        m->idle.zone_w = calloc(n, sizeof(double));
        m->history.stride = 1 + m->n_zones;
        m->history.slots = calloc(IDLE_SLOTS * m->history.stride, sizeof(uint64_t));
        if (!m->readings || !m->summed || !m->totals || !m->idle.zone_w || !m->history.slots)
                return -ENOMEM;

        m->idle_period_ns = ENERGY_POLL_MAX_NS;
        for (size_t i = 0; i < m->n_zones; i++) {
                m->summed[i] = m->zones[i]->summed;
                if (m->zones[i]->available)
                        m->idle_period_ns = MIN(m->idle_period_ns, m->zones[i]->poll_period_ns);
        }
        return 0;
}

static void monitor_log_zones(EnergyMonitor *m) {
        for (size_t i = 0; i < m->n_zones; i++) {
                const EnergyZone *z = m->zones[i];

                if (z->available)
                        log_info("Energy zone %s (%s%s): %s", z->id, energy_domain_to_string(z->domain),
                                 z->summed ? ", summed" : "", z->path);
                else
                        log_warning("Energy zone %s unavailable: %s (%s)", z->id, strna(z->reason), z->path);
        }
        if (!energy_monitor_can_measure(m))
                log_warning("No readable package, dram or GPU energy zone: live energy measurement "
                            "unavailable.");
}

int energy_monitor_new(sd_event *e, const char *root, unsigned sample_interval_ms, EnergyMonitor **ret) {
        _cleanup_(energy_monitor_freep) EnergyMonitor *m = NULL;
        int r;

        assert(e && ret);

        m = calloc(1, sizeof(EnergyMonitor));
        if (!m)
                return log_oom();
        m->event = sd_event_ref(e);
        m->sample_interval_ns = (sample_interval_ms ?: ENERGY_SAMPLE_INTERVAL_MS_DEFAULT) * NSEC_PER_MSEC;
        m->idle_window_ns = ENERGY_IDLE_WINDOW_SEC_DEFAULT * NSEC_PER_SEC;
        m->settle_ns = ENERGY_IDLE_SETTLE_MS_DEFAULT * NSEC_PER_MSEC;
        m->recordings = g_ptr_array_new();
        m->idle_measurements = g_ptr_array_new();

        r = monitor_probe(m, root ?: sysfs_root());
        if (r < 0)
                return log_error_errno(r, "Failed to probe energy sources: %m");

        r = monitor_alloc_zone_arrays(m);
        if (r < 0)
                return log_oom();
        monitor_log_zones(m);

        /* The baseline of every running total. */
        r = monitor_sample(m, NULL);
        if (r < 0)
                return r;

        r = monitor_setup_timer(m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the energy poll timer: %m");

        *ret = TAKE_PTR(m);
        return 0;
}

static void idle_measurement_free(IdleMeasurement *im) {
        if (!im)
                return;
        sd_event_source_disable_unref(im->timer);
        free(im->start);
        free(im);
}

EnergyMonitor *energy_monitor_free(EnergyMonitor *m) {
        if (!m)
                return NULL;

        if (m->recordings) {
                /* Detach the recordings still active: they stay readable. */
                for (guint i = 0; i < m->recordings->len; i++) {
                        EnergyRecording *rec = g_ptr_array_index(m->recordings, i);

                        rec->wraps_end = monitor_sum_wraps(m);
                        rec->gaps_end = monitor_sum_gaps(m);
                        rec->monitor = NULL;
                }
                g_ptr_array_free(m->recordings, true);
        }
        if (m->idle_measurements) {
                for (guint i = 0; i < m->idle_measurements->len; i++)
                        idle_measurement_free(g_ptr_array_index(m->idle_measurements, i));
                g_ptr_array_free(m->idle_measurements, true);
        }

        sd_event_source_disable_unref(m->timer);
        sd_event_unref(m->event);

        for (size_t i = 0; i < m->n_sources; i++)
                energy_source_free(m->sources[i]);
        free(m->sources);
        free(m->zones);
        free(m->readings);
        free(m->summed);
        free(m->totals);
        free(m->idle.zone_w);
        free(m->history.slots);
        free(m);
        return NULL;
}

int energy_monitor_set_clock(EnergyMonitor *m, energy_clock_fn clock, void *userdata) {
        if (m->recordings->len > 0)
                return -EBUSY;

        m->clock = clock;
        m->clock_userdata = userdata;
        for (size_t i = 0; i < m->n_zones; i++)
                m->zones[i]->have_last = false;
        history_clear(&m->history);
        m->quiet_since_ns = 0;
        return monitor_sample(m, NULL);
}

void energy_monitor_set_idle_window(EnergyMonitor *m, uint64_t window_ns, uint64_t settle_ns) {
        m->idle_window_ns = MAX(window_ns, 1u);
        m->settle_ns = settle_ns;
}

bool energy_monitor_can_measure(EnergyMonitor *m) {
        for (size_t i = 0; i < m->n_zones; i++)
                if (m->zones[i]->summed && m->zones[i]->available)
                        return true;
        return false;
}

size_t energy_monitor_n_zones(EnergyMonitor *m) {
        return m->n_zones;
}

const EnergyZone *energy_monitor_zone(EnergyMonitor *m, size_t i) {
        return i < m->n_zones ? m->zones[i] : NULL;
}

bool energy_monitor_is_recording(EnergyMonitor *m) {
        return m->recordings->len > 0;
}

uint64_t energy_monitor_sample_interval_ns(EnergyMonitor *m) {
        return m->sample_interval_ns;
}

uint64_t energy_monitor_n_reads(EnergyMonitor *m) {
        return m->n_reads;
}

uint64_t energy_monitor_read_time_ns(EnergyMonitor *m) {
        return m->read_time_ns;
}

/* ---- recordings ---------------------------------------------------------------------------------- */

static void monitor_zone_owner(EnergyMonitor *m, size_t zone, EnergySource **ret_s, size_t *ret_i) {
        for (size_t s = 0; s < m->n_sources; s++) {
                if (zone < m->sources[s]->n_zones) {
                        *ret_s = m->sources[s];
                        *ret_i = zone;
                        return;
                }
                zone -= m->sources[s]->n_zones;
        }
        *ret_s = NULL;
        *ret_i = 0;
}

static int zone_processes_merge(ZoneProcesses *zp, const EnergyProcess *list, size_t n) {
        for (size_t i = 0; i < n; i++) {
                bool seen = false;

                for (size_t j = 0; j < zp->n && !seen; j++)
                        if (zp->list[j].pid == list[i].pid) {
                                zp->list[j].used_memory_bytes =
                                        list[i].used_memory_bytes != UINT64_MAX &&
                                                        (zp->list[j].used_memory_bytes == UINT64_MAX ||
                                                         list[i].used_memory_bytes >
                                                                 zp->list[j].used_memory_bytes)
                                                ? list[i].used_memory_bytes
                                                : zp->list[j].used_memory_bytes;
                                seen = true;
                        }
                if (seen)
                        continue;

                EnergyProcess *a = reallocarray(zp->list, zp->n + 1, sizeof(EnergyProcess));
                if (!a)
                        return -ENOMEM;
                zp->list = a;
                zp->list[zp->n++] = list[i];
        }
        zp->known = true;
        return 0;
}

/* Asks every source that can tell which processes use its zones (GPUs), and remembers them. */
static void recording_collect_processes(EnergyMonitor *m, EnergyRecording *rec) {
        for (size_t i = 0; i < rec->n_zones && i < m->n_zones; i++) {
                _cleanup_free_ EnergyProcess *list = NULL;
                EnergySource *s;
                size_t j;
                int n;

                if (!m->zones[i]->available)
                        continue;
                monitor_zone_owner(m, i, &s, &j);
                if (!s || !s->ops->processes)
                        continue;

                n = energy_source_processes(s, j, &list);
                if (n < 0) {
                        log_debug_errno(n, "Cannot tell the processes using %s: %m", m->zones[i]->id);
                        continue;
                }
                if (zone_processes_merge(&rec->procs[i], list, (size_t) n) < 0)
                        log_debug("Out of memory while recording the processes using %s.", m->zones[i]->id);
        }
}

/* Counters that the hardware refreshes more slowly than they are sampled (or at an unknown rate) are
 * interpolated between their change points (see energy-timeline.h). */
static void recording_mark_stepwise(EnergyMonitor *m, EnergyRecording *rec) {
        for (size_t i = 0; i < m->n_zones; i++) {
                const EnergyZone *z = m->zones[i];
                uint64_t max_step;

                if (z->kind != ENERGY_ZONE_COUNTER ||
                    (z->refresh_ns > 0 && z->refresh_ns <= m->sample_interval_ns))
                        continue;
                max_step = z->refresh_ns > 0 ? 2 * z->refresh_ns : ENERGY_STEPWISE_UNKNOWN_MAX_NS;
                (void) energy_timeline_set_stepwise(rec->timeline, i,
                                                    MAX(max_step, 2 * m->sample_interval_ns));
        }
}

int energy_monitor_start_recording(EnergyMonitor *m, EnergyRecording **ret) {
        _cleanup_(energy_recording_freep) EnergyRecording *rec = NULL;
        int r;

        assert(m && ret);

        if (!energy_monitor_can_measure(m))
                return -ENODEV;

        rec = calloc(1, sizeof(EnergyRecording));
        if (!rec)
                return -ENOMEM;
        rec->n_zones = m->n_zones;
        rec->unavailable = calloc(MAX(m->n_zones, 1u), sizeof(bool));
        rec->lost = calloc(MAX(m->n_zones, 1u), sizeof(bool));
        rec->procs = calloc(MAX(m->n_zones, 1u), sizeof(ZoneProcesses));
        if (!rec->unavailable || !rec->lost || !rec->procs)
                return -ENOMEM;
        r = energy_timeline_new(m->n_zones, m->summed, &rec->timeline);
        if (r < 0)
                return r;
        recording_mark_stepwise(m, rec);

        if (m->recordings->len == 0) {
                /* Freeze the idle window seen so far; the recording's own samples are not idle. */
                (void) history_update_idle(m);
                history_clear(&m->history);
        }

        for (size_t i = 0; i < m->n_zones; i++)
                rec->unavailable[i] = !m->zones[i]->available;
        rec->monitor = m;
        g_ptr_array_add(m->recordings, rec);

        /* Interrupt fresh idle measurements: their window is no longer idle. */
        for (guint i = 0; i < m->idle_measurements->len; i++)
                ((IdleMeasurement *) g_ptr_array_index(m->idle_measurements, i))->interrupted = true;

        r = monitor_sample(m, NULL);
        if (r < 0)
                return r;
        rec->wraps_start = monitor_sum_wraps(m);
        rec->gaps_start = monitor_sum_gaps(m);
        recording_collect_processes(m, rec);

        r = monitor_arm(m, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to switch energy polling to the sample interval: %m");

        *ret = TAKE_PTR(rec);
        return 0;
}

static void recording_detach(EnergyMonitor *m, EnergyRecording *rec) {
        rec->wraps_end = monitor_sum_wraps(m);
        rec->gaps_end = monitor_sum_gaps(m);
        (void) g_ptr_array_remove(m->recordings, rec);
        rec->monitor = NULL;
}

int energy_monitor_stop_recording(EnergyMonitor *m, EnergyRecording *rec) {
        uint64_t t;
        int r;

        assert(m && rec);

        if (rec->monitor != m)
                return -EALREADY;

        r = monitor_sample(m, &t);
        recording_collect_processes(m, rec);
        recording_detach(m, rec);

        if (m->recordings->len == 0) {
                m->quiet_since_ns = t + m->settle_ns;
                history_clear(&m->history);
                (void) monitor_arm(m, 0);
        }
        return r;
}

EnergyRecording *energy_recording_free(EnergyRecording *rec) {
        if (!rec)
                return NULL;

        if (rec->monitor)
                (void) energy_monitor_stop_recording(rec->monitor, rec);
        energy_timeline_free(rec->timeline);
        for (size_t i = 0; rec->procs && i < rec->n_zones; i++)
                free(rec->procs[i].list);
        free(rec->procs);
        free(rec->unavailable);
        free(rec->lost);
        free(rec);
        return NULL;
}

int energy_recording_processes(EnergyRecording *rec, size_t zone, const EnergyProcess **ret, size_t *ret_n) {
        assert(rec && ret && ret_n);

        if (zone >= rec->n_zones || !rec->procs[zone].known)
                return -EOPNOTSUPP;
        *ret = rec->procs[zone].list;
        *ret_n = rec->procs[zone].n;
        return 0;
}

bool energy_recording_zone_measured(EnergyRecording *rec, size_t zone) {
        return zone < rec->n_zones && !rec->unavailable[zone] && !rec->lost[zone];
}

const EnergyTimeline *energy_recording_timeline(EnergyRecording *rec) {
        return rec->timeline;
}

bool energy_recording_is_active(EnergyRecording *rec) {
        return rec->monitor;
}

unsigned energy_recording_wraps(EnergyRecording *rec) {
        return (rec->monitor ? monitor_sum_wraps(rec->monitor) : rec->wraps_end) - rec->wraps_start;
}

unsigned energy_recording_gaps(EnergyRecording *rec) {
        return (rec->monitor ? monitor_sum_gaps(rec->monitor) : rec->gaps_end) - rec->gaps_start;
}

void energy_window_done(EnergyWindow *w) {
        if (!w)
                return;
        free(w->zone_uj);
        w->zone_uj = NULL;
        w->n_zones = 0;
}

int energy_recording_window(EnergyRecording *rec, uint64_t t0_ns, uint64_t t1_ns, EnergyWindow *ret) {
        _cleanup_free_ double *zone = NULL;
        EnergyWindow w = {.n_zones = rec->n_zones, .complete = true};
        int r;

        assert(rec && ret);

        zone = calloc(MAX(rec->n_zones, 1u), sizeof(double));
        if (!zone)
                return -ENOMEM;

        r = energy_timeline_energy_all(rec->timeline, t0_ns, t1_ns, zone, NULL, &w.t0_ns, &w.t1_ns);
        if (r < 0)
                return r;

        for (size_t i = 0; i < rec->n_zones; i++) {
                bool summed = energy_timeline_zone_summed(rec->timeline, i);

                if (rec->unavailable[i] || rec->lost[i]) {
                        zone[i] = NAN;
                        if (summed && rec->lost[i])
                                w.complete = false;
                        continue;
                }
                if (summed)
                        w.summed_uj += zone[i];
        }

        w.zone_uj = TAKE_PTR(zone);
        *ret = w;
        return 0;
}

/* ---- idle power ---------------------------------------------------------------------------------- */

int energy_monitor_idle_power(EnergyMonitor *m, double *ret_summed_w, double *ret_zone_w) {
        assert(m);

        if (!monitor_any_available(m))
                return -ENODEV;

        /* While recording the window is frozen; otherwise refresh it from the checkpoints. */
        if (m->recordings->len == 0)
                (void) history_update_idle(m);
        if (!m->idle.valid)
                return -ENODATA;

        if (ret_summed_w)
                *ret_summed_w = m->idle.summed_w;
        if (ret_zone_w)
                memcpy(ret_zone_w, m->idle.zone_w, m->n_zones * sizeof(double));
        return 0;
}

static int idle_measurement_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        IdleMeasurement *im = userdata;
        EnergyMonitor *m = im->monitor;
        _cleanup_free_ double *zone_w = NULL;
        double summed = 0;
        uint64_t t;
        int r, error = 0;

        (void) g_ptr_array_remove(m->idle_measurements, im);

        zone_w = calloc(MAX(m->n_zones, 1u), sizeof(double));
        if (!zone_w)
                error = -ENOMEM;
        else if (im->interrupted || m->recordings->len > 0)
                error = -EBUSY;
        else {
                r = monitor_sample(m, &t);
                if (r < 0)
                        error = r;
                else if (!energy_monitor_can_measure(m))
                        error = -ENODEV;
                else if (monitor_sum_gaps(m) != im->gaps || t <= im->t0_ns)
                        error = -ESTALE;
                else {
                        idle_compute(m, im->start, m->totals, t - im->t0_ns, zone_w, &summed);
                        memcpy(m->idle.zone_w, zone_w, m->n_zones * sizeof(double));
                        m->idle.summed_w = summed;
                        m->idle.valid = true;
                }
        }

        im->cb(m, error, summed, zone_w, im->userdata);
        idle_measurement_free(im);
        return 0;
}

int energy_monitor_measure_idle(EnergyMonitor *m, unsigned duration_ms, energy_idle_cb cb, void *userdata) {
        IdleMeasurement *im;
        uint64_t now;
        int r;

        assert(m && cb);

        if (m->recordings->len > 0)
                return -EBUSY;
        if (!energy_monitor_can_measure(m))
                return -ENODEV;

        im = calloc(1, sizeof(IdleMeasurement));
        if (!im)
                return -ENOMEM;
        im->monitor = m;
        im->cb = cb;
        im->userdata = userdata;
        im->start = calloc(MAX(m->n_zones, 1u), sizeof(uint64_t));
        if (!im->start) {
                idle_measurement_free(im);
                return -ENOMEM;
        }

        r = sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (r >= 0)
                r = sd_event_add_time(m->event, &im->timer, CLOCK_MONOTONIC,
                                      now + (uint64_t) MAX(duration_ms, 1u) * USEC_PER_MSEC, 1,
                                      idle_measurement_on_timer, im);
        if (r < 0) {
                idle_measurement_free(im);
                return r;
        }
        (void) sd_event_source_set_description(im->timer, "energy-idle");

        r = monitor_sample(m, &im->t0_ns);
        if (r < 0) {
                idle_measurement_free(im);
                return r;
        }
        memcpy(im->start, m->totals, m->n_zones * sizeof(uint64_t));
        im->gaps = monitor_sum_gaps(m);

        g_ptr_array_add(m->idle_measurements, im);
        return 0;
}

int energy_monitor_cancel_idle(EnergyMonitor *m, energy_idle_cb cb, void *userdata) {
        int n = 0;

        for (guint i = m->idle_measurements->len; i > 0; i--) {
                IdleMeasurement *im = g_ptr_array_index(m->idle_measurements, i - 1);

                if (im->cb != cb || im->userdata != userdata)
                        continue;
                g_ptr_array_remove_index(m->idle_measurements, i - 1);
                idle_measurement_free(im);
                n++;
        }
        return n;
}

/* ---- JSON ---------------------------------------------------------------------------------------- */

static int json_set(json_t *o, const char *key, json_t *v) {
        /* json_object_set_new() steals v, also on failure. */
        return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

const char *energy_zone_state(const EnergyZone *z) {
        return z->available ? "available" : z->lost ? "lost" : "unavailable";
}

int energy_zone_json_add_resolution(json_t *o, const EnergyZone *z) {
        int r = 0;

        if (z->resolution > 0)
                r |= json_set(o, z->kind == ENERGY_ZONE_COUNTER ? "resolution_uj" : "resolution_uw",
                              json_integer((json_int_t) z->resolution));
        if (z->refresh_ns > 0)
                r |= json_set(o, "refresh_ms", json_real((double) z->refresh_ns / (double) NSEC_PER_MSEC));
        return r != 0 ? -ENOMEM : 0;
}

static json_t *zone_json(const EnergyZone *z) {
        _cleanup_json_ json_t *o = json_object();
        int r = 0;

        if (!o)
                return NULL;

        /* Source-specific facts first, so that they cannot override the common keys. */
        if (z->info && json_object_update(o, z->info) < 0)
                return NULL;

        r |= json_set(o, "id", json_string(z->id));
        r |= json_set(o, "source", json_string(z->source));
        r |= json_set(o, "kind", json_string(energy_zone_kind_to_string(z->kind)));
        r |= json_set(o, "domain", json_string(energy_domain_to_string(z->domain)));
        r |= json_set(o, "summed", json_boolean(z->summed));
        r |= json_set(o, "nested", json_boolean(!z->summed));
        r |= json_set(o, "available", json_boolean(z->available));
        r |= json_set(o, "state", json_string(energy_zone_state(z)));
        r |= json_set(o, "name", json_string(z->name));
        if (!z->available)
                r |= json_set(o, "reason", json_string(z->reason ?: "unavailable"));
        if (z->socket >= 0)
                r |= json_set(o, "socket", json_integer(z->socket));
        if (z->device >= 0)
                r |= json_set(o, "device", json_integer(z->device));
        if (r != 0 || energy_zone_json_add_resolution(o, z) < 0)
                return NULL;
        return TAKE_PTR(o);
}

json_t *energy_monitor_sources_json(EnergyMonitor *m) {
        _cleanup_json_ json_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t i = 0; i < m->n_zones; i++)
                if (json_array_append_new(a, zone_json(m->zones[i])) < 0)
                        return NULL;
        return TAKE_PTR(a);
}

static json_t *zone_status_json(const EnergyZone *z) {
        _cleanup_json_ json_t *o = zone_json(z);
        int r = 0;

        if (!o)
                return NULL;
        /* An unavailable zone has no energy, not 0 µJ. */
        if (z->available)
                r |= json_set(o, "energy_uj", json_integer((json_int_t) z->total_uj));
        r |= json_set(o, "wraps", json_integer(z->wraps));
        r |= json_set(o, "resets", json_integer(z->resets));
        r |= json_set(o, "gaps", json_integer(z->gaps));
        if (r != 0)
                return NULL;
        return TAKE_PTR(o);
}

json_t *energy_monitor_status_json(EnergyMonitor *m) {
        _cleanup_json_ json_t *o = json_object(), *sources = json_array(), *idle_zones = json_object();
        _cleanup_free_ double *zone_w = calloc(MAX(m->n_zones, 1u), sizeof(double));
        double summed_w;
        int r = 0;

        if (!o || !sources || !idle_zones || !zone_w)
                return NULL;

        for (size_t i = 0; i < m->n_zones; i++)
                if (json_array_append_new(sources, zone_status_json(m->zones[i])) < 0)
                        return NULL;

        if (energy_monitor_idle_power(m, &summed_w, zone_w) >= 0) {
                r |= json_set(o, "idle_w", json_real(summed_w));
                for (size_t i = 0; i < m->n_zones; i++)
                        if (!isnan(zone_w[i]))
                                r |= json_set(idle_zones, m->zones[i]->id, json_real(zone_w[i]));
        }

        r |= json_set(o, "sources", TAKE_PTR(sources));
        r |= json_set(o, "idle_zones", TAKE_PTR(idle_zones));
        r |= json_set(o, "measuring", json_boolean(m->recordings->len > 0));
        if (r != 0)
                return NULL;
        return TAKE_PTR(o);
}
