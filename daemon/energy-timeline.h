/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The energy timeline of a recording: samples of (CLOCK_MONOTONIC ns, cumulative µJ of every zone),
 * appended in time order. Pure: no I/O, no clock.
 *
 * Energy over any window [t0, t1] is E(t1) − E(t0), where E(t) is the cumulative total linearly
 * interpolated between the two samples around t. A window that reaches beyond the recorded range
 * is clamped to it (the energy outside it is unknown, and callers anchor their windows on events
 * that were themselves sampled); a window that lies completely outside is -ERANGE.
 *
 * Stepwise zones. Some counters are refreshed by the hardware more slowly than they are sampled (NVML
 * energy every 20–100 ms, battery energy_now every few seconds): they stay flat for several samples,
 * then jump by the energy of the whole refresh period. Interpolating between neighbouring samples would
 * put all of that energy into the last sample interval. For a zone marked stepwise the cumulative
 * total at t is instead interpolated between the change points around t (the first sample that showed
 * each value), the energy of a jump being spread over at most max_step_ns before it (so that a zone
 * that really drew nothing for a while is not smeared across that time). Where the value changes at
 * every sample this is the same as plain interpolation. After the last change (the counter has not
 * been refreshed again before the recording ended) the total goes on at the rate of the refresh
 * period before it, as long as that tail is shorter than max_step; a longer tail is flat (the zone
 * stopped drawing).
 *
 * Storage is compact: samples are kept in blocks of 64, each block holding its first sample in
 * full and every further sample as LEB128 varint deltas (time and each zone) from the previous
 * one. A 10 ms sample of 8 zones at tens of watts costs about 30 bytes instead of 72. */

#include "macro.h"

typedef struct EnergyTimeline EnergyTimeline;

/* Zone index meaning "the sum of the summed zones" (see energy_timeline_new()). */
#define ENERGY_ALL_SUMMED ((size_t) -1)

typedef struct EnergyPowerPoint {
        uint64_t t0_ns;
        uint64_t t1_ns;
        double watts; /* mean power over [t0_ns, t1_ns] */
} EnergyPowerPoint;

/* @summed: n_zones flags, which zones make up ENERGY_ALL_SUMMED (NULL: none). */
int energy_timeline_new(size_t n_zones, const bool *summed, EnergyTimeline **ret);
EnergyTimeline *energy_timeline_free(EnergyTimeline *tl);
DEFINE_TRIVIAL_CLEANUP_FUNC(EnergyTimeline *, energy_timeline_free);

/* Marks @zone stepwise with the given maximal spread (see above); 0 makes it plain again. */
int energy_timeline_set_stepwise(EnergyTimeline *tl, size_t zone, uint64_t max_step_ns);
uint64_t energy_timeline_zone_stepwise(const EnergyTimeline *tl, size_t zone);

/* Appends a sample: @uj holds n_zones cumulative totals. Time must not go back (equal is fine) and
 * no total may decrease: -EINVAL, and nothing is appended. */
int energy_timeline_append(EnergyTimeline *tl, uint64_t t_ns, const uint64_t *uj);

size_t energy_timeline_n_zones(const EnergyTimeline *tl);
size_t energy_timeline_n_samples(const EnergyTimeline *tl);
bool energy_timeline_zone_summed(const EnergyTimeline *tl, size_t zone);

/* Sample @i (decoded): its time and, when @ret_uj is non-NULL, its n_zones totals. */
int energy_timeline_sample(const EnergyTimeline *tl, size_t i, uint64_t *ret_t_ns, uint64_t *ret_uj);

/* Time of the first and last sample; -ENODATA when empty. */
int energy_timeline_range(const EnergyTimeline *tl, uint64_t *ret_first_ns, uint64_t *ret_last_ns);

/* Energy of @zone (or ENERGY_ALL_SUMMED) over [t0_ns, t1_ns], clamped to the recorded range.
 * -EINVAL when t1 < t0 or the zone does not exist, -ENODATA when empty, -ERANGE when the window
 * lies completely outside the recorded range. */
int energy_timeline_energy_uj(const EnergyTimeline *tl, size_t zone, uint64_t t0_ns, uint64_t t1_ns,
                              double *ret);

/* All zones at once: @ret_zone_uj (n_zones) and/or the summed total; the window actually used
 * (after clamping) in ret_t0_ns/ret_t1_ns. Any out-parameter may be NULL. */
int energy_timeline_energy_all(const EnergyTimeline *tl, uint64_t t0_ns, uint64_t t1_ns, double *ret_zone_uj,
                               double *ret_summed_uj, uint64_t *ret_t0_ns, uint64_t *ret_t1_ns);

/* How often @zone's value changed within [t0_ns, t1_ns]: the number of samples in the window whose
 * value differs from the sample before, and the times of the first and last of them (0 when none).
 * A counter that changes at every sample changed as often as it was sampled; one that changes less
 * often is refreshed about every (last − first) / (n − 1). -EINVAL for a bad zone or t1 < t0. */
int energy_timeline_zone_changes(const EnergyTimeline *tl, size_t zone, uint64_t t0_ns, uint64_t t1_ns,
                                 size_t *ret_n, uint64_t *ret_first_ns, uint64_t *ret_last_ns);

/* Mean power of @zone (or ENERGY_ALL_SUMMED) for plots: with @bin_ns == 0 one point per interval
 * between two samples (intervals of zero length are skipped); otherwise one point per bin of
 * @bin_ns from the first sample on (the last bin may be shorter). Empty when < 2 samples. */
int energy_timeline_power_series(const EnergyTimeline *tl, size_t zone, uint64_t bin_ns,
                                 EnergyPowerPoint **ret, size_t *ret_n);

/* Heap bytes held by @tl (for the compactness test and the daemon's self-report). */
size_t energy_timeline_memory_bytes(const EnergyTimeline *tl);
