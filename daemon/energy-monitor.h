/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The energy monitor: owns every energy source and zone, polls them from sd-event often enough that
 * no counter wrap is missed, keeps a wrap-safe 64-bit running total per zone, tracks idle power
 * while nothing is measured, and records energy timelines for measured runs.
 *
 * Polling. While no recording is active the zones are read every idle period, the shortest
 * poll_period_ns of the available zones (see energy_counter_poll_period_ns(): 1 s for real RAPL
 * counters). While at least one recording is active they are read every SampleIntervalMs (or
 * faster, if a zone's wrap safety demands it), and at every event through
 * energy_monitor_sample_now().
 *
 * Wrap or reset. Each reading of a counter is compared with the previous one. Going forward by d
 * µJ, or backward such that a wrap implies d = modulus − last + raw, is accepted when d is
 * plausible for the elapsed time: d ≤ ENERGY_PLAUSIBLE_MAX_W × (Δt + ENERGY_PLAUSIBLE_SLACK_NS).
 * That bound is 10× the polling design power, so a real burst is never mistaken for a reset. A
 * backward step that is not a plausible wrap is a reset (driver reload, suspend/resume, firmware):
 * counted in resets and gaps, nothing added, the new value becomes the baseline. A forward step
 * that is implausibly large is a jump (e.g. across a suspend, which CLOCK_MONOTONIC does not
 * count): counted in gaps, nothing added. Either way at most one poll period of energy is lost, and
 * the gap is visible in the zone's and the recording's counters. (With a tiny modulus, below the
 * plausibility bound, every backward step is a wrap: resets cannot be told apart there, which is
 * why real counters have ranges of tens of kJ.)
 *
 * Idle power. Samples taken while no recording is active feed a sliding window of the last
 * IdleWindowSec (default 30 s), kept as at most 64 checkpoints. A recording starting freezes the
 * current window as the last idle result and clears it; after a recording ends, samples only count
 * again after a settle time (default 2 s). A gap, a reset or a zone lost also restarts the
 * window. A window must span at least min(1 s, IdleWindowSec) to count. */

#include <jansson.h>
#include <systemd/sd-event.h>

#include "energy-source.h"
#include "energy-timeline.h"

#define ENERGY_SAMPLE_INTERVAL_MS_DEFAULT 10u
#define ENERGY_IDLE_WINDOW_SEC_DEFAULT    30u
#define ENERGY_IDLE_SETTLE_MS_DEFAULT     2000u
#define ENERGY_PLAUSIBLE_MAX_W            5000u
#define ENERGY_PLAUSIBLE_SLACK_NS         (10 * NSEC_PER_MSEC)
/* How far back the jump of a stepwise counter whose refresh period is unknown may be spread. */
#define ENERGY_STEPWISE_UNKNOWN_MAX_NS (60 * NSEC_PER_SEC)

typedef struct EnergyMonitor EnergyMonitor;
typedef struct EnergyRecording EnergyRecording;

/* What one reading did to a zone's running total. */
typedef enum EnergyStep {
        ENERGY_STEP_FIRST,  /* first reading: baseline only */
        ENERGY_STEP_OK,     /* counted */
        ENERGY_STEP_WRAP,   /* counted across a wrap */
        ENERGY_STEP_RESET,  /* went back, not a wrap: not counted (resets++, gaps++) */
        ENERGY_STEP_JUMP,   /* implausibly far forward: not counted (gaps++) */
        ENERGY_STEP_REBASE, /* the source switched counters: not counted (gaps++) */
} EnergyStep;

/* The accounting rule for one reading (raw µJ for counters, µW for integrated-power zones), at
 * CLOCK_MONOTONIC @t_ns. Pure; exported for tests. */
EnergyStep energy_zone_account(EnergyZone *z, uint64_t raw, uint64_t t_ns, bool rebase);

/* Test seam: where the monitor takes sample timestamps from (default: CLOCK_MONOTONIC). */
typedef uint64_t (*energy_clock_fn)(void *userdata);

int energy_monitor_new(sd_event *e, const char *sysfs_root, unsigned sample_interval_ms,
                       EnergyMonitor **ret);
EnergyMonitor *energy_monitor_free(EnergyMonitor *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(EnergyMonitor *, energy_monitor_free);

/* Replaces the clock (NULL: back to CLOCK_MONOTONIC). Re-baselines every zone (totals are kept,
 * the next reading is a first one) and restarts the idle window. -EBUSY while recording. */
int energy_monitor_set_clock(EnergyMonitor *m, energy_clock_fn clock, void *userdata);
/* IdleWindowSec and the settle time after a recording. */
void energy_monitor_set_idle_window(EnergyMonitor *m, uint64_t window_ns, uint64_t settle_ns);

/* At least one summed zone (package, dram or discrete GPU) is available. */
bool energy_monitor_can_measure(EnergyMonitor *m);
size_t energy_monitor_n_zones(EnergyMonitor *m);
const EnergyZone *energy_monitor_zone(EnergyMonitor *m, size_t i);
bool energy_monitor_is_recording(EnergyMonitor *m);
uint64_t energy_monitor_sample_interval_ns(EnergyMonitor *m);
/* The current polling period (idle period or sample interval). */
uint64_t energy_monitor_poll_period_ns(EnergyMonitor *m);

/* Self-cost: snapshots taken and the wall time spent in them (ns, CLOCK_MONOTONIC). */
uint64_t energy_monitor_n_reads(EnergyMonitor *m);
uint64_t energy_monitor_read_time_ns(EnergyMonitor *m);

/* The EnergySources property: one object per zone with id, source, kind ("counter" or
 * "integrated-power"), domain, summed, nested (= not summed), available, state ("available",
 * "unavailable" since start-up, or "lost": became unreadable later), reason (when not available),
 * name, socket and device (when known), resolution_uj (counters) or resolution_uw (integrated power),
 * refresh_ms (when known), plus the source's own facts (GPUs: uuid, power_limit_w, pci, driver,
 * fallback, …). */
json_t *energy_monitor_sources_json(EnergyMonitor *m);

/* "available", "unavailable" or "lost". */
const char *energy_zone_state(const EnergyZone *z);
/* Adds resolution_uj / resolution_uw and refresh_ms (when known) to @o. */
int energy_zone_json_add_resolution(json_t *o, const EnergyZone *z);
/* GetEnergyStatus: {sources: [… + energy_uj (available zones only), wraps, resets, gaps],
 * idle_w (when known), idle_zones: {id: W}, measuring}. */
json_t *energy_monitor_status_json(EnergyMonitor *m);

/* Reads all zones now; appends a sample to every active recording (or to the idle window). */
int energy_monitor_sample_now(EnergyMonitor *m);

/* Starts a recording: switches to SampleIntervalMs polling and takes a first sample. -ENODEV when
 * no summed zone is available. */
int energy_monitor_start_recording(EnergyMonitor *m, EnergyRecording **ret);
/* Takes a last sample and stops; back to idle polling when no recording is left. The recording
 * stays readable until freed. -EALREADY when not active. */
int energy_monitor_stop_recording(EnergyMonitor *m, EnergyRecording *rec);

/* Stops the recording if still active. */
EnergyRecording *energy_recording_free(EnergyRecording *rec);
DEFINE_TRIVIAL_CLEANUP_FUNC(EnergyRecording *, energy_recording_free);

const EnergyTimeline *energy_recording_timeline(EnergyRecording *rec);
bool energy_recording_is_active(EnergyRecording *rec);
/* Zone @zone was available from the start to the end of the recording (its energy is known). */
bool energy_recording_zone_measured(EnergyRecording *rec, size_t zone);
/* The processes seen using zone @zone (a GPU) at the start or the end of the recording, each pid
 * once (borrowed, valid until the recording is freed). -EOPNOTSUPP when its source cannot tell. */
int energy_recording_processes(EnergyRecording *rec, size_t zone, const EnergyProcess **ret, size_t *ret_n);

/* Wraps and gaps seen while recording, all zones together. */
unsigned energy_recording_wraps(EnergyRecording *rec);
unsigned energy_recording_gaps(EnergyRecording *rec);

typedef struct EnergyWindow {
        uint64_t t0_ns; /* the window used, clamped to the recording */
        uint64_t t1_ns;
        double summed_uj; /* over the summed zones available throughout the recording */
        size_t n_zones;
        double *zone_uj; /* n_zones; NAN for a zone that was not available throughout */
        bool complete;   /* false when a summed zone was lost during the recording */
} EnergyWindow;

void energy_window_done(EnergyWindow *w);

/* Energy of [t0_ns, t1_ns] from the recording's timeline (see energy_timeline_energy_all()).
 * Release @ret with energy_window_done(). */
int energy_recording_window(EnergyRecording *rec, uint64_t t0_ns, uint64_t t1_ns, EnergyWindow *ret);

/* The current idle power: of the summed zones and, when @ret_zone_w is non-NULL, of every zone
 * (n_zones, NAN for unavailable ones). -ENODATA when no idle window has been seen yet, -ENODEV
 * when no zone is available. */
int energy_monitor_idle_power(EnergyMonitor *m, double *ret_summed_w, double *ret_zone_w);

/* Result of energy_monitor_measure_idle(): @error is 0, -EBUSY (a recording started during the
 * window), -ESTALE (a counter reset or jump during the window) or -ENODEV (the summed zones were
 * lost). @zone_w has n_zones entries, NAN for unavailable zones. */
typedef void (*energy_idle_cb)(EnergyMonitor *m, int error, double summed_w, const double *zone_w,
                               void *userdata);

/* Measures a fresh idle window of @duration_ms now, asynchronously: samples now and when the window
 * ends (an sd-event timer), then calls @cb. The result also becomes the monitor's idle power.
 * -EBUSY while recording, -ENODEV when nothing can be measured. Pending measurements are dropped
 * without a callback when the monitor is freed, or by energy_monitor_cancel_idle(). */
int energy_monitor_measure_idle(EnergyMonitor *m, unsigned duration_ms, energy_idle_cb cb, void *userdata);
/* Cancels the pending measurements with this callback and userdata; returns how many. */
int energy_monitor_cancel_idle(EnergyMonitor *m, energy_idle_cb cb, void *userdata);
