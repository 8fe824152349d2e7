/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The energy of a result per component (every zone of every source), the total over the
 * non-overlapping ones, the whole-system cross-check (battery, else psys) and what the components do
 * not explain, the GPUs' processes, and the phases too short for a coarse counter.
 *
 * Keys added to a result's energy{} object:
 *   components        [{id, name, source, domain, kind, summed, available, state, reason (when not
 *                     measured), wh (when measured throughout), refresh_ms, refresh_at_least,
 *                     resolution_uj / resolution_uw, the source's facts (uuid, power_limit_w, pci,
 *                     driver, fallback, …), bounded (b), processes [{pid, name, used_memory_mib}] and
 *                     shared (b) for GPUs whose driver tells}]
 *                     refresh_ms: for a counter that changed less often than every 1.5 sample
 *                     intervals, the mean time between its changes during the recording (with
 *                     refresh_at_least when it changed less than twice: then a lower bound);
 *                     otherwise the documented refresh period of the source when there is one
 *                     (RAPL 1 ms; NVML power readings 1 s).
 *   components_wh     Σ wh of the summed components that were measured throughout (CPU packages,
 *                     dram, discrete GPUs) — the same total as total_wh
 *   system_zone, system_wh, system_covers ("all": a battery sees every component; "cpu": psys sees
 *                     the CPU packages and dram, not discrete GPUs), unexplained_wh = system_wh − the
 *                     components it covers (may be negative: sensor error)   — when a battery or psys
 *                     zone was measured throughout
 *   gpu_shared        true when a GPU was used by more than one process during the recording (only
 *                     when some GPU's driver tells which processes use it)
 *   bounded_estimates [{zone, phase, duration_ms, refresh_ms}]: a phase (or the whole run, "total")
 *                     shorter than the refresh period of a coarse zone (a counter refreshed more
 *                     slowly than it was sampled, or a power reading averaged over longer): its energy
 *                     there is interpolated, an estimate bounded by one refresh period's energy. */

#include <jansson.h>

#include "energy-monitor.h"

typedef struct EnergyPhase {
        const char *name;
        uint64_t t0_ns;
        uint64_t t1_ns; /* t1 == t0: empty, skipped */
} EnergyPhase;

/* Adds the keys above to @energy for the window [t0_ns, t1_ns] of @rec. Returns 0, -ENOMEM, or the
 * error of reading the window (then nothing is added). */
int energy_components_add_json(json_t *energy, EnergyMonitor *m, EnergyRecording *rec, uint64_t t0_ns,
                               uint64_t t1_ns, const EnergyPhase *phases, size_t n_phases);

/* The refresh period of zone @zone in @rec as described for refresh_ms above (0: unknown);
 * *ret_coarse when it is coarser than the sampling (then phases shorter than it are bounded
 * estimates), *ret_at_least when it is a lower bound. Exported for tests. */
uint64_t energy_components_refresh_ns(EnergyMonitor *m, EnergyRecording *rec, size_t zone, bool *ret_coarse,
                                      bool *ret_at_least);
