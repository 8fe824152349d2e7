/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The energy source interface and the zone model.
 *
 * An EnergySource (RAPL via powercap, NVIDIA GPUs via NVML, AMD/Intel GPUs via hwmon, batteries) is a C
 * struct of function pointers, EnergySourceOps, plus the zones it found when probed. A zone is one thing
 * that can be measured: a RAPL domain of one socket, a GPU, a battery. Zones come in two kinds:
 *
 *   counter           the hardware keeps a cumulative energy counter; the source returns its raw
 *                     value in µJ. It may wrap (max_range_uj > 0) and may be reset.
 *   integrated-power  the hardware only reports power; the source returns µW and the monitor
 *                     integrates it over time (trapezoids between polls).
 *
 * Sources only discover zones and read raw values. The wrap-safe 64-bit accounting, polling and
 * recordings live in energy-monitor.c, one place for every source.
 *
 * Ids are stable across boots and unique across sockets: "<source>:<zone>", e.g. "rapl:package-0",
 * "rapl:dram-1" (the dram of socket 1), "rapl:core-0", "rapl:psys", "nvml:gpu-0" (NVML index 0),
 * "hwmon:gpu-0" (the first amdgpu/i915/xe device by PCI address), "battery:BAT0".
 *
 * What is summed (the machine total over non-overlapping components): every CPU package, every dram
 * and every discrete GPU. psys and batteries measure (almost) the whole system: they are reported as
 * cross-checks, and the part of them that the components do not explain is reported per result. */

#include <jansson.h>

#include "macro.h"

typedef enum EnergyDomain {
        ENERGY_DOMAIN_PACKAGE,
        ENERGY_DOMAIN_CORE,
        ENERGY_DOMAIN_UNCORE,
        ENERGY_DOMAIN_DRAM,
        ENERGY_DOMAIN_PSYS,
        ENERGY_DOMAIN_GPU,
        ENERGY_DOMAIN_BATTERY,
        ENERGY_DOMAIN_OTHER,
        _ENERGY_DOMAIN_MAX,
        _ENERGY_DOMAIN_INVALID = -EINVAL,
} EnergyDomain;

const char *energy_domain_to_string(EnergyDomain d) _const_;
EnergyDomain energy_domain_from_string(const char *s) _pure_;

typedef enum EnergyZoneKind {
        ENERGY_ZONE_COUNTER,
        ENERGY_ZONE_INTEGRATED_POWER,
        _ENERGY_ZONE_KIND_MAX,
        _ENERGY_ZONE_KIND_INVALID = -EINVAL,
} EnergyZoneKind;

/* "counter", "integrated-power" */
const char *energy_zone_kind_to_string(EnergyZoneKind k) _const_;
EnergyZoneKind energy_zone_kind_from_string(const char *s) _pure_;

typedef struct EnergyZone {
        /* Identity, fixed once probed. */
        char *id;           /* "rapl:package-0" */
        char *name;         /* as the hardware names it (the powercap "name" file): "package-0", "dram" */
        const char *source; /* the source's ops->name (static) */
        EnergyDomain domain;
        int socket; /* CPU socket (package index), -1 when not applicable */
        int device; /* GPU index within its source, -1 when not applicable */
        EnergyZoneKind kind;
        /* Part of the machine total: every package (package-N and package-N-die-M), every dram and
         * every discrete GPU. Not summed: core and uncore (already inside their package), psys and
         * batteries (the whole platform or system, reported as cross-checks) and GPUs that share
         * their power budget with the CPU package (APUs). */
        bool summed;
        char *path; /* where the value is read (the powercap zone directory, the hwmon attribute, …) */

        bool available;
        bool lost;    /* was available, then became unreadable (see the monitor) */
        char *reason; /* why not available: "permission denied", "missing", "unreadable: …" */

        /* How fine the value is. resolution: the step of the raw value, µJ for counters, µW for
         * integrated-power zones (0: unknown). refresh_ns: how often the hardware updates the value,
         * the documented upper bound (RAPL ~1 ms, NVML energy counters 20–100 ms, NVML power on
         * Ampere and newer a 1-s average); 0 when unknown (then measured from the recordings). */
        uint64_t resolution;
        uint64_t refresh_ns;

        /* Source-specific facts for EnergySources and results (GPU uuid, power limit, PCI address,
         * driver, why a fallback was taken, …): a JSON object or NULL. Owned. */
        json_t *info;

        /* Counters: the wrap modulus in µJ, 0 when the counter never wraps. For RAPL this is
         * max_energy_range_uj + 1: energy_uj takes every value in [0, max_energy_range_uj], so the
         * modulus must exceed the maximum, and the kernel does not export the counter's unit (61 µJ
         * on Intel, 15.3 µJ on AMD), which is the true step at a wrap. + 1 µJ is thus the only
         * modulus consistent with what sysfs shows; it undercounts each wrap by less than one unit
         * (≤ 61 µJ of ≈ 262 kJ, 2e-10). */
        uint64_t max_range_uj;
        /* Poll at least this often so that no wrap is missed (see energy_counter_poll_period_ns()). */
        uint64_t poll_period_ns;

        /* Accounting (energy-monitor.c): running 64-bit total since the daemon started. */
        uint64_t total_uj;
        uint64_t last_raw; /* counters: µJ; integrated-power: µW */
        uint64_t last_t_ns;
        uint64_t last_change_t_ns; /* when the raw value last changed (or was first read) */
        bool have_last;
        double integrated_uj; /* integrated-power zones: the exact running sum (total_uj = floor) */
        unsigned wraps;       /* counter wraps, each accounted */
        unsigned resets;      /* the counter went back by more than a wrap can explain: not counted */
        unsigned gaps;        /* intervals whose energy is unknown and not counted: resets, implausible
                               * forward jumps, switches to a fallback counter */

        /* Source-private. */
        int fd; /* the open counter attribute for sysfs sources, -EBADF otherwise */
        void *data;
        void (*free_data)(void *data);
} EnergyZone;

int energy_zone_new(const char *source, const char *id, const char *name, EnergyZone **ret);
EnergyZone *energy_zone_free(EnergyZone *z);
DEFINE_TRIVIAL_CLEANUP_FUNC(EnergyZone *, energy_zone_free);

/* Marks @z unavailable, with the reason derived from @error (see sysfs_error_reason()). */
int energy_zone_set_unavailable(EnergyZone *z, int error);
int energy_zone_set_reason(EnergyZone *z, const char *reason);
/* Marks @z unavailable with a formatted reason. Returns 0, or -ENOMEM (the zone is unavailable
 * either way). */
int energy_zone_set_unavailablef(EnergyZone *z, const char *fmt, ...) _printf_(2, 3);
/* Sets @key of z->info (created on demand); steals @v, also on failure. */
int energy_zone_set_info(EnergyZone *z, const char *key, json_t *v);

/* The poll period that keeps a counter of modulus @max_range_uj from wrapping twice between two
 * reads: the time it takes to accumulate a quarter of the range at a conservative 500 W, i.e.
 * range / (4 × 500 W), clamped to [1 ms, 1 s]. Intel's 262 kJ and AMD's 65.5 kJ ranges give 1 s
 * (their wrap periods at 500 W are 524 s and 131 s). 0 (no wrap) gives 1 s. */
uint64_t energy_counter_poll_period_ns(uint64_t max_range_uj) _const_;

#define ENERGY_POLL_MIN_NS   (1 * NSEC_PER_MSEC)
#define ENERGY_POLL_MAX_NS   (1 * NSEC_PER_SEC)
#define ENERGY_POLL_DESIGN_W 500u /* conservative maximum power of one zone */

typedef struct EnergyReading {
        uint64_t value;     /* counter: raw µJ as the hardware shows it; integrated-power: µW */
        int error;          /* 0, or the negative errno of a failed read */
        const char *reason; /* with error: why, in words (borrowed; copied at once), or NULL to
                             * derive it from error */
        bool rebase;        /* value comes from another counter than the previous reading (fallback) */
} EnergyReading;

/* A process using a device (GPU), as the driver reports it. */
typedef struct EnergyProcess {
        uint32_t pid;
        uint64_t used_memory_bytes; /* UINT64_MAX when unknown */
        char comm[16];              /* /proc/<pid>/comm when readable, else "" */
} EnergyProcess;

typedef struct EnergySource EnergySource;

typedef struct EnergySourceOps {
        const char *name; /* "rapl": the prefix of zone ids and the "source" key */

        /* Discovers the zones below @sysfs_root and adds them with energy_source_add_zone(), each
         * either available (its counter was read once) or with a reason. Finding nothing is not an
         * error: returns the number of zones found (≥ 0); < 0 only for OOM and the like. */
        int (*probe)(EnergySource *s, const char *sysfs_root);

        /* Reads every available zone now, fast (no open, no path lookup): fills ret[i] for zone i
         * of s->zones. A zone that cannot be read gets ret[i].error; unavailable zones are skipped
         * (their entry is left with error -ENODEV). @t_ns is the CLOCK_MONOTONIC time of the read.
         * Returns < 0 only when nothing could be attempted. */
        int (*read)(EnergySource *s, uint64_t t_ns, EnergyReading *ret);

        /* Frees s->data (zones and their data are freed by energy_source_free()). May be NULL. */
        void (*free)(EnergySource *s);

        /* The processes using zone @zone (an index into s->zones) now, for sources that can tell
         * (NVML). Returns the number of processes in *ret (malloc'ed, may be NULL when 0); -EOPNOTSUPP
         * when the zone cannot tell. May be NULL. */
        int (*processes)(EnergySource *s, size_t zone, EnergyProcess **ret);
} EnergySourceOps;

struct EnergySource {
        const EnergySourceOps *ops;
        EnergyZone **zones;
        size_t n_zones;
        void *data;
};

int energy_source_new(const EnergySourceOps *ops, EnergySource **ret);
EnergySource *energy_source_free(EnergySource *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(EnergySource *, energy_source_free);

/* Takes ownership of @z (also on failure). */
int energy_source_add_zone(EnergySource *s, EnergyZone *z);

int energy_source_probe(EnergySource *s, const char *sysfs_root);
int energy_source_read(EnergySource *s, uint64_t t_ns, EnergyReading *ret);
/* ops->processes, or -EOPNOTSUPP. */
int energy_source_processes(EnergySource *s, size_t zone, EnergyProcess **ret);

/* Fills p->comm from /proc/<pid>/comm (empty when unreadable). */
void energy_process_read_comm(EnergyProcess *p);

/* The built-in sources, probed by the monitor in this order. */
extern const EnergySourceOps energy_rapl_ops;
extern const EnergySourceOps energy_nvml_ops;
extern const EnergySourceOps energy_hwmon_ops;
extern const EnergySourceOps energy_battery_ops;
extern const EnergySourceOps *const energy_source_builtin[];
extern const size_t energy_source_builtin_count;
