/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The energy monitor over fake powercap trees: wrap-safe accounting, recordings, idle power, the
 * JSON views, and real sd-event polling. Time is driven explicitly through the clock seam wherever
 * the test is about numbers; the event loop runs for real only where the test is about polling. */

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>

#include "energy-monitor.h"

#include <glib.h>

#define MS          (1000000ULL)
#define SEC         (1000000000ULL)
#define INTEL_RANGE 262143328850ULL
#define EPS         1e-9

typedef struct Fake {
        char *root;
        char *zone_dir[16];
        size_t n;
        uint64_t now;
        sd_event *event;
        EnergyMonitor *m;
} Fake;

static void write_text(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t n = strlen(text);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, text, n), ==, (ssize_t) n);
        g_assert_cmpint(close(fd), ==, 0);
}

static void write_u64(const char *path, uint64_t v) {
        g_autofree char *s = g_strdup_printf("%" G_GUINT64_FORMAT "\n", v);

        write_text(path, s);
}

static Fake *fake_new(void) {
        g_autoptr(GError) error = NULL;
        Fake *f = g_new0(Fake, 1);

        f->root = g_dir_make_tmp("llmlab-monitor-XXXXXX", &error);
        g_assert_no_error(error);
        g_assert_cmpint(sd_event_new(&f->event), >=, 0);
        return f;
}

static void fake_free(Fake *f) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->root);

        energy_monitor_free(f->m);
        sd_event_unref(f->event);
        g_assert_cmpint(system(cmd), ==, 0);
        for (size_t i = 0; i < f->n; i++)
                g_free(f->zone_dir[i]);
        g_free(f->root);
        g_free(f);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fake, fake_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)

/* A zone as the kernel lays it out (see test-energy-rapl.c); returns its index in f->zone_dir. */
static size_t fake_zone(Fake *f, const char *parent, const char *entry, const char *name, uint64_t range,
                        uint64_t value) {
        g_autofree char *rel = parent ? g_build_filename(parent, entry, NULL) : g_strdup(entry);
        g_autofree char *dir = g_build_filename(f->root, "devices/virtual/powercap/intel-rapl", rel, NULL);
        g_autofree char *class_dir = g_build_filename(f->root, "class/powercap", NULL);
        g_autofree char *link = g_build_filename(class_dir, entry, NULL);
        g_autofree char *target = g_build_filename("../../devices/virtual/powercap/intel-rapl", rel, NULL);
        g_autofree char *p = NULL;

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        g_assert_cmpint(g_mkdir_with_parents(class_dir, 0755), ==, 0);
        g_assert_cmpint(symlink(target, link), ==, 0);

        p = g_build_filename(dir, "name", NULL);
        write_text(p, name);
        g_clear_pointer(&p, g_free);
        p = g_build_filename(dir, "max_energy_range_uj", NULL);
        write_u64(p, range);
        g_clear_pointer(&p, g_free);
        p = g_build_filename(dir, "energy_uj", NULL);
        write_u64(p, value);

        g_assert_cmpuint(f->n, <, G_N_ELEMENTS(f->zone_dir));
        f->zone_dir[f->n] = g_steal_pointer(&dir);
        return f->n++;
}

static void fake_set(Fake *f, size_t zone, uint64_t value) {
        g_autofree char *p = g_build_filename(f->zone_dir[zone], "energy_uj", NULL);

        write_u64(p, value);
}

static uint64_t fake_clock(void *userdata) {
        return ((Fake *) userdata)->now;
}

/* Starts the monitor with the fake clock at @t. */
static void fake_start(Fake *f, uint64_t t, unsigned sample_interval_ms) {
        g_assert_cmpint(energy_monitor_new(f->event, f->root, sample_interval_ms, &f->m), ==, 0);
        f->now = t;
        g_assert_cmpint(energy_monitor_set_clock(f->m, fake_clock, f), ==, 0);
}

static void fake_sample(Fake *f, uint64_t t) {
        f->now = t;
        g_assert_cmpint(energy_monitor_sample_now(f->m), ==, 0);
}

static const EnergyZone *zone(Fake *f, const char *id) {
        for (size_t i = 0; i < energy_monitor_n_zones(f->m); i++)
                if (g_str_equal(energy_monitor_zone(f->m, i)->id, id))
                        return energy_monitor_zone(f->m, i);
        g_assert_not_reached();
}

static size_t zone_index(Fake *f, const char *id) {
        for (size_t i = 0; i < energy_monitor_n_zones(f->m); i++)
                if (g_str_equal(energy_monitor_zone(f->m, i)->id, id))
                        return i;
        g_assert_not_reached();
}

typedef struct IdleResultData {
        int calls;
        int error;
        double summed;
        double psys;
} IdleResultData;

static void on_idle(EnergyMonitor *m, int error, double summed_w, const double *zone_w, void *userdata) {
        IdleResultData *d = userdata;

        d->calls++;
        d->error = error;
        d->summed = summed_w;
        d->psys = zone_w[5];
}

/* ---- accounting rule ---------------------------------------------------------------------------- */

static EnergyZone *counter_zone(uint64_t modulus) {
        EnergyZone *z = NULL;

        g_assert_cmpint(energy_zone_new("test", "test:z", "z", &z), ==, 0);
        z->available = true;
        z->max_range_uj = modulus;
        return z;
}

static void test_account_counter(void) {
        _cleanup_(energy_zone_freep) EnergyZone *z = counter_zone(INTEL_RANGE + 1);

        g_assert_cmpint(energy_zone_account(z, 5000000000ULL, 1 * SEC, false), ==, ENERGY_STEP_FIRST);
        g_assert_cmpuint(z->total_uj, ==, 0);
        /* 100 W for 1 s. */
        g_assert_cmpint(energy_zone_account(z, 5100000000ULL, 2 * SEC, false), ==, ENERGY_STEP_OK);
        g_assert_cmpuint(z->total_uj, ==, 100000000);
        /* Wrap: from 50 J below the top to 30 J above zero, in 1 s: 80 J + the 1 µJ step. */
        z->last_raw = INTEL_RANGE - 50000000;
        g_assert_cmpint(energy_zone_account(z, 30000000, 3 * SEC, false), ==, ENERGY_STEP_WRAP);
        g_assert_cmpuint(z->total_uj, ==, 100000000 + 80000001);
        g_assert_cmpuint(z->wraps, ==, 1);
        /* Reset: back from 30 J to 1 J — a wrap would mean 262 kJ in 1 s. Not counted. */
        g_assert_cmpint(energy_zone_account(z, 1000000, 4 * SEC, false), ==, ENERGY_STEP_RESET);
        g_assert_cmpuint(z->total_uj, ==, 180000001);
        g_assert_cmpuint(z->resets, ==, 1);
        g_assert_cmpuint(z->gaps, ==, 1);
        /* Counting resumes from the new baseline. */
        g_assert_cmpint(energy_zone_account(z, 3000000, 5 * SEC, false), ==, ENERGY_STEP_OK);
        g_assert_cmpuint(z->total_uj, ==, 182000001);
        /* Jump: +100 kJ in 1 s (limit: 5 kW × 1.01 s). Not counted. */
        g_assert_cmpint(energy_zone_account(z, 100003000000ULL, 6 * SEC, false), ==, ENERGY_STEP_JUMP);
        g_assert_cmpuint(z->total_uj, ==, 182000001);
        g_assert_cmpuint(z->gaps, ==, 2);
        /* Just inside the bound: 5 kW × (1 s + 10 ms) = 5.05 MJ… in µJ: 5050000000. */
        g_assert_cmpint(energy_zone_account(z, 100003000000ULL + 5050000000ULL, 7 * SEC, false), ==,
                        ENERGY_STEP_OK);
        g_assert_cmpuint(z->total_uj, ==, 182000001 + 5050000000ULL);
        /* A switch to another counter: baseline only. */
        g_assert_cmpint(energy_zone_account(z, 42, 8 * SEC, true), ==, ENERGY_STEP_REBASE);
        g_assert_cmpuint(z->total_uj, ==, 182000001 + 5050000000ULL);
        g_assert_cmpuint(z->gaps, ==, 3);
        g_assert_cmpuint(z->last_raw, ==, 42);
        g_assert_cmpuint(z->wraps, ==, 1);
        g_assert_cmpuint(z->resets, ==, 1);
}

static void test_account_many_wraps(void) {
        _cleanup_(energy_zone_freep) EnergyZone *z = counter_zone(1000000);
        uint64_t raw = 900000;

        /* A 1 J counter advancing 0.3 J per 10 ms (30 W): 100 reads, 30 wraps, exactly 30 J. */
        g_assert_cmpint(energy_zone_account(z, raw, 0, false), ==, ENERGY_STEP_FIRST);
        for (unsigned i = 1; i <= 100; i++) {
                raw = (raw + 300000) % 1000000;
                g_assert_cmpint(energy_zone_account(z, raw, i * 10 * MS, false), !=, ENERGY_STEP_RESET);
        }
        g_assert_cmpuint(z->total_uj, ==, 30000000);
        g_assert_cmpuint(z->wraps, ==, 30);
        g_assert_cmpuint(z->gaps, ==, 0);
}

static void test_account_power(void) {
        _cleanup_(energy_zone_freep) EnergyZone *z = counter_zone(0);

        z->kind = ENERGY_ZONE_INTEGRATED_POWER;
        /* 100 W, then 200 W 1 s later, then 200 W for 0.5 s: 150 J + 100 J (trapezoids). */
        g_assert_cmpint(energy_zone_account(z, 100000000, 10 * SEC, false), ==, ENERGY_STEP_FIRST);
        g_assert_cmpint(energy_zone_account(z, 200000000, 11 * SEC, false), ==, ENERGY_STEP_OK);
        g_assert_cmpuint(z->total_uj, ==, 150000000);
        g_assert_cmpint(energy_zone_account(z, 200000000, 11 * SEC + 500 * MS, false), ==, ENERGY_STEP_OK);
        g_assert_cmpuint(z->total_uj, ==, 250000000);
        g_assert_cmpuint(z->wraps, ==, 0);
}

/* ---- monitor ---------------------------------------------------------------------------------------- */

/* Two sockets with core/dram and psys; small-range package-0 so that it wraps. */
static void fake_two_sockets(Fake *f, uint64_t pkg0_range) {
        fake_zone(f, NULL, "intel-rapl:0", "package-0", pkg0_range, 900000);         /* 0 */
        fake_zone(f, "intel-rapl:0", "intel-rapl:0:0", "core", INTEL_RANGE, 0);      /* 1 */
        fake_zone(f, "intel-rapl:0", "intel-rapl:0:1", "dram", INTEL_RANGE, 1000);   /* 2 */
        fake_zone(f, NULL, "intel-rapl:1", "package-1", INTEL_RANGE, 5000000000ULL); /* 3 */
        fake_zone(f, "intel-rapl:1", "intel-rapl:1:0", "dram", INTEL_RANGE, 2000);   /* 4 */
        fake_zone(f, NULL, "intel-rapl:2", "psys", INTEL_RANGE, 0);                  /* 5 */
}

static void test_recording_wraps(void) {
        g_autoptr(Fake) f = fake_new();
        _cleanup_(energy_recording_freep) EnergyRecording *rec = NULL;
        _cleanup_(energy_window_done) EnergyWindow w = {};
        const EnergyTimeline *tl;
        uint64_t pkg0 = 900000, dram1 = 2000, t0 = 100 * SEC;
        size_t i_pkg0, i_dram1, i_psys;
        double e;

        /* package-0: modulus 1 J (max_energy_range_uj 999999), so 1 ms idle polling. */
        fake_two_sockets(f, 999999);
        fake_start(f, t0, 10);
        g_assert_true(energy_monitor_can_measure(f->m));
        g_assert_cmpuint(energy_monitor_n_zones(f->m), ==, 6);
        g_assert_cmpuint(energy_monitor_poll_period_ns(f->m), ==, 1 * MS);
        i_pkg0 = zone_index(f, "rapl:package-0");
        i_dram1 = zone_index(f, "rapl:dram-1");
        i_psys = zone_index(f, "rapl:psys");
        g_assert_cmpuint(zone(f, "rapl:package-0")->max_range_uj, ==, 1000000);

        g_assert_cmpint(energy_monitor_start_recording(f->m, &rec), ==, 0);
        g_assert_true(energy_monitor_is_recording(f->m));
        g_assert_true(energy_recording_is_active(rec));
        g_assert_cmpuint(energy_monitor_poll_period_ns(f->m), ==, 1 * MS);

        /* 20 samples, 10 ms apart: package-0 +0.3 J each (30 W, wrapping every 3-4 samples), dram-1
         * +0.05 J (5 W). */
        for (unsigned i = 1; i <= 20; i++) {
                pkg0 = (pkg0 + 300000) % 1000000;
                dram1 += 50000;
                fake_set(f, 0, pkg0);
                fake_set(f, 4, dram1);
                fake_sample(f, t0 + i * 10 * MS);
        }
        g_assert_cmpint(energy_monitor_stop_recording(f->m, rec), ==, 0);
        g_assert_false(energy_monitor_is_recording(f->m));
        g_assert_false(energy_recording_is_active(rec));
        g_assert_cmpint(energy_monitor_stop_recording(f->m, rec), ==, -EALREADY);

        /* Exact wrap-corrected totals since the monitor started. */
        g_assert_cmpuint(zone(f, "rapl:package-0")->total_uj, ==, 6000000);
        g_assert_cmpuint(zone(f, "rapl:package-0")->wraps, ==, 6);
        g_assert_cmpuint(zone(f, "rapl:dram-1")->total_uj, ==, 1000000);
        g_assert_cmpuint(energy_recording_wraps(rec), ==, 6);
        g_assert_cmpuint(energy_recording_gaps(rec), ==, 0);

        /* The first sample at start, 20 polls, the last at stop (same time as the 20th). */
        tl = energy_recording_timeline(rec);
        g_assert_cmpuint(energy_timeline_n_samples(tl), ==, 22);

        /* [t0 + 5 ms, t0 + 25 ms]: half of interval 1, interval 2, half of interval 3: 0.6 J. */
        g_assert_cmpint(energy_timeline_energy_uj(tl, i_pkg0, t0 + 5 * MS, t0 + 25 * MS, &e), ==, 0);
        g_assert_cmpfloat_with_epsilon(e, 600000, EPS);

        g_assert_cmpint(energy_recording_window(rec, t0 + 5 * MS, t0 + 25 * MS, &w), ==, 0);
        g_assert_cmpuint(w.n_zones, ==, 6);
        g_assert_cmpfloat_with_epsilon(w.zone_uj[i_pkg0], 600000, EPS);
        g_assert_cmpfloat_with_epsilon(w.zone_uj[i_dram1], 100000, EPS);
        g_assert_cmpfloat_with_epsilon(w.zone_uj[i_psys], 0, EPS);
        /* Summed: packages and drams; psys and core are not. */
        g_assert_cmpfloat_with_epsilon(w.summed_uj, 700000, EPS);
        g_assert_true(w.complete);
        energy_window_done(&w);

        /* The whole recording, clamped. */
        g_assert_cmpint(energy_recording_window(rec, 0, UINT64_MAX, &w), ==, 0);
        g_assert_cmpuint(w.t0_ns, ==, t0);
        g_assert_cmpuint(w.t1_ns, ==, t0 + 200 * MS);
        g_assert_cmpfloat_with_epsilon(w.summed_uj, 7000000, EPS);
        energy_window_done(&w);
        g_assert_cmpint(energy_recording_window(rec, t0 + 300 * MS, t0 + 400 * MS, &w), ==, -ERANGE);
}

static void test_reset_and_lost_zone(void) {
        g_autoptr(Fake) f = fake_new();
        _cleanup_(energy_recording_freep) EnergyRecording *rec = NULL;
        _cleanup_(energy_window_done) EnergyWindow w = {};
        g_autofree char *energy_uj = NULL;
        g_autoptr(json_t) status = NULL;
        json_t *src;
        size_t i_pkg1, i_dram0;
        uint64_t t0 = 50 * SEC;

        fake_two_sockets(f, INTEL_RANGE);
        fake_start(f, t0, 10);
        i_pkg1 = zone_index(f, "rapl:package-1");
        i_dram0 = zone_index(f, "rapl:dram-0");
        g_assert_cmpuint(energy_monitor_poll_period_ns(f->m), ==, 1 * SEC);

        g_assert_cmpint(energy_monitor_start_recording(f->m, &rec), ==, 0);

        /* package-1: +10 J, then a reset to 0.5 J, then +2 J. */
        fake_set(f, 3, 5010000000ULL);
        fake_sample(f, t0 + 1 * SEC);
        fake_set(f, 3, 500000);
        fake_sample(f, t0 + 2 * SEC);
        fake_set(f, 3, 2500000);
        /* dram-0 becomes unreadable (an empty read) at the same time. */
        fake_set(f, 2, 3000);
        energy_uj = g_build_filename(f->zone_dir[2], "energy_uj", NULL);
        fake_sample(f, t0 + 3 * SEC);
        write_text(energy_uj, "");
        fake_sample(f, t0 + 4 * SEC);
        g_assert_cmpint(energy_monitor_stop_recording(f->m, rec), ==, 0);

        g_assert_cmpuint(zone(f, "rapl:package-1")->total_uj, ==, 12000000);
        g_assert_cmpuint(zone(f, "rapl:package-1")->resets, ==, 1);
        g_assert_cmpuint(zone(f, "rapl:package-1")->gaps, ==, 1);
        g_assert_cmpuint(energy_recording_gaps(rec), ==, 1);
        g_assert_cmpuint(energy_recording_wraps(rec), ==, 0);

        g_assert_false(zone(f, "rapl:dram-0")->available);
        g_assert_cmpstr(zone(f, "rapl:dram-0")->reason, ==, "unreadable: No data available");
        g_assert_true(energy_monitor_can_measure(f->m));

        /* The lost zone is not 0 Wh but unknown, and the total says it is incomplete. */
        g_assert_cmpint(energy_recording_window(rec, 0, UINT64_MAX, &w), ==, 0);
        g_assert_true(isnan(w.zone_uj[i_dram0]));
        g_assert_false(w.complete);
        g_assert_cmpfloat_with_epsilon(w.zone_uj[i_pkg1], 12000000, EPS);
        g_assert_cmpfloat_with_epsilon(w.summed_uj, 12000000, EPS);

        status = energy_monitor_status_json(f->m);
        g_assert_nonnull(status);
        src = json_array_get(json_object_get(status, "sources"), i_dram0);
        g_assert_false(json_is_true(json_object_get(src, "available")));
        g_assert_cmpstr(json_string_value(json_object_get(src, "reason")), ==,
                        "unreadable: No data available");
        g_assert_null(json_object_get(src, "energy_uj"));
        src = json_array_get(json_object_get(status, "sources"), i_pkg1);
        g_assert_cmpint(json_integer_value(json_object_get(src, "energy_uj")), ==, 12000000);
        g_assert_cmpint(json_integer_value(json_object_get(src, "resets")), ==, 1);
        g_assert_cmpint(json_integer_value(json_object_get(src, "wraps")), ==, 0);
}

static void set_all(Fake *f, const uint64_t *v) {
        for (size_t i = 0; i < f->n; i++)
                fake_set(f, i, v[i]);
}

static void test_idle(void) {
        g_autoptr(Fake) f = fake_new();
        _cleanup_(energy_recording_freep) EnergyRecording *rec = NULL;
        g_autoptr(json_t) status = NULL;
        uint64_t v[6] = {900000, 0, 1000, 5000000000ULL, 2000, 0}, t = 1000 * SEC;
        /* Idle: package-0 6 W, core 3 W, dram-0 1 W, package-1 4 W, dram-1 1 W, psys 20 W. */
        const uint64_t idle_w[6] = {6, 3, 1, 4, 1, 20};
        double zw[6], summed = -1;

        fake_two_sockets(f, INTEL_RANGE);
        fake_start(f, t, 10);
        energy_monitor_set_idle_window(f->m, 10 * SEC, 2 * SEC);

        g_assert_cmpint(energy_monitor_idle_power(f->m, &summed, zw), ==, -ENODATA);
        status = energy_monitor_status_json(f->m);
        g_assert_null(json_object_get(status, "idle_w"));
        g_assert_cmpuint(json_object_size(json_object_get(status, "idle_zones")), ==, 0);
        g_assert_false(json_is_true(json_object_get(status, "measuring")));
        g_clear_pointer(&status, json_decref);

        /* 15 idle polls, 1 s apart. */
        for (unsigned i = 1; i <= 15; i++) {
                for (size_t z = 0; z < 6; z++)
                        v[z] += idle_w[z] * 1000000;
                set_all(f, v);
                fake_sample(f, t + i * SEC);
        }
        g_assert_cmpint(energy_monitor_idle_power(f->m, &summed, zw), ==, 0);
        /* Summed: packages and drams = 6 + 1 + 4 + 1. */
        g_assert_cmpfloat_with_epsilon(summed, 12, EPS);
        g_assert_cmpfloat_with_epsilon(zw[zone_index(f, "rapl:package-0")], 6, EPS);
        g_assert_cmpfloat_with_epsilon(zw[zone_index(f, "rapl:core-0")], 3, EPS);
        g_assert_cmpfloat_with_epsilon(zw[zone_index(f, "rapl:psys")], 20, EPS);

        /* A recording at 100 W on package-0: idle power stays the window before it. */
        t += 15 * SEC;
        g_assert_cmpint(energy_monitor_start_recording(f->m, &rec), ==, 0);
        for (unsigned i = 1; i <= 3; i++) {
                v[0] += 100000000;
                set_all(f, v);
                fake_sample(f, t + i * SEC);
        }
        g_assert_cmpint(energy_monitor_idle_power(f->m, &summed, NULL), ==, 0);
        g_assert_cmpfloat_with_epsilon(summed, 12, EPS);
        status = energy_monitor_status_json(f->m);
        g_assert_true(json_is_true(json_object_get(status, "measuring")));
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(status, "idle_w")), 12, EPS);
        g_clear_pointer(&status, json_decref);
        g_assert_cmpint(energy_monitor_stop_recording(f->m, rec), ==, 0);

        /* Cooling down (still 50 W) during the 2 s settle time: not idle. */
        t += 3 * SEC;
        v[0] += 50000000;
        set_all(f, v);
        fake_sample(f, t + 1 * SEC);
        g_assert_cmpint(energy_monitor_idle_power(f->m, &summed, NULL), ==, 0);
        g_assert_cmpfloat_with_epsilon(summed, 12, EPS);

        /* Quiet again, now at package-0 2 W: after 1 s of window the new value counts. */
        t += 2 * SEC;
        v[0] += 2000000;
        set_all(f, v);
        fake_sample(f, t);
        v[0] += 2000000;
        for (size_t z = 1; z < 6; z++)
                v[z] += idle_w[z] * 1000000;
        set_all(f, v);
        fake_sample(f, t + 1 * SEC);
        g_assert_cmpint(energy_monitor_idle_power(f->m, &summed, zw), ==, 0);
        g_assert_cmpfloat_with_epsilon(summed, 8, EPS);
        g_assert_cmpfloat_with_epsilon(zw[zone_index(f, "rapl:package-0")], 2, EPS);

        status = energy_monitor_status_json(f->m);
        g_assert_cmpfloat_with_epsilon(json_real_value(json_object_get(status, "idle_w")), 8, EPS);
        g_assert_cmpfloat_with_epsilon(
                json_real_value(json_object_get(json_object_get(status, "idle_zones"), "rapl:psys")), 20,
                EPS);
}

static void test_idle_sliding_window(void) {
        g_autoptr(Fake) f = fake_new();
        uint64_t v[6] = {900000, 0, 1000, 5000000000ULL, 2000, 0}, t = 10 * SEC;
        double summed = -1;

        fake_two_sockets(f, INTEL_RANGE);
        fake_start(f, t, 10);
        energy_monitor_set_idle_window(f->m, 10 * SEC, 2 * SEC);

        /* 20 s at 50 W on package-1, then 10 s at 10 W: a 10 s window sees only the last 10 W. */
        for (unsigned i = 1; i <= 30; i++) {
                v[3] += (i <= 20 ? 50 : 10) * 1000000ULL;
                set_all(f, v);
                fake_sample(f, t + i * SEC);
        }
        g_assert_cmpint(energy_monitor_idle_power(f->m, &summed, NULL), ==, 0);
        g_assert_cmpfloat_with_epsilon(summed, 10, EPS);
}

static void test_json(void) {
        g_autoptr(Fake) f = fake_new();
        g_autoptr(json_t) sources = NULL;
        g_autofree char *p = NULL;
        json_t *o;

        fake_two_sockets(f, INTEL_RANGE);
        p = g_build_filename(f->zone_dir[4], "energy_uj", NULL);
        g_assert_cmpint(unlink(p), ==, 0);
        fake_start(f, SEC, 10);

        sources = energy_monitor_sources_json(f->m);
        g_assert_true(json_is_array(sources));
        g_assert_cmpuint(json_array_size(sources), ==, 6);

        o = json_array_get(sources, 0);
        g_assert_cmpstr(json_string_value(json_object_get(o, "id")), ==, "rapl:package-0");
        g_assert_cmpstr(json_string_value(json_object_get(o, "source")), ==, "rapl");
        g_assert_cmpstr(json_string_value(json_object_get(o, "kind")), ==, "counter");
        g_assert_cmpstr(json_string_value(json_object_get(o, "domain")), ==, "package");
        g_assert_cmpstr(json_string_value(json_object_get(o, "name")), ==, "package-0");
        g_assert_true(json_is_false(json_object_get(o, "nested")));
        g_assert_true(json_is_true(json_object_get(o, "available")));
        g_assert_null(json_object_get(o, "reason"));
        g_assert_cmpint(json_integer_value(json_object_get(o, "socket")), ==, 0);

        o = json_array_get(sources, 1);
        g_assert_cmpstr(json_string_value(json_object_get(o, "id")), ==, "rapl:core-0");
        g_assert_true(json_is_true(json_object_get(o, "nested")));

        o = json_array_get(sources, 4);
        g_assert_cmpstr(json_string_value(json_object_get(o, "id")), ==, "rapl:dram-1");
        g_assert_true(json_is_false(json_object_get(o, "available")));
        g_assert_cmpstr(json_string_value(json_object_get(o, "reason")), ==, "missing");

        o = json_array_get(sources, 5);
        g_assert_cmpstr(json_string_value(json_object_get(o, "id")), ==, "rapl:psys");
        g_assert_true(json_is_true(json_object_get(o, "nested")));
        g_assert_null(json_object_get(o, "socket"));
}

static void test_cannot_measure(void) {
        g_autoptr(Fake) f = fake_new();
        _cleanup_(energy_recording_freep) EnergyRecording *rec = NULL;
        g_autofree char *p = NULL;

        /* Nothing at all. */
        g_assert_cmpint(energy_monitor_new(f->event, f->root, 10, &f->m), ==, 0);
        g_assert_cmpuint(energy_monitor_n_zones(f->m), ==, 0);
        g_assert_false(energy_monitor_can_measure(f->m));
        g_assert_cmpint(energy_monitor_start_recording(f->m, &rec), ==, -ENODEV);
        g_assert_cmpint(energy_monitor_idle_power(f->m, NULL, NULL), ==, -ENODEV);
        f->m = energy_monitor_free(f->m);

        /* Only psys readable: reported, but not a measurement. */
        fake_zone(f, NULL, "intel-rapl:0", "package-0", INTEL_RANGE, 1);
        fake_zone(f, NULL, "intel-rapl:1", "psys", INTEL_RANGE, 1);
        p = g_build_filename(f->zone_dir[0], "energy_uj", NULL);
        g_assert_cmpint(unlink(p), ==, 0);
        g_assert_cmpint(mkdir(p, 0755), ==, 0);
        g_assert_cmpint(energy_monitor_new(f->event, f->root, 10, &f->m), ==, 0);
        g_assert_cmpuint(energy_monitor_n_zones(f->m), ==, 2);
        g_assert_false(energy_monitor_can_measure(f->m));
        g_assert_cmpint(energy_monitor_start_recording(f->m, &rec), ==, -ENODEV);
        g_assert_cmpint(energy_monitor_measure_idle(f->m, 10, on_idle, NULL), ==, -ENODEV);
}

/* ---- real event loop ------------------------------------------------------------------------------ */

/* Runs the loop for @ms. Not sd_event_loop() + sd_event_exit(): a finished loop cannot be used
 * again, and the monitor keeps using it. */
static void run_loop_ms(Fake *f, unsigned ms) {
        uint64_t end = now_ns(CLOCK_MONOTONIC) + ms * MS, now;

        while ((now = now_ns(CLOCK_MONOTONIC)) < end)
                g_assert_cmpint(sd_event_run(f->event, (end - now) / 1000 + 1), >=, 0);
}

static void test_polling(void) {
        g_autoptr(Fake) f = fake_new();
        _cleanup_(energy_recording_freep) EnergyRecording *rec = NULL;
        uint64_t reads;
        size_t n;

        /* package-0 modulus 1 J: 1 ms idle polling. */
        fake_two_sockets(f, 999999);
        g_assert_cmpint(energy_monitor_new(f->event, f->root, 20, &f->m), ==, 0);
        g_assert_cmpuint(energy_monitor_poll_period_ns(f->m), ==, 1 * MS);

        reads = energy_monitor_n_reads(f->m);
        run_loop_ms(f, 100);
        g_test_message("1 ms idle polling: %" G_GUINT64_FORMAT " reads in 100 ms",
                       energy_monitor_n_reads(f->m) - reads);
        /* Lower bounds are loose: a loaded CI machine may delay timers, never advance them. */
        g_assert_cmpuint(energy_monitor_n_reads(f->m) - reads, >=, 10);
        g_assert_cmpuint(energy_monitor_n_reads(f->m) - reads, <=, 101);

        /* Real ranges: 1 s idle polling, SampleIntervalMs while recording. */
        fake_free(g_steal_pointer(&f));
        f = fake_new();
        fake_two_sockets(f, INTEL_RANGE);
        g_assert_cmpint(energy_monitor_new(f->event, f->root, 20, &f->m), ==, 0);
        g_assert_cmpuint(energy_monitor_poll_period_ns(f->m), ==, 1 * SEC);
        reads = energy_monitor_n_reads(f->m);
        run_loop_ms(f, 50);
        g_assert_cmpuint(energy_monitor_n_reads(f->m) - reads, ==, 0);

        g_assert_cmpint(energy_monitor_start_recording(f->m, &rec), ==, 0);
        g_assert_cmpuint(energy_monitor_poll_period_ns(f->m), ==, 20 * MS);
        run_loop_ms(f, 210);
        g_assert_cmpint(energy_monitor_stop_recording(f->m, rec), ==, 0);
        g_assert_cmpuint(energy_monitor_poll_period_ns(f->m), ==, 1 * SEC);
        n = energy_timeline_n_samples(energy_recording_timeline(rec));
        g_test_message("20 ms sampling for 210 ms: %zu samples", n);
        /* First + ~10 polls + last. */
        g_assert_cmpuint(n, >=, 4);
        g_assert_cmpuint(n, <=, 13);
}

static void test_measure_idle(void) {
        g_autoptr(Fake) f = fake_new();
        _cleanup_(energy_recording_freep) EnergyRecording *rec = NULL;
        IdleResultData d = {}, d2 = {};
        double summed;

        fake_two_sockets(f, INTEL_RANGE);
        g_assert_cmpint(energy_monitor_new(f->event, f->root, 10, &f->m), ==, 0);

        /* Counters do not move: a real 60 ms window of 0 W. */
        g_assert_cmpint(energy_monitor_measure_idle(f->m, 60, on_idle, &d), ==, 0);
        run_loop_ms(f, 150);
        g_assert_cmpint(d.calls, ==, 1);
        g_assert_cmpint(d.error, ==, 0);
        g_assert_cmpfloat_with_epsilon(d.summed, 0, EPS);
        g_assert_cmpfloat_with_epsilon(d.psys, 0, EPS);
        g_assert_cmpint(energy_monitor_idle_power(f->m, &summed, NULL), ==, 0);
        g_assert_cmpfloat_with_epsilon(summed, 0, EPS);

        /* A recording starting during the window spoils it. */
        d = (IdleResultData){};
        g_assert_cmpint(energy_monitor_measure_idle(f->m, 30, on_idle, &d), ==, 0);
        g_assert_cmpint(energy_monitor_start_recording(f->m, &rec), ==, 0);
        g_assert_cmpint(energy_monitor_measure_idle(f->m, 30, on_idle, &d2), ==, -EBUSY);
        run_loop_ms(f, 80);
        g_assert_cmpint(d.calls, ==, 1);
        g_assert_cmpint(d.error, ==, -EBUSY);
        g_assert_cmpint(energy_monitor_stop_recording(f->m, rec), ==, 0);

        /* Cancelled: no callback. */
        d = (IdleResultData){};
        g_assert_cmpint(energy_monitor_measure_idle(f->m, 10, on_idle, &d), ==, 0);
        g_assert_cmpint(energy_monitor_cancel_idle(f->m, on_idle, &d), ==, 1);
        run_loop_ms(f, 40);
        g_assert_cmpint(d.calls, ==, 0);

        /* Pending at free: dropped without a callback (ASan checks the timer is gone too). */
        g_assert_cmpint(energy_monitor_measure_idle(f->m, 10, on_idle, &d), ==, 0);
        f->m = energy_monitor_free(f->m);
        run_loop_ms(f, 30);
        g_assert_cmpint(d.calls, ==, 0);
}

static void test_recording_outlives_monitor(void) {
        g_autoptr(Fake) f = fake_new();
        _cleanup_(energy_recording_freep) EnergyRecording *rec = NULL;

        fake_two_sockets(f, INTEL_RANGE);
        fake_start(f, SEC, 10);
        g_assert_cmpint(energy_monitor_start_recording(f->m, &rec), ==, 0);
        fake_sample(f, 2 * SEC);
        f->m = energy_monitor_free(f->m);
        g_assert_false(energy_recording_is_active(rec));
        g_assert_cmpuint(energy_timeline_n_samples(energy_recording_timeline(rec)), ==, 2);
        g_assert_cmpuint(energy_recording_wraps(rec), ==, 0);
}

static void test_snapshot_cost(void) {
        g_autoptr(Fake) f = fake_new();
        uint64_t reads, ns;
        double per;

        /* 8 zones: two sockets of package/core/uncore/dram. */
        for (unsigned s = 0; s < 2; s++) {
                g_autofree char *pkg = g_strdup_printf("intel-rapl:%u", s);
                g_autofree char *name = g_strdup_printf("package-%u", s);
                const char *sub[] = {"core", "uncore", "dram"};

                fake_zone(f, NULL, pkg, name, INTEL_RANGE, 1000);
                for (unsigned i = 0; i < 3; i++) {
                        g_autofree char *e = g_strdup_printf("intel-rapl:%u:%u", s, i);

                        fake_zone(f, pkg, e, sub[i], INTEL_RANGE, 1000);
                }
        }
        g_assert_cmpint(energy_monitor_new(f->event, f->root, 10, &f->m), ==, 0);
        g_assert_cmpuint(energy_monitor_n_zones(f->m), ==, 8);

        reads = energy_monitor_n_reads(f->m);
        ns = energy_monitor_read_time_ns(f->m);
        for (unsigned i = 0; i < 5000; i++)
                g_assert_cmpint(energy_monitor_sample_now(f->m), ==, 0);
        per = (double) (energy_monitor_read_time_ns(f->m) - ns) /
              (double) (energy_monitor_n_reads(f->m) - reads);
        g_test_message("snapshot of 8 zones: %.2f us (mean of 5000, fake sysfs on %s)", per / 1000.0,
                       f->root);
        /* The target is ≤ 20 µs; sanitizer builds are several times slower, so the hard limit is loose. */
        g_assert_cmpfloat(per, <, 200000.0);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/energy-monitor/account-counter", test_account_counter);
        g_test_add_func("/energy-monitor/account-many-wraps", test_account_many_wraps);
        g_test_add_func("/energy-monitor/account-power", test_account_power);
        g_test_add_func("/energy-monitor/recording-wraps", test_recording_wraps);
        g_test_add_func("/energy-monitor/reset-and-lost-zone", test_reset_and_lost_zone);
        g_test_add_func("/energy-monitor/idle", test_idle);
        g_test_add_func("/energy-monitor/idle-sliding-window", test_idle_sliding_window);
        g_test_add_func("/energy-monitor/json", test_json);
        g_test_add_func("/energy-monitor/cannot-measure", test_cannot_measure);
        g_test_add_func("/energy-monitor/polling", test_polling);
        g_test_add_func("/energy-monitor/measure-idle", test_measure_idle);
        g_test_add_func("/energy-monitor/recording-outlives-monitor", test_recording_outlives_monitor);
        g_test_add_func("/energy-monitor/snapshot-cost", test_snapshot_cost);

        return g_test_run();
}
