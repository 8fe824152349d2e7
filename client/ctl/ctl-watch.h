/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What following a run or a job of the daemon has in common (ctl-run-watch.c, ctl-job-watch.c):
 * an event loop with the bus attached; the daemon's signals under /org/llmlab/Lab1 subscribed
 * *before* the Start call, so that no signal of the new object can be missed; the daemon leaving
 * the bus and the connection being lost as errors; SIGINT/SIGTERM: the first asks the daemon to
 * cancel, the second leaves at once (the daemon cancels the work of an owner that left). The loop
 * is iterated with sd_event_run() rather than ended with sd_event_exit(): exiting would also close
 * the attached bus, which the caller still needs. */

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct CtlWatchOps {
        /* A signal of the daemon (any object under /org/llmlab/Lab1). */
        int (*signal)(sd_bus_message *m, void *userdata);
        /* The first SIGINT or SIGTERM: cancel (ctl_watch_cancel()). */
        void (*interrupt)(void *userdata);
        /* Before an error is printed: take any status line off the terminal. Optional. */
        void (*clear)(void *userdata);
} CtlWatchOps;

typedef struct CtlWatch {
        sd_bus *bus;
        sd_event *event;
        const char *what; /* what the verb does, for "Failed to WHAT: …" */
        const char *noun; /* "run" or "job", for "… before the NOUN finished" */
        const CtlWatchOps *ops;
        void *userdata;

        unsigned n_interrupts;
        bool abandoned; /* second interrupt, or cancelling failed: left without waiting */
        bool done;      /* stop iterating the loop */
        int error;      /* fatal and already logged */
        sd_bus_slot *slots[3];
} CtlWatch;

/* Allocates the loop, blocks and handles SIGINT/SIGTERM, subscribes, attaches @bus. Logs errors. */
int ctl_watch_init(CtlWatch *w, sd_bus *bus, const char *what, const char *noun, const CtlWatchOps *ops,
                   void *userdata);
/* Iterates the loop until ctl_watch_stop(). Returns the watch's error, or the loop's (logged). */
int ctl_watch_run(CtlWatch *w);
/* Unsubscribes, detaches the bus from the loop and frees the loop. */
void ctl_watch_done(CtlWatch *w);

int ctl_watch_stop(CtlWatch *w);
int ctl_watch_fail(CtlWatch *w, int error);

/* Asks the daemon asynchronously to cancel the run or job at @path (@interface); a refusal (it
 * finished meanwhile) is only logged at debug level: its Finished signal tells the outcome. On
 * failure to send, logs, marks the watch abandoned, stops it and returns the error. */
int ctl_watch_cancel(CtlWatch *w, const char *path, const char *interface);
