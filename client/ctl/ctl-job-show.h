/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Results of jobs (batch, crossover, calibration, comparison) for people and as stable JSON, the
 * progress line shown while a job runs, and text laid out in columns for `compare`. Pure: prints to
 * the FILE it is given only. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* --- JSON ---------------------------------------------------------------------------------------- */

/* The object printed by `batch`, `crossover`, `calibrate` and `compare` with --json:
 * {job, kind, state, error, summary}, error being {name, message} or null, and summary shaped for
 * @kind ("batch", "crossover", "calibration" or "comparison"; see the man page for every key).
 * NULL on allocation failure. */
json_t *job_json_build(uint64_t id, const char *kind, const char *state, const char *error_name,
                       const char *error_message, json_t *summary);

/* --- tables ------------------------------------------------------------------------------------ */

/* Statistics per metric (columns left out when @width is too small for all of them). */
int job_show_batch(FILE *f, json_t *summary, size_t width, bool legend);
/* One row per step, then where prefill overtook decode. */
int job_show_crossover(FILE *f, json_t *summary, size_t width, bool legend);
/* The fitted benchmark. */
int job_show_calibration(FILE *f, json_t *summary);
/* One row per pane (the comparison summary's panes): tokens, TTFT, speed, energy when measured. */
int job_show_panes(FILE *f, json_t *panes, size_t width, bool legend);

/* --- progress ---------------------------------------------------------------------------------- */

typedef struct JobProgress {
        const char *unit; /* "runs" or "steps" */
        unsigned done, total;
        uint64_t elapsed_usec;     /* since the job started */
        uint64_t done_usec;        /* since the job started, when the last run finished */
        unsigned current;          /* 1-based number of the run in progress, 0: none */
        const char *current_state; /* its State (queued, loading, …), NULL when unknown */
        uint64_t current_chars;    /* text it streamed so far */
        double chars_per_token;    /* of the job's finished runs; NaN when none finished yet */
        bool cancelling;
} JobProgress;

/* The ETA from the runs so far: the mean time per finished run (@done_usec / @done) times the runs
 * left, minus the time since the last one finished (@elapsed_usec − @done_usec), at least 0;
 * UINT64_MAX when none is done. */
uint64_t job_eta_usec(unsigned done, unsigned total, uint64_t done_usec, uint64_t elapsed_usec);

/* "[######------] 3/6 runs · ETA 12.0 s · run 4 decoding, ~120 tokens", at most @width columns
 * (the least useful parts are dropped first). Newly allocated. */
char *job_progress_line(const JobProgress *p, size_t width);

/* --- text in columns --------------------------------------------------------------------------- */

typedef struct Lines {
        char **text;
        bool *dim;
        size_t n;
        size_t allocated;
} Lines;

void lines_done(Lines *l);
int lines_add(Lines *l, const char *text, bool dim);
/* Appends @text wrapped at @width columns (at a space when there is one in the line; '\n' ends a
 * line; tabs count as spaces). Empty text adds nothing; a trailing '\n' adds an empty line. */
int lines_wrap(Lines *l, const char *text, size_t width, bool dim);

/* The width of each of @n_panes columns side by side in @total columns (separated by " │ "), or 0
 * when they would be narrower than 20. */
size_t columns_width(size_t total, size_t n_panes);

/* Prints rows [first, first + n) of @panes side by side, each cell padded to @width. Dim lines are
 * wrapped in @dim_on / @dim_off ("" without colour). Every line is cleared to its end first when
 * @clear (for redrawing on a terminal). */
int columns_print(FILE *f, Lines *const *panes, size_t n_panes, size_t width, size_t first, size_t n,
                  const char *dim_on, const char *dim_off, bool clear);
