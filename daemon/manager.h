/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's state: configuration, backends, presets, runs and jobs, the measurement queue, the
 * energy monitor, the database. No D-Bus here: the bus layer installs hooks to publish changes. */

#include <glib.h>
#include <jansson.h>
#include <systemd/sd-event.h>

#include "backend.h"
#include "config.h"
#include "http-event.h"
#include "lab-error.h"
#include "prompts.h"
#include "request.h"
#include "run.h"

typedef struct EnergyMonitor EnergyMonitor;
typedef struct Job Job;
typedef struct JobOptions JobOptions;
typedef struct Store Store;
typedef struct BenchmarkRegistry BenchmarkRegistry;
typedef struct GridTable GridTable;

typedef struct ManagerHooks {
        void (*run_new)(Manager *m, Run *r, void *userdata);
        /* @properties: NULL-terminated D-Bus property names that changed */
        void (*run_changed)(Manager *m, Run *r, const char *const *properties, void *userdata);
        void (*run_chunk)(Manager *m, Run *r, uint64_t seq, const char *text, size_t size, bool thinking,
                          void *userdata);
        void (*run_finished)(Manager *m, Run *r, void *userdata);
        void (*run_removed)(Manager *m, Run *r, void *userdata);
        void (*manager_changed)(Manager *m, const char *const *properties, void *userdata);
        void (*job_new)(Manager *m, Job *j, void *userdata);
        void (*job_changed)(Manager *m, Job *j, const char *const *properties, void *userdata);
        void (*job_progress)(Manager *m, Job *j, Run *current, void *userdata);
        void (*job_finished)(Manager *m, Job *j, void *userdata);
        void (*job_removed)(Manager *m, Job *j, void *userdata);
} ManagerHooks;

struct Manager {
        sd_event *event;
        Config *config;
        bool user_mode;
        char *data_dir; /* built-in presets and data */
        char *state_dir;

        HttpClient *http;
        GPtrArray *backends; /* Backend*, config order */
        PromptCatalog *prompts;

        GHashTable *runs;     /* id → Run* (ref held) */
        GHashTable *jobs;     /* id → Job* (ref held) */
        GQueue measure_queue; /* Run* waiting for the measurement slot */
        Run *measuring;       /* the measured run holding the slot */
        uint64_t next_run_id;
        uint64_t next_job_id;

        EnergyMonitor *energy;
        Store *store;
        BenchmarkRegistry *benchmarks;
        char *default_benchmark;
        GridTable *grid;

        const ManagerHooks *hooks;
        void *hooks_userdata;

        sd_event_source *probe_timer;
};

int manager_new(sd_event *event, Config *config, bool user_mode, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Opens the database, finds energy sources, loads data; call once the bus name is acquired. */
int manager_startup(Manager *m);
void manager_set_hooks(Manager *m, const ManagerHooks *hooks, void *userdata);

Backend *manager_find_backend(Manager *m, const char *id); /* NULL/"" → the first */
json_t *manager_backends_json(Manager *m);
void manager_probe_backends(Manager *m);

Run *manager_get_run(Manager *m, uint64_t id);
unsigned manager_count_active_runs(Manager *m, uint32_t uid);
unsigned manager_queue_length(Manager *m);

/* Asynchronous start: validates limits and the model (NoSuchModel, BackendUnavailable) before the
 * run exists, then creates it and calls @cb. */
typedef void (*manager_run_cb)(Manager *m, Run *run, const LabError *error, void *userdata);
/* Takes ownership of @request. Returns < 0 with @error set when the request is refused at once;
 * otherwise @cb is called exactly once, with the new run or with an error. */
int manager_start_run(Manager *m, LabRequest *request, uint32_t uid, const char *owner, uint64_t job_id,
                      manager_run_cb cb, void *userdata, LabError *error);

/* Called by runs */
void manager_enqueue_measured(Manager *m, Run *r);
void manager_unqueue(Manager *m, Run *r);
void manager_release_measurement(Manager *m, Run *r);
void manager_run_changed(Manager *m, Run *r, const char *const *properties);
void manager_run_finished(Manager *m, Run *r);
void manager_notify(Manager *m, const char *const *properties);

const char *manager_data_path(Manager *m, const char *relative, char **ret_buf);

/* Jobs: validates @request (taken) and @options (taken) for @kind, creates the job and returns it
 * (not started: call job_begin() once the caller has replied to its client). */
Job *manager_get_job(Manager *m, uint64_t id);
int manager_create_job(Manager *m, int kind, LabRequest *request, JobOptions *options, uint32_t uid,
                       const char *owner, Job **ret, LabError *error);
void job_begin(Job *j);
