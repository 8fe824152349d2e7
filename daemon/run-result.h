/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Builds a finished run's Result: tokens, timing, energy, carbon, estimate and provenance (the
 * keys are documented in dbus/org.llmlab.Lab1.Run.xml and docs/metrics.md). */

#include <jansson.h>

#include "run.h"

json_t *run_result_build(Run *r);

/* Milliseconds between two CLOCK_MONOTONIC instants, NaN when either is unset. */
double run_ms_between(uint64_t from_ns, uint64_t to_ns);
