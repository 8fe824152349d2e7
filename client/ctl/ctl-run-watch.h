/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Starting one run and following it to its end: subscribe to the daemon's signals, call the
 * prepared Start method, stream the Chunk signals (thinking apart), show the queue state on a
 * terminal, cancel on SIGINT/SIGTERM, and collect the Finished metrics and the transcript. */

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

typedef enum RunWatchFlags {
        RUN_WATCH_STREAM = 1 << 0, /* print the text to stdout as it arrives */
        RUN_WATCH_QUIET = 1 << 1,  /* only the answer, byte for byte: no headers, no thinking */
} RunWatchFlags;

typedef struct RunOutcome {
        char *path;
        char *state;    /* "done", "cancelled" or "failed" (the Finished result) */
        json_t *result; /* the Finished metrics (= the Result property) */
        char *answer;   /* from GetTranscript(); NULL if it could not be read */
        char *thinking;
        char *error_name; /* failed runs */
        char *error_message;
} RunOutcome;

void run_outcome_done(RunOutcome *o);

/* Sends @start (a prepared Manager.StartRun call, whose reply is the run's object path) and follows
 * the run until it finishes. Errors before the run exists, and losing the daemon, are logged as
 * "Failed to <what>: …" and returned; a run that finished (in any state) returns 0 with @ret
 * filled. */
int run_watch(sd_bus *bus, sd_bus_message *start, RunWatchFlags flags, const char *what, RunOutcome *ret);
