/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdarg.h>

#include "job.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "metrics.h"
#include "store.h"

static const char *const job_kind_table[_JOB_KIND_MAX] = {
        [JOB_BATCH] = "batch",
        [JOB_CROSSOVER] = "crossover",
        [JOB_CALIBRATION] = "calibration",
        [JOB_COMPARISON] = "comparison",
};

static const char *const job_state_table[_JOB_STATE_MAX] = {
        [JOB_RUNNING] = "running",
        [JOB_DONE] = "done",
        [JOB_CANCELLED] = "cancelled",
        [JOB_FAILED] = "failed",
};

const char *job_kind_to_string(JobKind k) {
        return k >= 0 && k < _JOB_KIND_MAX ? job_kind_table[k] : NULL;
}

JobKind job_kind_from_string(const char *s) {
        for (int i = 0; s && i < _JOB_KIND_MAX; i++)
                if (streq(job_kind_table[i], s))
                        return (JobKind) i;
        return _JOB_KIND_INVALID;
}

const char *job_state_to_string(JobState s) {
        return s >= 0 && s < _JOB_STATE_MAX ? job_state_table[s] : NULL;
}

void job_options_init(JobOptions *o, JobKind kind) {
        *o = (JobOptions){
                .runs = kind == JOB_CALIBRATION ? 8 : 5,
                .warmup = 1,
                .idle_ms = 2000,
                .start_tokens = 100,
                .step_tokens = 200,
                .max_steps = 10,
        };
}

void job_options_done(JobOptions *o) {
        json_decref(o->panes);
        o->panes = NULL;
}

Job *job_ref(Job *j) {
        if (j)
                j->n_ref++;
        return j;
}

static void job_free(Job *j) {
        for (guint i = 0; i < j->runs->len; i++) {
                Run *r = g_ptr_array_index(j->runs, i);

                r->finished_cb = NULL;
                r->finished_userdata = NULL;
        }
        g_ptr_array_unref(j->runs);
        if (j->state_free)
                j->state_free(j->state_data);
        sd_event_source_disable_unref(j->linger_timer);
        lab_request_free(j->request);
        job_options_done(&j->options);
        json_decref(j->summary);
        lab_error_clear(&j->error);
        g_free(j->owner);
        g_free(j->path);
        g_free(j);
}

Job *job_unref(Job *j) {
        if (j && --j->n_ref == 0)
                job_free(j);
        return NULL;
}

static void job_notify(Job *j, const char *const *properties) {
        Manager *m = j->manager;

        if (m->hooks && m->hooks->job_changed)
                m->hooks->job_changed(m, j, properties, m->hooks_userdata);
}

void job_progress(Job *j, Run *current) {
        Manager *m = j->manager;

        job_notify(j, (const char *const[]){"Progress", NULL});
        if (m->hooks && m->hooks->job_progress)
                m->hooks->job_progress(m, j, current, m->hooks_userdata);
}

static void job_run_finished(Run *r, void *userdata) {
        Job *j = userdata;
        _cleanup_(job_unrefp) Job *ref = job_ref(j);

        j->done++;
        /* A job being finished cancels its runs: their ends must not start the next ones. */
        if (j->state != JOB_RUNNING || j->finishing)
                return;
        job_progress(j, NULL);
        j->ops->run_finished(j, r);
}

typedef struct JobStart {
        Job *job;
        bool warmup;
} JobStart;

static void job_run_created(Manager *m, Run *r, const LabError *error, void *userdata) {
        JobStart *s = userdata;
        _cleanup_(job_unrefp) Job *j = s->job;
        bool warmup = s->warmup;

        free(s);
        j->pending_starts--;
        if (!r) {
                if (j->state != JOB_RUNNING)
                        return;
                if (j->ops->run_start_failed)
                        return j->ops->run_start_failed(j, error);
                return job_fail(j, error->code, "%s", strempty(error->message));
        }
        r->warmup = warmup;
        g_ptr_array_add(j->runs, run_ref(r));
        r->finished_cb = job_run_finished;
        r->finished_userdata = j;
        job_notify(j, (const char *const[]){"Runs", NULL});
        job_progress(j, r);
        if (j->state != JOB_RUNNING || j->finishing)
                run_cancel(r); /* the job was cancelled while the run was being set up */
        else if (j->ops->run_created)
                j->ops->run_created(j, r);
}

int job_start_run(Job *j, LabRequest *req, bool warmup) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        JobStart *s;
        int k;

        s = calloc(1, sizeof(*s));
        if (!s) {
                lab_request_free(req);
                return -ENOMEM;
        }
        s->job = job_ref(j);
        s->warmup = warmup;
        j->pending_starts++;
        k = manager_start_run(j->manager, req, j->uid, j->owner, j->id, job_run_created, s, &err);
        if (k < 0) {
                j->pending_starts--;
                job_unref(s->job);
                free(s);
                if (j->ops->run_start_failed)
                        j->ops->run_start_failed(j, &err);
                else
                        job_fail(j, err.code, "%s", strempty(err.message));
                return k;
        }
        return 0;
}

static int linger_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;
        Manager *m = j->manager;
        uint64_t id = j->id;

        if (m->hooks && m->hooks->job_removed)
                m->hooks->job_removed(m, j, m->hooks_userdata);
        g_hash_table_remove(m->jobs, &id);
        return 0;
}

static void job_store(Job *j) {
        _cleanup_json_ json_t *request = lab_request_to_json(j->request), *options = json_object();
        StoredJob sj;
        int k;

        json_set_int(options, "runs", j->options.runs);
        json_set_int(options, "warmup", j->options.warmup);
        json_object_set_new(options, "bust_cache", json_boolean(j->options.bust_cache));
        json_set_int(options, "start_tokens", j->options.start_tokens);
        json_set_int(options, "step_tokens", j->options.step_tokens);
        json_set_int(options, "max_steps", j->options.max_steps);
        if (j->options.panes)
                json_object_set(options, "panes", j->options.panes);
        sj = (StoredJob){
                .id = j->id,
                .uid = j->uid,
                .kind = job_kind_to_string(j->ops->kind),
                .state = job_state_to_string(j->state),
                .created_usec = j->created_usec,
                .finished_usec = j->finished_usec,
                .request = request,
                .options = options,
                .summary = j->summary,
        };
        k = store_insert_job(j->manager->store, &sj);
        if (k < 0)
                log_error_errno(k, "Failed to store job %" PRIu64 ": %m", j->id);
}

void job_finish(Job *j, JobState state) {
        _cleanup_(job_unrefp) Job *ref = job_ref(j);
        Manager *m = j->manager;
        int k;

        if (j->state != JOB_RUNNING || j->finishing)
                return;
        j->finishing = true;

        /* Whatever still runs stops with the job. */
        for (guint i = 0; i < j->runs->len; i++)
                run_cancel(g_ptr_array_index(j->runs, i));

        j->state = state;
        j->finished_usec = now_usec(CLOCK_REALTIME);
        json_decref(j->summary);
        j->summary = j->ops->summary(j);
        job_store(j);
        log_info("Job %" PRIu64 " (%s) %s after %u of %u runs.", j->id, job_kind_to_string(j->ops->kind),
                 job_state_to_string(state), j->done, j->total);

        if (m->hooks && m->hooks->job_finished)
                m->hooks->job_finished(m, j, m->hooks_userdata);
        k = sd_event_add_time_relative(m->event, &j->linger_timer, CLOCK_MONOTONIC,
                                       (uint64_t) m->config->linger_sec * USEC_PER_SEC, USEC_PER_SEC,
                                       linger_handler, j);
        if (k < 0)
                log_warning_errno(k, "Failed to schedule the removal of job %" PRIu64 ", keeping it: %m",
                                  j->id);
}

void job_fail(Job *j, LabErrorCode code, const char *format, ...) {
        va_list ap;

        if (j->state != JOB_RUNNING)
                return;
        va_start(ap, format);
        (void) lab_error_setv(&j->error, code, format, ap);
        va_end(ap);
        log_info("Job %" PRIu64 " failed: %s", j->id, strna(j->error.message));
        job_finish(j, JOB_FAILED);
}

void job_cancel(Job *j) {
        if (j->state != JOB_RUNNING)
                return;
        (void) lab_error_set(&j->error, LAB_ERROR_CANCELLED, "The job was cancelled");
        job_finish(j, JOB_CANCELLED);
}

/* --- text helpers ------------------------------------------------------------------------------ */

static const char *const filler_words[] = {
        "amber",   "basin",  "cedar",   "delta",  "ember",   "fjord",   "garnet",  "harbor", "island",
        "juniper", "kelp",   "lagoon",  "meadow", "nectar",  "orchard", "pebble",  "quartz", "river",
        "saddle",  "timber", "upland",  "valley", "willow",  "yarrow",  "zephyr",  "anchor", "beacon",
        "canyon",  "dune",   "estuary", "forest", "glacier", "heather", "inlet",   "jasper", "knoll",
        "lantern", "marsh",  "north",   "onyx",   "prairie", "quiver",  "ridge",   "summit", "tundra",
        "umber",   "vista",  "wharf",   "yonder", "zenith",  "acorn",   "bramble", "cobalt", "dawn",
        "echo",    "falcon", "grove",   "hollow", "ivory",   "jetty",   "kestrel", "lichen", "mosaic",
        "nimbus",  "oasis",  "plume",   "quill",  "reef",    "spruce",  "thistle", "urchin", "violet",
        "walnut",  "xenon",  "yucca",   "zinnia", "arbor",   "birch",   "cinder",  "drift",  "elm",
        "fern",    "gale",   "hazel",   "iris",   "jade",    "kiln",    "loam",    "maple",  "nettle",
        "opal",    "pine",   "quarry",  "rowan",  "sorrel",  "tide",    "umbra",   "vale",   "wren",
        "yew",     "zest",   "alder",   "bluff",  "cove",    "dell",    "eddy",    "flint",  "gully",
        "heath",   "isle",   "jute",    "kale",   "ledge",   "mesa",    "nook",    "oak",    "peak",
        "quay",    "rill",   "shoal",   "tarn",   "urn",     "vent",    "weald",   "yard",   "zone",
};

char *job_filler_text(uint64_t seed, unsigned n_words) {
        GString *s = g_string_sized_new((gsize) n_words * 7);
        uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E5ULL;

        for (unsigned i = 0; i < n_words; i++) {
                /* xorshift64*: a different word sequence for every seed, never periodic in practice */
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                if (i > 0)
                        g_string_append_c(s, i % 12 == 0 ? '\n' : ' ');
                g_string_append(
                        s, filler_words[((x * 0x2545F4914F6CDD1DULL) >> 33) % ELEMENTSOF(filler_words)]);
        }
        return g_string_free(s, FALSE);
}

char *job_nonce_prefix(uint64_t job_id, unsigned index) {
        uint64_t x = (job_id << 20) ^ index ^ now_ns(CLOCK_REALTIME);

        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        return g_strdup_printf("[run %016" PRIx64 "]\n", x);
}

/* --- summaries ----------------------------------------------------------------------------------- */

double run_result_number(const Run *r, const char *section, const char *key) {
        json_t *o = section ? json_object_get(r->result, section) : r->result;

        return json_get_number(o, key);
}

json_t *job_metric_stats(Job *j, const char *section, const char *key) {
        g_autofree double *values = g_new(double, MAX(j->runs->len, 1u));
        SampleStats st;
        size_t n = 0;

        for (guint i = 0; i < j->runs->len; i++) {
                Run *r = g_ptr_array_index(j->runs, i);
                double v;

                if (r->warmup || r->state != RUN_DONE)
                        continue;
                v = run_result_number(r, section, key);
                if (isfinite(v))
                        values[n++] = v;
        }
        if (n == 0 || sample_stats_compute(values, n, &st) < 0)
                return NULL;
        return sample_stats_to_json(&st);
}

json_t *job_run_ids(Job *j) {
        json_t *a = json_array();

        for (guint i = 0; i < j->runs->len; i++)
                json_array_append_new(
                        a, json_integer((json_int_t) ((Run *) g_ptr_array_index(j->runs, i))->id));
        return a;
}

unsigned job_count_runs(Job *j, RunState state, bool include_warmup) {
        unsigned n = 0;

        for (guint i = 0; i < j->runs->len; i++) {
                Run *r = g_ptr_array_index(j->runs, i);

                if (r->state == state && (include_warmup || !r->warmup))
                        n++;
        }
        return n;
}
