/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Starting a job (batch, crossover, calibration, comparison) and following it to its end:
 * subscribe to the daemon's signals, call the prepared Start method, follow the job's Progress
 * and its runs (state, streamed text, Finished), show a progress bar on a terminal, cancel the job
 * on SIGINT/SIGTERM, and collect the Finished summary. The verbs hook in through JobWatchOps. */

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct JobWatch JobWatch;

typedef enum JobWatchFlags {
        JOB_WATCH_PROGRESS_BAR = 1 << 0, /* a progress line on stderr when it is a terminal */
} JobWatchFlags;

/* Every hook is optional; a negative return stops the watch with that error (already logged). */
typedef struct JobWatchOps {
        /* The job exists (after the Start call returned): add event sources, draw. */
        int (*started)(JobWatch *w, void *userdata);
        /* A run of the job was created; @index counts the job's runs from 0 in creation order. */
        int (*run_new)(JobWatch *w, const char *path, unsigned index, void *userdata);
        /* A run of the job could not be started (a comparison pane); the job goes on. */
        int (*run_start_failed)(JobWatch *w, void *userdata);
        /* Streamed text of a run of the job (Chunk signals, in order; a gap in @seq means one was
         * missed: Run.GetTranscript() has everything). */
        int (*chunk)(JobWatch *w, const char *path, uint64_t seq, const char *text, bool thinking,
                     void *userdata);
        /* A run of the job changed state (queued, loading, prefill, decoding). */
        int (*run_state)(JobWatch *w, const char *path, const char *state, void *userdata);
        /* A run of the job finished: @result "done", "cancelled" or "failed", @metrics its Result. */
        int (*run_finished)(JobWatch *w, const char *path, const char *result, json_t *metrics,
                            void *userdata);
} JobWatchOps;

typedef struct JobOutcome {
        char *path;
        uint64_t id;
        char *state;     /* "done", "cancelled" or "failed" (the Finished result) */
        json_t *summary; /* the Finished summary (= the Summary property) */
        char *error_name;
        char *error_message;
} JobOutcome;

void job_outcome_done(JobOutcome *o);

/* Sends @start (a prepared call of Manager.StartBatch, StartCrossover, Calibrate or
 * StartComparison, whose reply is the job's object path) and follows the job until it finishes.
 * @unit names what the progress bar counts ("runs", "steps"). Errors before the job exists, and losing the
 * daemon, are logged as "Failed to <what>: …" and returned; a job that finished (in any state) returns 0
 * with @ret filled (ret->state "cancelled" also when the user left with a second Ctrl-C). */
int job_watch(sd_bus *bus, sd_bus_message *start, JobWatchFlags flags, const char *unit, const char *what,
              const JobWatchOps *ops, void *userdata, JobOutcome *ret);

/* Valid while job_watch() runs (from the started hook on), like the JobWatch itself. */
sd_event *job_watch_get_event(JobWatch *w);
/* Whether the user asked to cancel the job. */
bool job_watch_cancelling(JobWatch *w);
/* Cancels the job, as the first Ctrl-C does. */
void job_watch_cancel(JobWatch *w);
/* Cancels one run of the job (a comparison pane); the others go on. */
int job_watch_cancel_run(JobWatch *w, const char *path);
