/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The fleet metrics of stored runs, rendered from the aggregates of store_aggregate_runs() in one of
 * the two text formats Prometheus reads (pure: no I/O). One table of families serves both, so that
 * `llmlabctl export --format openmetrics` and the node-exporter textfile carry the same series:
 *
 *   llmlab_runs_total{model,backend}                           counter  runs stored
 *   llmlab_input_tokens_total{model,backend}                   counter  Σ input tokens
 *   llmlab_output_tokens_total{model,backend}                  counter  Σ output tokens
 *   llmlab_energy_joules_total{model,backend,measured}         counter  Σ gross energy, joules
 *   llmlab_output_token_energy_joules{model,backend,measured}  gauge    Σ energy ÷ Σ output tokens
 *   llmlab_wh_per_1000_etokens{model,backend,measured}         gauge    the same in the project's
 *                                                                       headline unit, Wh per 1000
 *
 * measured is "true" for energy counters, "false" for estimates from a benchmark; runs without
 * energy figures count in runs and tokens only.
 *
 * METRICS_SYNTAX_OPENMETRICS: OpenMetrics 1.0 text: counter families named without "_total", a
 * "# UNIT" line where the name ends in a unit, double quotes escaped in HELP, "# EOF" at the end.
 * METRICS_SYNTAX_PROMETHEUS: the Prometheus text format 0.0.4 that node-exporter's textfile collector
 * reads: "# HELP" and "# TYPE" under the sample name, no UNIT, no EOF. */

#include <jansson.h>

typedef enum MetricsSyntax {
        METRICS_SYNTAX_OPENMETRICS,
        METRICS_SYNTAX_PROMETHEUS,
} MetricsSyntax;

/* The text for @groups (an array as store_aggregate_runs() returns it, sorted by model and backend).
 * Never NULL (GLib aborts on allocation failure); free with g_free(). */
char *metrics_format(json_t *groups, MetricsSyntax syntax);
