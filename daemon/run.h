/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One run: a request streamed from a backend, its transcript, its timestamps, its energy
 * recording and, once finished, its result. No D-Bus here: the bus layer observes runs through
 * the manager's hooks. */

#include <glib.h>
#include <jansson.h>
#include <sys/resource.h>
#include <systemd/sd-event.h>

#include "backend.h"
#include "lab-error.h"
#include "request.h"

typedef struct Manager Manager;
typedef struct EnergyRecording EnergyRecording;
typedef struct Run Run;

typedef enum RunState {
        RUN_QUEUED,
        RUN_LOADING,
        RUN_PREFILL,
        RUN_DECODING,
        RUN_DONE,
        RUN_CANCELLED,
        RUN_FAILED,
        _RUN_STATE_MAX,
        _RUN_STATE_INVALID = -EINVAL,
} RunState;

const char *run_state_to_string(RunState s) _const_;
RunState run_state_from_string(const char *s) _pure_;
static inline bool run_state_is_final(RunState s) {
        return s == RUN_DONE || s == RUN_CANCELLED || s == RUN_FAILED;
}

/* Chunk coalescing: at most one Chunk signal per CHUNK_FLUSH_MS or per CHUNK_MAX_PIECES pieces. */
#define CHUNK_FLUSH_MS   20U
#define CHUNK_MAX_PIECES 64U
/* How late the flush timer may fire (sd-event coalesces timers within this slack). */
#define CHUNK_FLUSH_ACCURACY_USEC 1000U

typedef struct RunTimes {
        uint64_t created; /* CLOCK_MONOTONIC ns */
        uint64_t sent;    /* request handed to libcurl */
        uint64_t headers;
        uint64_t first_byte;
        uint64_t first_thinking;
        uint64_t first_answer;
        uint64_t final; /* final object (counts) arrived */
        uint64_t finished;
} RunTimes;

typedef struct Run {
        unsigned n_ref;
        Manager *manager;
        uint64_t id;
        char *path;
        uint32_t uid;
        char *owner; /* unique bus name of the owner, NULL for internal runs */

        LabRequest *request;
        Backend *backend;
        json_t *model_info;
        MeasureMode measure;  /* resolved: off, live or estimate */
        char *system_base;    /* the preset's text or the request's system_prompt */
        char *system_message; /* composed: base + context + injections */

        uint64_t job_id; /* 0 = not part of a job */
        bool warmup;
        void (*finished_cb)(Run *r, void *userdata); /* the job's hook, called once the run is stored */
        void *finished_userdata;

        RunState state;
        unsigned queue_position;

        GString *answer;
        GString *thinking;
        uint64_t pieces_answer;
        uint64_t pieces_thinking;

        GString *pending; /* text not yet sent as a Chunk */
        bool pending_thinking;
        unsigned pending_pieces;
        uint64_t chunk_seq;
        uint64_t last_flush_usec;
        sd_event_source *flush_timer;
        sd_event_source *overflow_event; /* fails the run once the transcript went over the cap */

        RunTimes t;
        uint64_t created_usec; /* CLOCK_REALTIME µs */
        uint64_t finished_usec;
        struct rusage rusage_start;
        unsigned concurrent_max; /* other runs active at the same time, at most */

        BackendChat *chat;
        ChatResult chat_result;
        EnergyRecording *recording;

        json_t *result;
        LabError error;

        sd_event_source *linger_timer;
        void *bus_data; /* owned by the bus layer */
} Run;

Run *run_new(Manager *m, uint64_t id, uint32_t uid, const char *owner, LabRequest *request, Backend *backend,
             json_t *model_info, MeasureMode measure);
Run *run_ref(Run *r);
Run *run_unref(Run *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Run *, run_unref);

/* Queue (measured runs) or begin at once. */
int run_start(Run *r);
/* Called by the manager when a queued run gets the measurement slot. */
int run_begin(Run *r);
/* Stops the run: cancelled state, connection closed. No-op for finished runs. */
void run_cancel(Run *r);
void run_set_queue_position(Run *r, unsigned pos);

/* The user message actually sent. */
char *run_user_message(const Run *r);
