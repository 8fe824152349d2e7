/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The energy part of a run's result: phases from the recording (live) or from a benchmark
 * (estimate). See docs/metrics.md. */

#include <jansson.h>

#include "run.h"

typedef struct Benchmark Benchmark;

/* The phase windows of a run, CLOCK_MONOTONIC ns; a phase with start == end is empty. */
typedef struct RunPhases {
        const char *split_method; /* "server-timings", "first-token" or "none" */
        uint64_t start, load_end, prefill_end, end;
        bool has_load;
} RunPhases;

/* Pure: the phases from the run's timestamps and the server's timings. */
void run_phases_compute(const RunTimes *t, const ChatResult *server, RunPhases *ret);

/* energy{} of a live run; sets *ret_total_wh (NaN if nothing could be measured). */
json_t *run_energy_live_json(Run *r, const RunPhases *p, double *ret_total_wh);
/* energy{} estimated from @b and the token counts; NULL-safe for missing counts. */
json_t *run_energy_estimate_json(const Benchmark *b, int64_t in, int64_t out, double *ret_total_wh);
