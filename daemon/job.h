/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Jobs: long work made of runs (batch, crossover, calibration, comparison). A job owns a request
 * template and starts its runs through the manager like any other run; each run is stored with
 * the job's id. The kind-specific logic lives in job-<kind>.c behind JobOps. No D-Bus here. */

#include <glib.h>
#include <jansson.h>
#include <systemd/sd-event.h>

#include "lab-error.h"
#include "request.h"
#include "run.h"

typedef struct Job Job;

typedef enum JobKind {
        JOB_BATCH,
        JOB_CROSSOVER,
        JOB_CALIBRATION,
        JOB_COMPARISON,
        _JOB_KIND_MAX,
        _JOB_KIND_INVALID = -EINVAL,
} JobKind;

typedef enum JobState {
        JOB_RUNNING,
        JOB_DONE,
        JOB_CANCELLED,
        JOB_FAILED,
        _JOB_STATE_MAX,
        _JOB_STATE_INVALID = -EINVAL,
} JobState;

const char *job_kind_to_string(JobKind k) _const_;
JobKind job_kind_from_string(const char *s) _pure_;
const char *job_state_to_string(JobState s) _const_;

/* Options of all kinds (each kind reads its own; defaults in job_options_init()). */
typedef struct JobOptions {
        uint32_t runs;
        uint32_t warmup;
        bool bust_cache;
        uint32_t idle_ms;
        uint32_t start_tokens;
        uint32_t step_tokens;
        uint32_t max_steps;
        json_t *panes; /* comparison: array of pane objects */
} JobOptions;

void job_options_init(JobOptions *o, JobKind kind);
void job_options_done(JobOptions *o);

typedef struct JobOps {
        JobKind kind;
        /* Checks the options against the request; LabError on failure. */
        int (*validate)(const LabRequest *req, const JobOptions *o, unsigned max_runs, LabError *error);
        unsigned (*total_runs)(const Job *j);
        /* Starts the work (the first run, or all of them). */
        int (*start)(Job *j);
        /* A run of the job is finished and stored; start the next one or finish the job. */
        void (*run_finished)(Job *j, Run *r);
        /* The summary so far (also when cancelled). */
        json_t *(*summary)(Job *j);
        /* Optional: a run of the job now exists (comparison starts its panes one by one). */
        void (*run_created)(Job *j, Run *r);
        /* Optional: a run could not be started; without this hook the job fails. */
        void (*run_start_failed)(Job *j, const LabError *error);
} JobOps;

extern const JobOps job_batch_ops;
extern const JobOps job_crossover_ops;
extern const JobOps job_calibration_ops;
extern const JobOps job_comparison_ops;

struct Job {
        unsigned n_ref;
        Manager *manager;
        const JobOps *ops;
        uint64_t id;
        char *path;
        uint32_t uid;
        char *owner;

        LabRequest *request; /* the template */
        JobOptions options;
        JobState state;
        GPtrArray *runs; /* Run* (refs), in start order */
        unsigned done;   /* runs finished */
        unsigned total;
        unsigned pending_starts; /* runs asked of the manager, not created yet */
        bool finishing;

        json_t *summary;
        LabError error;
        uint64_t created_usec;
        uint64_t finished_usec;

        void *state_data; /* the kind's private state */
        void (*state_free)(void *p);

        sd_event_source *linger_timer;
        void *bus_data; /* owned by the bus layer */
};

Job *job_ref(Job *j);
Job *job_unref(Job *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(Job *, job_unref);

/* For the kinds: start one run of the job from @req (taken); @warmup flags it. The run is
 * appended to j->runs once it exists; a failure to start fails the job. */
int job_start_run(Job *j, LabRequest *req, bool warmup);
/* For the kinds: finish the job (summary computed by ops->summary). */
void job_finish(Job *j, JobState state);
/* Fails the job with @error's message (the current runs are cancelled). */
void job_fail(Job *j, LabErrorCode code, const char *format, ...) _printf_(3, 4);

void job_cancel(Job *j);
/* Emits Progress (done, total, current run). */
void job_progress(Job *j, Run *current);

/* Summaries: statistics of one result metric over the job's finished, non-warm-up runs (NULL
 * when no run has it), the ids of the job's runs, and counts by state. */
double run_result_number(const Run *r, const char *section, const char *key);
json_t *job_metric_stats(Job *j, const char *section, const char *key);
json_t *job_run_ids(Job *j);
unsigned job_count_runs(Job *j, RunState state, bool include_warmup);

/* A unique, non-repeating filler text of about @n_words words (seeded, deterministic), used to
 * grow prompts without letting a prompt cache reuse earlier steps. Pure. */
char *job_filler_text(uint64_t seed, unsigned n_words);
/* A short nonce prefix "[run <hex>]\n" that makes every prompt unique. */
char *job_nonce_prefix(uint64_t job_id, unsigned index);
