/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <math.h>

#include "energy-timeline.h"

#include <glib.h>

#define MS  (1000000ULL)
#define EPS 1e-9

static EnergyTimeline *timeline(size_t n_zones, const bool *summed) {
        EnergyTimeline *tl = NULL;

        g_assert_cmpint(energy_timeline_new(n_zones, summed, &tl), ==, 0);
        return tl;
}

static void append(EnergyTimeline *tl, uint64_t t, uint64_t a, uint64_t b) {
        uint64_t v[2] = {a, b};

        g_assert_cmpint(energy_timeline_append(tl, t, v), ==, 0);
}

static double energy(EnergyTimeline *tl, size_t zone, uint64_t t0, uint64_t t1) {
        double e = -1;

        g_assert_cmpint(energy_timeline_energy_uj(tl, zone, t0, t1, &e), ==, 0);
        return e;
}

static void test_interpolation(void) {
        _cleanup_(energy_timeline_freep) EnergyTimeline *tl = NULL;
        bool summed[2] = {true, false};

        tl = timeline(2, summed);
        /* Zone 0: 100 W then 200 W; zone 1: 50 W. */
        append(tl, 1000 * MS, 5000000, 700);
        append(tl, 1010 * MS, 6000000, 500700);
        append(tl, 1020 * MS, 8000000, 1000700);

        /* At the samples themselves. */
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 1000 * MS, 1010 * MS), 1000000, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 1000 * MS, 1020 * MS), 3000000, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 1, 1010 * MS, 1020 * MS), 500000, EPS);
        /* Between samples: E(1005) = 5.5e6, E(1015) = 7e6. */
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 1005 * MS, 1015 * MS), 1500000, EPS);
        /* 2.5 ms into the second interval: 0.25 × 2e6. */
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 1010 * MS, 1012 * MS + 500000), 500000, EPS);
        /* An empty window. */
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 1007 * MS, 1007 * MS), 0, EPS);
        /* The sum of summed zones is zone 0 alone. */
        g_assert_cmpfloat_with_epsilon(energy(tl, ENERGY_ALL_SUMMED, 1005 * MS, 1015 * MS), 1500000, EPS);
}

static void test_clamp_and_errors(void) {
        _cleanup_(energy_timeline_freep) EnergyTimeline *tl = NULL;
        bool summed[2] = {true, true};
        uint64_t t0 = 0, t1 = 0, v[2] = {1, 1};
        double e = 0, zone[2];

        tl = timeline(2, summed);
        g_assert_cmpint(energy_timeline_energy_uj(tl, 0, 0, 10, &e), ==, -ENODATA);
        g_assert_cmpint(energy_timeline_range(tl, &t0, &t1), ==, -ENODATA);

        append(tl, 100 * MS, 1000, 10);
        append(tl, 200 * MS, 3000, 20);

        /* Clamped to the recorded range. */
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 0, 1000 * MS), 2000, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 50 * MS, 150 * MS), 1000, EPS);
        g_assert_cmpint(energy_timeline_energy_all(tl, 50 * MS, 500 * MS, zone, &e, &t0, &t1), ==, 0);
        g_assert_cmpuint(t0, ==, 100 * MS);
        g_assert_cmpuint(t1, ==, 200 * MS);
        g_assert_cmpfloat_with_epsilon(zone[0], 2000, EPS);
        g_assert_cmpfloat_with_epsilon(zone[1], 10, EPS);
        g_assert_cmpfloat_with_epsilon(e, 2010, EPS);
        /* Touching an edge is inside (zero energy). */
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 0, 100 * MS), 0, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 200 * MS, 300 * MS), 0, EPS);

        /* Completely outside, reversed, unknown zone. */
        g_assert_cmpint(energy_timeline_energy_uj(tl, 0, 0, 99 * MS, &e), ==, -ERANGE);
        g_assert_cmpint(energy_timeline_energy_uj(tl, 0, 201 * MS, 300 * MS, &e), ==, -ERANGE);
        g_assert_cmpint(energy_timeline_energy_uj(tl, 0, 150 * MS, 120 * MS, &e), ==, -EINVAL);
        g_assert_cmpint(energy_timeline_energy_uj(tl, 2, 100 * MS, 120 * MS, &e), ==, -EINVAL);

        /* Appends that would break the order are refused, and change nothing. */
        g_assert_cmpint(energy_timeline_append(tl, 199 * MS, (uint64_t[]){4000, 30}), ==, -EINVAL);
        g_assert_cmpint(energy_timeline_append(tl, 300 * MS, (uint64_t[]){2999, 30}), ==, -EINVAL);
        g_assert_cmpuint(energy_timeline_n_samples(tl), ==, 2);
        /* Equal time is fine (a sample at an event right after a poll). */
        g_assert_cmpint(energy_timeline_append(tl, 200 * MS, (uint64_t[]){3000, 20}), ==, 0);
        g_assert_cmpuint(energy_timeline_n_samples(tl), ==, 3);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 150 * MS, 200 * MS), 1000, EPS);

        g_assert_cmpint(energy_timeline_range(tl, &t0, &t1), ==, 0);
        g_assert_cmpuint(t0, ==, 100 * MS);
        g_assert_cmpuint(t1, ==, 200 * MS);
        g_assert_cmpint(energy_timeline_sample(tl, 3, &t0, v), ==, -ERANGE);
}

static void test_blocks(void) {
        _cleanup_(energy_timeline_freep) EnergyTimeline *tl = NULL;
        bool summed[2] = {true, true};

        tl = timeline(2, summed);
        /* 1000 samples over many blocks; zone 0 grows by i² (varying deltas), zone 1 has a huge
         * base beyond 2^53 with small steps (differences must stay exact). */
        for (uint64_t i = 0; i < 1000; i++)
                append(tl, 5000 * MS + i * 10 * MS + (i % 3), i * i * 1000, (UINT64_C(1) << 60) + i * 7);

        g_assert_cmpuint(energy_timeline_n_samples(tl), ==, 1000);
        for (size_t i = 0; i < 1000; i += 37) {
                uint64_t t, v[2];

                g_assert_cmpint(energy_timeline_sample(tl, i, &t, v), ==, 0);
                g_assert_cmpuint(t, ==, 5000 * MS + i * 10 * MS + (i % 3));
                g_assert_cmpuint(v[0], ==, (uint64_t) i * i * 1000);
                g_assert_cmpuint(v[1], ==, (UINT64_C(1) << 60) + i * 7);
        }

        /* Sample-aligned windows across block boundaries, against the known totals. */
        for (uint64_t a = 0; a < 999; a += 61)
                for (uint64_t b = a; b < 1000; b += 97) {
                        uint64_t ta = 5000 * MS + a * 10 * MS + (a % 3),
                                 tb = 5000 * MS + b * 10 * MS + (b % 3);

                        g_assert_cmpfloat_with_epsilon(energy(tl, 0, ta, tb),
                                                       (double) (b * b - a * a) * 1000, EPS);
                        g_assert_cmpfloat_with_epsilon(energy(tl, 1, ta, tb), (double) (b - a) * 7, EPS);
                }

        /* Midway between samples 63 and 64 (a block boundary): zone 0 is 63² k + ½ (64² − 63²) k. */
        {
                uint64_t t63 = 5000 * MS + 630 * MS + 0, t64 = 5000 * MS + 640 * MS + 1;
                uint64_t tm = t63 + (t64 - t63) / 2; /* t64 − t63 is odd: not exactly half */
                double f = (double) (tm - t63) / (double) (t64 - t63);

                g_assert_cmpfloat_with_epsilon(energy(tl, 0, 5000 * MS, tm),
                                               63.0 * 63 * 1000 + f * 127 * 1000, 1e-6);
        }
}

static void test_power_series(void) {
        _cleanup_(energy_timeline_freep) EnergyTimeline *tl = NULL;
        g_autofree EnergyPowerPoint *p = NULL;
        bool summed[2] = {true, true};
        size_t n = 0;

        tl = timeline(2, summed);
        g_assert_cmpint(energy_timeline_power_series(tl, 0, 0, &p, &n), ==, 0);
        g_assert_cmpuint(n, ==, 0);

        /* 100 W for 10 ms, a duplicate sample, then 300 W for 20 ms; zone 1 constant 10 W. */
        append(tl, 0, 0, 0);
        append(tl, 10 * MS, 1000000, 100000);
        append(tl, 10 * MS, 1000000, 100000);
        append(tl, 30 * MS, 7000000, 300000);

        g_assert_cmpint(energy_timeline_power_series(tl, 0, 0, &p, &n), ==, 0);
        g_assert_cmpuint(n, ==, 2);
        g_assert_cmpuint(p[0].t0_ns, ==, 0);
        g_assert_cmpuint(p[0].t1_ns, ==, 10 * MS);
        g_assert_cmpfloat_with_epsilon(p[0].watts, 100, EPS);
        g_assert_cmpuint(p[1].t0_ns, ==, 10 * MS);
        g_assert_cmpuint(p[1].t1_ns, ==, 30 * MS);
        g_assert_cmpfloat_with_epsilon(p[1].watts, 300, EPS);
        g_clear_pointer(&p, free);

        /* Bins of 8 ms: [0,8) 100 W; [8,16) 2 ms at 100 + 6 ms at 300 → 250 W; [16,24) 300 W;
         * [24,30) 300 W (short). Summed zones add 10 W. */
        g_assert_cmpint(energy_timeline_power_series(tl, ENERGY_ALL_SUMMED, 8 * MS, &p, &n), ==, 0);
        g_assert_cmpuint(n, ==, 4);
        g_assert_cmpfloat_with_epsilon(p[0].watts, 110, 1e-6);
        g_assert_cmpfloat_with_epsilon(p[1].watts, 260, 1e-6);
        g_assert_cmpfloat_with_epsilon(p[2].watts, 310, 1e-6);
        g_assert_cmpuint(p[3].t0_ns, ==, 24 * MS);
        g_assert_cmpuint(p[3].t1_ns, ==, 30 * MS);
        g_assert_cmpfloat_with_epsilon(p[3].watts, 310, 1e-6);

        g_assert_cmpint(energy_timeline_power_series(tl, 5, 0, &p, &n), ==, -EINVAL);
}

static void test_compact(void) {
        _cleanup_(energy_timeline_freep) EnergyTimeline *tl = NULL;
        bool summed[8] = {true, false, false, true, true, false, false, true};
        uint64_t v[8] = {}, t = 0;
        GRand *rand = g_rand_new_with_seed(42);
        double e, watts[8] = {65, 40, 5, 4, 70, 45, 6, 4};
        size_t bytes;

        /* 60 s at 10 ms, 8 zones (two sockets of package/core/uncore/dram), noisy power and jittery
         * timer: what a one-minute measured run stores. */
        tl = timeline(8, summed);
        for (unsigned i = 0; i < 6000; i++) {
                uint64_t dt = 10 * MS + (uint64_t) g_rand_int_range(rand, 0, 200000);

                if (i > 0) {
                        t += dt;
                        for (size_t z = 0; z < 8; z++)
                                v[z] += (uint64_t) (watts[z] * (double) dt / 1000.0 *
                                                    g_rand_double_range(rand, 0.8, 1.2));
                }
                g_assert_cmpint(energy_timeline_append(tl, t, v), ==, 0);
        }

        bytes = energy_timeline_memory_bytes(tl);
        g_test_message("60 s at 10 ms, 8 zones: %zu bytes (%.1f per sample; plain uint64: %zu)", bytes,
                       (double) bytes / 6000, (size_t) 6000 * 9 * 8);
        g_assert_cmpuint(bytes, <, 200 * 1024);

        g_assert_cmpint(energy_timeline_energy_uj(tl, ENERGY_ALL_SUMMED, 0, t, &e), ==, 0);
        g_assert_cmpfloat_with_epsilon(e, (double) (v[0] + v[3] + v[4] + v[7]), EPS);
        g_rand_free(rand);
}

/* A counter refreshed every 50 ms, sampled every 10 ms (zone 0, stepwise), next to one that changes at
 * every sample (zone 1, plain). */
static void test_stepwise(void) {
        _cleanup_(energy_timeline_freep) EnergyTimeline *tl = NULL;
        bool summed[2] = {true, true};
        uint64_t t;
        size_t n = 0;
        uint64_t first = 0, last = 0;

        tl = timeline(2, summed);
        g_assert_cmpint(energy_timeline_set_stepwise(tl, 2, 1), ==, -EINVAL);
        g_assert_cmpint(energy_timeline_set_stepwise(tl, 0, 1000 * MS), ==, 0);
        g_assert_cmpuint(energy_timeline_zone_stepwise(tl, 0), ==, 1000 * MS);
        g_assert_cmpuint(energy_timeline_zone_stepwise(tl, 1), ==, 0);

        /* 100 W: zone 0 shows the energy of the last multiple of 50 ms, zone 1 the exact energy; 200
         * samples span 3 blocks. From 2000 ms on, zone 0 stays flat. */
        for (t = 0; t <= 2100 * MS; t += 10 * MS) {
                uint64_t shown = MIN(t, 2000 * MS) / (50 * MS) * (50 * MS);

                append(tl, t, shown / 10, t / 10);
        }

        /* Between change points the counter is interpolated: exact for constant power. */
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 10 * MS, 30 * MS), 2000000, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 625 * MS, 1315 * MS), 69000000, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 25 * MS, 1940 * MS), 191500000, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 1, 25 * MS, 1940 * MS), 191500000, EPS);
        /* The sum uses the interpolated values too. */
        g_assert_cmpfloat_with_epsilon(energy(tl, ENERGY_ALL_SUMMED, 25 * MS, 1940 * MS), 383000000, EPS);
        /* After the last change (2000 ms) the counter was not refreshed again: a tail shorter than
         * max_step goes on at the rate of the period before (1950 → 2000 ms: 100 W)… */
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 2000 * MS, 2100 * MS), 10000000, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 1990 * MS, 2100 * MS), 11000000, EPS);
        /* …a longer one means the zone stopped: flat. */
        g_assert_cmpint(energy_timeline_set_stepwise(tl, 0, 50 * MS), ==, 0);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 2000 * MS, 2100 * MS), 0, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 1990 * MS, 2100 * MS), 1000000, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 25 * MS, 1940 * MS), 191500000, EPS);

        /* The jump is spread over at most max_step before the change: with 20 ms, E(10..30) is 0
         * and all of [0, 50]'s energy falls into [30, 50]. */
        g_assert_cmpint(energy_timeline_set_stepwise(tl, 0, 20 * MS), ==, 0);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 10 * MS, 30 * MS), 0, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 30 * MS, 40 * MS), 2500000, EPS);

        /* Plain again: flat between the samples that show the same value. */
        g_assert_cmpint(energy_timeline_set_stepwise(tl, 0, 0), ==, 0);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 10 * MS, 30 * MS), 0, EPS);
        g_assert_cmpfloat_with_epsilon(energy(tl, 0, 40 * MS, 50 * MS), 5000000, EPS);

        /* Changes: zone 0 every 50 ms (40 of them up to 2000 ms), zone 1 at every sample. */
        g_assert_cmpint(energy_timeline_zone_changes(tl, 0, 0, 2100 * MS, &n, &first, &last), ==, 0);
        g_assert_cmpuint(n, ==, 40);
        g_assert_cmpuint(first, ==, 50 * MS);
        g_assert_cmpuint(last, ==, 2000 * MS);
        g_assert_cmpint(energy_timeline_zone_changes(tl, 1, 0, 2100 * MS, &n, &first, &last), ==, 0);
        g_assert_cmpuint(n, ==, 210);
        g_assert_cmpint(energy_timeline_zone_changes(tl, 0, 640 * MS, 960 * MS, &n, &first, &last), ==, 0);
        g_assert_cmpuint(n, ==, 7);
        g_assert_cmpuint(first, ==, 650 * MS);
        g_assert_cmpuint(last, ==, 950 * MS);
        g_assert_cmpint(energy_timeline_zone_changes(tl, 2, 0, 1, &n, NULL, NULL), ==, -EINVAL);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/energy-timeline/interpolation", test_interpolation);
        g_test_add_func("/energy-timeline/clamp-and-errors", test_clamp_and_errors);
        g_test_add_func("/energy-timeline/blocks", test_blocks);
        g_test_add_func("/energy-timeline/power-series", test_power_series);
        g_test_add_func("/energy-timeline/compact", test_compact);
        g_test_add_func("/energy-timeline/stepwise", test_stepwise);

        return g_test_run();
}
