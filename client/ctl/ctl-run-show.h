/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Human-readable results of a run, from the daemon's Result (as JSON). Pure: prints to @f only. */

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* `run`: one row of input/output/thinking tokens, TTFT, end-to-end time and tokens/s. */
int run_show_summary(FILE *f, json_t *result, size_t width, bool legend);

/* `run-energy`: how the energy was obtained (stated plainly), the phases with gross and net
 * energy, then the normalised figures, CO2, tokens, timings, sources and zones. @measure is what
 * was requested ("live", "estimate" or "auto"): it explains why a run was estimated. */
int run_show_energy(FILE *f, json_t *result, const char *measure, size_t width, bool legend);

/* The "Energy: …" sentence alone (newly allocated), e.g. "estimated from benchmark X (no readable
 * energy counters on this machine)". */
char *run_energy_origin(json_t *result, const char *measure);
