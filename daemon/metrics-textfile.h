/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Metrics for fleets: with [Metrics] TextfilePath= set, llmlabd rewrites that file after every
 * finished run, for the Prometheus node-exporter textfile collector (which reads the Prometheus
 * text format 0.0.4, *.prom files, and rejects samples with timestamps): the series of
 * metrics-format.h, aggregated over every stored run of every user, warm-up runs included (their
 * energy was spent too). */

#include "store.h"

/* Aggregates the store and replaces @path atomically (a hidden temporary file in the same directory,
 * renamed over it). @path NULL: nothing to do. Returns 0 or a negative errno (logged). */
int metrics_textfile_write(Store *s, const char *path);
