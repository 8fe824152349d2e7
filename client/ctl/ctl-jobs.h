/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the job verbs share (batch, crossover, calibrate in ctl-jobs.c, compare in ctl-compare.c). */

#include <jansson.h>

#include "ctl-job-watch.h"

/* Prints the result of a finished job: with --json the stable object of ctl-job-show.h, built
 * from @summary when it is not NULL (compare adds its panes' text) and from the job's summary
 * otherwise; else the kind's table (compare prints its own). Then logs why the job did not finish
 * "done". Returns the exit status: 0, CTL_EXIT_CANCELLED, or a negative errno (logged). */
int job_report(const JobOutcome *out, const char *kind, json_t *summary, const char *what);
