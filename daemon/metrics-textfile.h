/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Metrics for fleets: with [Metrics] TextfilePath= set, llmlabd rewrites that file after every
 * finished run, for the Prometheus node-exporter textfile collector (which reads the Prometheus
 * text format 0.0.4, *.prom files, and rejects samples with timestamps). Aggregated over every
 * stored run of every user, warm-up runs included (their energy was spent too):
 *
 *   llmlab_runs_total{model,backend}                     counter  runs stored
 *   llmlab_input_tokens_total{model,backend}             counter  Σ input tokens
 *   llmlab_output_tokens_total{model,backend}            counter  Σ output tokens
 *   llmlab_energy_joules_total{model,backend,measured}   counter  Σ gross energy, joules
 *   llmlab_output_token_energy_joules{model,backend,measured}
 *                                                        gauge    Σ energy ÷ Σ output tokens (J/token)
 *   llmlab_wh_per_1000_etokens{model,backend,measured}   gauge    the same in the project's headline
 *                                                                 unit, Wh per 1000 output tokens
 *
 * measured is "true" for energy counters, "false" for estimates from a benchmark; runs without
 * energy figures count in runs and tokens only. The names match `llmlabctl export --format
 * openmetrics` (OpenMetrics adds # UNIT and # EOF, which this format has not). */

#include <jansson.h>

#include "store.h"

/* The file's text for the aggregates of store_aggregate_runs() (pure). NULL on allocation failure. */
char *metrics_textfile_format(json_t *groups);

/* Aggregates the store and replaces @path atomically (a hidden temporary file in the same directory,
 * renamed over it). @path NULL: nothing to do. Returns 0 or a negative errno (logged). */
int metrics_textfile_write(Store *s, const char *path);
