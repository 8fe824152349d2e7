/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/stat.h>

#include "benchmark.h"
#include "build-config.h"
#include "carbon.h"
#include "energy-monitor.h"
#include "json-util.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "metrics-textfile.h"
#include "run-result.h"
#include "store.h"

#define PROBE_INTERVAL_USEC (60 * USEC_PER_SEC)

static void runs_value_free(gpointer p) {
        run_unref(p);
}

static void jobs_value_free(gpointer p) {
        job_unref(p);
}

static void backend_free_void(gpointer p) {
        backend_free(p);
}

int manager_new(sd_event *event, Config *config, bool user_mode, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = g_new0(Manager, 1);
        m->event = sd_event_ref(event);
        m->config = config;
        m->user_mode = user_mode;
        m->runs = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, runs_value_free);
        m->jobs = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, jobs_value_free);
        g_queue_init(&m->measure_queue);
        m->backends = g_ptr_array_new_with_free_func(backend_free_void);
        m->next_run_id = m->next_job_id = 1;

        r = http_client_new(event, &m->http);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the HTTP client: %m");

        for (guint i = 0; i < config->backends->len; i++) {
                Backend *b;

                r = backend_new(g_ptr_array_index(config->backends, i), config, m->http, &b);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up backend: %m");
                g_ptr_array_add(m->backends, b);
        }

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        /* Runs still going are cancelled: their connections close, nothing more is reported. */
        m->hooks = NULL;
        {
                GHashTableIter it;
                gpointer v;

                g_hash_table_iter_init(&it, m->jobs);
                while (g_hash_table_iter_next(&it, NULL, &v))
                        job_cancel(v);
                g_hash_table_iter_init(&it, m->runs);
                while (g_hash_table_iter_next(&it, NULL, &v))
                        run_cancel(v);
        }
        g_queue_clear(&m->measure_queue);
        /* Requests still in flight (a token breakdown, a probe) end here, and their callbacks may still
         * finish a run: store it, tell its job. So before the jobs, runs and backends go. */
        m->http = http_client_free(m->http);
        g_hash_table_unref(m->jobs);
        g_hash_table_unref(m->runs);
        sd_event_source_disable_unref(m->probe_timer);
        g_ptr_array_unref(m->backends);
        prompt_catalog_free(m->prompts);
        energy_monitor_free(m->energy);
        store_free(m->store);
        benchmark_registry_free(m->benchmarks);
        grid_table_free(m->grid);
        g_free(m->default_benchmark);
        g_free(m->data_dir);
        g_free(m->state_dir);
        sd_event_unref(m->event);
        g_free(m);
        return NULL;
}

void manager_set_hooks(Manager *m, const ManagerHooks *hooks, void *userdata) {
        m->hooks = hooks;
        m->hooks_userdata = userdata;
}

const char *manager_data_path(Manager *m, const char *relative, char **ret_buf) {
        *ret_buf = g_build_filename(m->data_dir, relative, NULL);
        return *ret_buf;
}

static char *find_state_dir(bool user_mode) {
        const char *e = getenv("STATE_DIRECTORY");

        if (!isempty(e)) {
                const char *colon = strchr(e, ':'); /* systemd passes a list when several are set */

                return colon ? g_strndup(e, colon - e) : g_strdup(e);
        }
        if (user_mode)
                return g_build_filename(g_get_user_state_dir(), "llmlab", NULL);
        return g_strdup(LLMLAB_STATEDIR);
}

static int open_store(Manager *m) {
        g_autofree char *path = NULL;
        int r;

        if (g_mkdir_with_parents(m->state_dir, 0700) < 0)
                return log_error_errno(negative_errno(), "Failed to create state directory %s: %m",
                                       m->state_dir);
        path = g_build_filename(m->state_dir, "llmlab.db", NULL);
        r = store_open(path, &m->store);
        if (r < 0)
                return log_error_errno(r, "Failed to open the database %s: %m", path);
        r = store_next_ids(m->store, &m->next_run_id, &m->next_job_id);
        if (r < 0)
                return log_error_errno(r, "Failed to read the database %s: %m", path);
        log_debug("Database %s open, next run id %" PRIu64 ".", path, m->next_run_id);
        /* The textfile reflects the stored runs from the start, not only after the next run. */
        (void) metrics_textfile_write(m->store, m->config->textfile_path);
        return 0;
}

static int load_benchmarks(Manager *m) {
        _cleanup_json_ json_t *stored = NULL;
        g_autofree char *dir = NULL, *def = NULL;
        size_t i;
        json_t *e;
        int r;

        m->benchmarks = benchmark_registry_new();
        r = benchmark_registry_load_builtin_dir(m->benchmarks,
                                                manager_data_path(m, "data/benchmarks", &dir));
        if (r < 0)
                return log_error_errno(r, "Failed to load built-in benchmarks from %s: %m", dir);

        r = store_load_benchmarks(m->store, &stored);
        if (r < 0)
                return log_error_errno(r, "Failed to load stored benchmarks: %m");
        json_array_foreach (stored, i, e) {
                _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
                Benchmark *b = NULL;

                r = benchmark_from_json(e, &b, &err);
                if (r >= 0)
                        r = benchmark_registry_add(m->benchmarks, b, /* replace= */ true, &err);
                if (r < 0)
                        log_warning("Ignoring stored benchmark %s: %s", strna(json_get_string(e, "id")),
                                    strna(err.message));
        }

        if (store_get_setting(m->store, "default_benchmark", &def) >= 0 &&
            benchmark_registry_get(m->benchmarks, def))
                m->default_benchmark = TAKE_PTR(def);
        else if (m->config->default_benchmark) {
                if (!benchmark_registry_get(m->benchmarks, m->config->default_benchmark))
                        return log_error_errno(-ENOENT, "DefaultBenchmark=%s is not a known benchmark.",
                                               m->config->default_benchmark);
                m->default_benchmark = g_strdup(m->config->default_benchmark);
        } else
                m->default_benchmark = g_strdup(BENCHMARK_DEFAULT_ID);
        return 0;
}

static int load_grid(Manager *m) {
        g_autofree char *path = NULL;
        int r;

        r = grid_table_load(manager_data_path(m, "data/grid-factors.json", &path), &m->grid);
        if (r < 0)
                return log_error_errno(r, "Failed to load grid emission factors from %s: %m", path);
        if (!grid_table_lookup(m->grid, m->config->region))
                return log_error_errno(
                        -EINVAL, "[Carbon] Region=%s is not a known region code (see 'llmlabctl regions').",
                        m->config->region);
        return 0;
}

static int probe_timer_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        manager_probe_backends(m);
        (void) sd_event_source_set_time_relative(s, PROBE_INTERVAL_USEC);
        return 0;
}

int manager_startup(Manager *m) {
        g_autofree char *builtin = NULL, *local = NULL;
        const char *sysfs = getenv("LLMLAB_SYSFS_ROOT");
        int r;

        m->data_dir = g_strdup(getenv("LLMLAB_DATA_DIR") ?: LLMLAB_PKGDATADIR);
        m->state_dir = find_state_dir(m->user_mode);

        builtin = g_build_filename(m->data_dir, "system_prompts", NULL);
        local = g_build_filename(m->config->local_dir, "system_prompts", NULL);
        r = prompt_catalog_new(builtin, local, &m->prompts);
        if (r < 0)
                return log_oom();

        r = open_store(m);
        if (r < 0)
                return r;
        r = load_benchmarks(m);
        if (r < 0)
                return r;
        r = load_grid(m);
        if (r < 0)
                return r;

        r = energy_monitor_new(m->event, isempty(sysfs) ? "/sys" : sysfs, m->config->sample_interval_ms,
                               &m->energy);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the energy monitor: %m");
        energy_monitor_set_idle_window(m->energy, (uint64_t) m->config->idle_window_sec * NSEC_PER_SEC,
                                       (uint64_t) ENERGY_IDLE_SETTLE_MS_DEFAULT * NSEC_PER_MSEC);
        if (!energy_monitor_can_measure(m->energy))
                log_notice("No readable energy counters: runs can only be estimated.");

        manager_probe_backends(m);
        r = sd_event_add_time_relative(m->event, &m->probe_timer, CLOCK_MONOTONIC, PROBE_INTERVAL_USEC, 0,
                                       probe_timer_handler, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the probe timer: %m");
        (void) sd_event_source_set_enabled(m->probe_timer, SD_EVENT_ON);
        (void) sd_event_source_set_description(m->probe_timer, "backend-probe");
        return 0;
}

/* --- backends -------------------------------------------------------------------------------- */

Backend *manager_find_backend(Manager *m, const char *id) {
        if (isempty(id))
                return m->backends->len > 0 ? g_ptr_array_index(m->backends, 0) : NULL;
        for (guint i = 0; i < m->backends->len; i++) {
                Backend *b = g_ptr_array_index(m->backends, i);

                if (streq(b->id, id))
                        return b;
        }
        return NULL;
}

json_t *manager_backends_json(Manager *m) {
        json_t *a = json_array();

        for (guint i = 0; i < m->backends->len; i++)
                json_array_append_new(a, backend_status_json(g_ptr_array_index(m->backends, i)));
        return a;
}

static void probe_done(Backend *b, json_t *reply, const LabError *error, void *userdata) {
        Manager *m = userdata;
        bool was = b->reachable;

        backend_set_status(b, reply != NULL, json_get_string(reply, "version"),
                           error ? error->message : NULL);
        if (!reply)
                log_debug("Backend %s unreachable: %s", b->id, strna(error->message));
        if (was != b->reachable || reply)
                manager_notify(m, (const char *const[]){"Backends", NULL});
}

void manager_probe_backends(Manager *m) {
        for (guint i = 0; i < m->backends->len; i++) {
                Backend *b = g_ptr_array_index(m->backends, i);
                int r;

                r = b->ops->probe(b, &(BackendReply){.cb = probe_done, .userdata = m}, NULL);
                if (r < 0)
                        log_warning_errno(r, "Failed to probe backend %s, ignoring: %m", b->id);
        }
}

/* --- runs ------------------------------------------------------------------------------------ */

Run *manager_get_run(Manager *m, uint64_t id) {
        return g_hash_table_lookup(m->runs, &id);
}

unsigned manager_count_active_runs(Manager *m, uint32_t uid) {
        GHashTableIter it;
        gpointer v;
        unsigned n = 0;

        g_hash_table_iter_init(&it, m->runs);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                Run *r = v;

                if (r->uid == uid && !run_state_is_final(r->state))
                        n++;
        }
        return n;
}

unsigned manager_queue_length(Manager *m) {
        return g_queue_get_length(&m->measure_queue);
}

void manager_notify(Manager *m, const char *const *properties) {
        if (m->hooks && m->hooks->manager_changed)
                m->hooks->manager_changed(m, properties, m->hooks_userdata);
}

void manager_run_changed(Manager *m, Run *r, const char *const *properties) {
        if (m->hooks && m->hooks->run_changed)
                m->hooks->run_changed(m, r, properties, m->hooks_userdata);
}

static void update_queue_positions(Manager *m) {
        unsigned pos = 1;

        for (GList *l = m->measure_queue.head; l; l = l->next)
                run_set_queue_position(l->data, pos++);
        manager_notify(m, (const char *const[]){"QueueLength", NULL});
}

static void start_next_measured(Manager *m) {
        static bool starting = false;

        if (starting)
                return; /* run_begin() may finish a run synchronously; the outer loop continues */
        starting = true;
        while (!m->measuring && !g_queue_is_empty(&m->measure_queue)) {
                Run *next = g_queue_pop_head(&m->measure_queue);

                m->measuring = next;
                update_queue_positions(m);
                (void) run_begin(next);
        }
        starting = false;
}

void manager_enqueue_measured(Manager *m, Run *r) {
        g_queue_push_tail(&m->measure_queue, r);
        r->state = RUN_QUEUED;
        update_queue_positions(m);
        start_next_measured(m);
}

void manager_unqueue(Manager *m, Run *r) {
        if (g_queue_remove(&m->measure_queue, r))
                update_queue_positions(m);
}

void manager_release_measurement(Manager *m, Run *r) {
        if (m->measuring != r)
                return;
        m->measuring = NULL;
        start_next_measured(m);
}

static int linger_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        Run *r = userdata;
        Manager *m = r->manager;
        uint64_t id = r->id;

        if (m->hooks && m->hooks->run_removed)
                m->hooks->run_removed(m, r, m->hooks_userdata);
        g_hash_table_remove(m->runs, &id); /* drops the table's reference */
        return 0;
}

static void store_run(Manager *m, Run *r) {
        _cleanup_json_ json_t *request = lab_request_to_json(r->request);
        StoredRun sr = {
                .id = r->id,
                .job_id = r->job_id,
                .uid = r->uid,
                .created_usec = r->created_usec,
                .finished_usec = r->finished_usec,
                .model = r->request->model,
                .backend = r->backend->id,
                .state = run_state_to_string(r->state),
                .measure = measure_mode_to_string(r->measure),
                .label = r->request->label,
                .warmup = r->warmup,
                .request = request,
                .answer = r->answer->str,
                .thinking = r->thinking->str,
                .result = r->result,
                .error_name = lab_error_is_set(&r->error) ? lab_error_code_to_bus_name(r->error.code) : NULL,
                .error_message = lab_error_is_set(&r->error) ? r->error.message : NULL,
        };
        int k;

        k = store_insert_run(m->store, &sr);
        if (k < 0)
                log_error_errno(k, "Failed to store run %" PRIu64 ", the result is only on the bus: %m",
                                r->id);
}

void manager_run_finished(Manager *m, Run *r) {
        int k;

        store_run(m, r);
        (void) metrics_textfile_write(m->store, m->config->textfile_path);
        if (m->hooks && m->hooks->run_finished)
                m->hooks->run_finished(m, r, m->hooks_userdata);
        if (r->finished_cb)
                r->finished_cb(r, r->finished_userdata);

        k = sd_event_add_time_relative(m->event, &r->linger_timer, CLOCK_MONOTONIC,
                                       (uint64_t) m->config->linger_sec * USEC_PER_SEC, USEC_PER_SEC,
                                       linger_handler, r);
        if (k < 0)
                log_warning_errno(k, "Failed to schedule the removal of run %" PRIu64 ", keeping it: %m",
                                  r->id);
        else
                (void) sd_event_source_set_description(r->linger_timer, "run-linger");
}

/* --- starting a run -------------------------------------------------------------------------- */

typedef struct PendingStart {
        Manager *manager;
        LabRequest *request;
        uint32_t uid;
        char *owner;
        uint64_t job_id;
        Backend *backend;
        char *system_base;
        char *system_message;
        MeasureMode measure;
        manager_run_cb cb;
        void *userdata;
        bool replied;
} PendingStart;

static void pending_start_free(void *p) {
        PendingStart *ps = p;

        if (!ps->replied && ps->cb) {
                _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;

                (void) lab_error_set(&err, LAB_ERROR_FAILED, "The model lookup was abandoned");
                ps->cb(ps->manager, NULL, &err, ps->userdata);
        }
        lab_request_free(ps->request);
        g_free(ps->owner);
        g_free(ps->system_base);
        g_free(ps->system_message);
        g_free(ps);
}

/* Per-user runs (not those of jobs) and the measurement queue. */
static int check_run_limits(Manager *m, uint32_t uid, uint64_t job_id, MeasureMode measure,
                            LabError *error) {
        if (job_id == 0 && manager_count_active_runs(m, uid) >= m->config->max_runs_per_user)
                return lab_error_set(error, LAB_ERROR_TOO_MANY_RUNS,
                                     "Too many runs: at most %u at a time per user",
                                     m->config->max_runs_per_user);
        if (measure == MEASURE_LIVE && manager_queue_length(m) >= m->config->max_queue_length)
                return lab_error_set(error, LAB_ERROR_QUEUE_FULL,
                                     "The measurement queue is full (%u runs waiting)",
                                     manager_queue_length(m));
        return 0;
}

static void pending_start_model_info(Backend *b, json_t *info, const LabError *error, void *userdata) {
        _cleanup_lab_error_ LabError limit = LAB_ERROR_INIT;
        PendingStart *ps = userdata;
        Manager *m = ps->manager;
        Run *r;

        ps->replied = true;
        if (!info) {
                backend_set_status(b, error->code != LAB_ERROR_BACKEND_UNAVAILABLE, NULL, error->message);
                ps->cb(m, NULL, error, ps->userdata);
                return;
        }
        /* Again: starts that were waiting for the model lookup at the same time all passed the first
         * check, only one of them at a time becomes a run. */
        if (check_run_limits(m, ps->uid, ps->job_id, ps->measure, &limit) < 0) {
                ps->cb(m, NULL, &limit, ps->userdata);
                return;
        }

        r = run_new(m, m->next_run_id++, ps->uid, ps->owner, TAKE_PTR(ps->request), b, info, ps->measure);
        r->system_base = TAKE_PTR(ps->system_base);
        r->system_message = TAKE_PTR(ps->system_message);
        r->job_id = ps->job_id;
        g_hash_table_insert(m->runs, &r->id, r);
        if (m->hooks && m->hooks->run_new)
                m->hooks->run_new(m, r, m->hooks_userdata);

        /* The caller replies to the client here, before the server is contacted. */
        ps->cb(m, r, NULL, ps->userdata);
        (void) run_start(r);
}

static int resolve_measure(Manager *m, MeasureMode requested, MeasureMode *ret, LabError *error) {
        bool can = energy_monitor_can_measure(m->energy);

        switch (requested) {
        case MEASURE_LIVE:
                if (!can)
                        return lab_error_set(
                                error, LAB_ERROR_ENERGY_UNAVAILABLE,
                                "No readable energy counters on this machine (see 'llmlabctl energy'); "
                                "use measure=estimate");
                *ret = MEASURE_LIVE;
                return 0;
        case MEASURE_AUTO: *ret = can ? MEASURE_LIVE : MEASURE_ESTIMATE; return 0;
        default: *ret = requested; return 0;
        }
}

static int compose_system(Manager *m, const LabRequest *q, char **ret_base, char **ret, LabError *error) {
        g_autofree char *base = NULL;
        int r;

        if (q->system_prompt_id) {
                r = prompt_catalog_get(m->prompts, q->system_prompt_id, &base, error);
                if (r < 0)
                        return r;
        } else
                base = g_strdup(q->system_prompt);
        *ret = prompt_compose_system(base, q->conversation_context, q);
        *ret_base = TAKE_PTR(base);
        return 0;
}

int manager_start_run(Manager *m, LabRequest *request, uint32_t uid, const char *owner, uint64_t job_id,
                      manager_run_cb cb, void *userdata, LabError *error) {
        g_autoptr(LabRequest) q = request;
        g_autofree char *system = NULL, *base = NULL;
        MeasureMode measure = MEASURE_OFF;
        PendingStart *ps;
        Backend *b;
        int r;

        r = lab_request_validate(q, error);
        if (r < 0)
                return r;
        b = manager_find_backend(m, q->backend);
        if (!b)
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "No backend \"%s\" is configured",
                                     q->backend);
        if (q->benchmark && !benchmark_registry_get(m->benchmarks, q->benchmark))
                return lab_error_set(error, LAB_ERROR_NO_SUCH_BENCHMARK, "No benchmark \"%s\"",
                                     q->benchmark);
        if (q->region && !grid_table_lookup(m->grid, q->region))
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT,
                                     "Unknown region \"%s\" (an ISO 3166 code or GLOBAL)", q->region);
        r = resolve_measure(m, q->measure, &measure, error);
        if (r < 0)
                return r;
        r = compose_system(m, q, &base, &system, error);
        if (r < 0)
                return r;
        r = check_run_limits(m, uid, job_id, measure, error);
        if (r < 0)
                return r;

        ps = g_new0(PendingStart, 1);
        ps->manager = m;
        ps->request = TAKE_PTR(q);
        ps->uid = uid;
        ps->owner = g_strdup(owner);
        ps->job_id = job_id;
        ps->backend = b;
        ps->system_base = TAKE_PTR(base);
        ps->system_message = TAKE_PTR(system);
        ps->measure = measure;
        ps->cb = cb;
        ps->userdata = userdata;

        /* On failure to start, pending_start_free() has already reported through @cb. */
        (void) backend_get_model_info(b, ps->request->model,
                                      &(BackendReply){.cb = pending_start_model_info,
                                                      .userdata = ps,
                                                      .destroy = pending_start_free},
                                      NULL);
        return 0;
}

/* --- jobs ------------------------------------------------------------------------------------ */

Job *manager_get_job(Manager *m, uint64_t id) {
        return g_hash_table_lookup(m->jobs, &id);
}

static const JobOps *job_ops_for(JobKind kind) {
        switch (kind) {
        case JOB_BATCH: return &job_batch_ops;
        case JOB_CROSSOVER: return &job_crossover_ops;
        case JOB_CALIBRATION: return &job_calibration_ops;
        case JOB_COMPARISON: return &job_comparison_ops;
        default: return NULL;
        }
}

static unsigned count_active_jobs(Manager *m, uint32_t uid) {
        GHashTableIter it;
        gpointer v;
        unsigned n = 0;

        g_hash_table_iter_init(&it, m->jobs);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (((Job *) v)->uid == uid && ((Job *) v)->state == JOB_RUNNING)
                        n++;
        return n;
}

int manager_create_job(Manager *m, int kind, LabRequest *request, JobOptions *options, uint32_t uid,
                       const char *owner, Job **ret, LabError *error) {
        g_autoptr(LabRequest) q = request;
        const JobOps *ops = job_ops_for(kind);
        Job *j;
        int r;

        if (!ops) {
                job_options_done(options);
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "Unknown job kind");
        }
        if (kind == JOB_COMPARISON && isempty(q->model) && options->panes) {
                /* Each pane names its model (required there); the request only carries the shared
                 * keys. The first pane's model stands in for the template's. */
                g_free(q->model);
                q->model = g_strdup(
                        json_string_value(json_object_get(json_array_get(options->panes, 0), "model")));
        }
        r = lab_request_validate(q, error);
        if (r >= 0)
                r = ops->validate(q, options, m->config->max_batch_runs, error);
        if (r >= 0 && !manager_find_backend(m, q->backend))
                r = lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "No backend \"%s\" is configured",
                                  q->backend);
        if (r >= 0 && q->benchmark && !benchmark_registry_get(m->benchmarks, q->benchmark))
                r = lab_error_set(error, LAB_ERROR_NO_SUCH_BENCHMARK, "No benchmark \"%s\"", q->benchmark);
        if (r >= 0 && q->system_prompt_id) {
                g_autofree char *text = NULL;

                r = prompt_catalog_get(m->prompts, q->system_prompt_id, &text, error);
        }
        if (r >= 0 && count_active_jobs(m, uid) >= m->config->max_runs_per_user)
                r = lab_error_set(error, LAB_ERROR_TOO_MANY_RUNS,
                                  "Too many jobs: at most %u at a time per user",
                                  m->config->max_runs_per_user);
        if (r < 0) {
                job_options_done(options);
                return r;
        }

        j = g_new0(Job, 1);
        j->n_ref = 1;
        j->manager = m;
        j->ops = ops;
        j->id = m->next_job_id++;
        j->path = g_strdup_printf("/org/llmlab/Lab1/job/%" PRIu64, j->id);
        j->uid = uid;
        j->owner = g_strdup(owner);
        j->request = TAKE_PTR(q);
        j->options = *options;
        *options = (JobOptions){};
        j->state = JOB_RUNNING;
        j->runs = g_ptr_array_new_with_free_func(runs_value_free);
        j->error = LAB_ERROR_INIT;
        j->created_usec = now_usec(CLOCK_REALTIME);
        j->total = ops->total_runs(j);

        g_hash_table_insert(m->jobs, &j->id, j);
        if (m->hooks && m->hooks->job_new)
                m->hooks->job_new(m, j, m->hooks_userdata);
        *ret = j;
        return 0;
}

void job_begin(Job *j) {
        _cleanup_(job_unrefp) Job *ref = job_ref(j);
        int r;

        log_info("Job %" PRIu64 " (%s) started: %u runs of model %s.", j->id,
                 job_kind_to_string(j->ops->kind), j->total, j->request->model);
        r = j->ops->start(j);
        if (r < 0 && j->state == JOB_RUNNING)
                job_fail(j, LAB_ERROR_FAILED, "Failed to start the job: %s", strerror(-r));
}
