/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <math.h>

#include "bus-json.h"
#include "ctl-bus.h"
#include "ctl-job-show.h"
#include "ctl-job-watch.h"
#include "ctl-watch.h"
#include "json-util.h"
#include "log.h"

#define REDRAW_USEC (250 * USEC_PER_MSEC)

typedef struct JobRun {
        char *path;
        char *state;
        uint64_t chars; /* streamed text (bytes) */
        bool finished;
} JobRun;

struct JobWatch {
        CtlWatch watch;
        JobWatchFlags flags;
        const char *unit;
        const JobWatchOps *ops;
        void *userdata;
        JobOutcome *out;

        JobRun *runs;
        size_t n_runs;
        unsigned done, total;
        unsigned n_finished;     /* runs of the job whose Finished was seen */
        unsigned n_start_failed; /* runs that could not be started */
        uint64_t started_usec;
        uint64_t done_usec;      /* since started_usec, when `done` last grew */
        uint64_t finished_chars; /* Σ text of the finished runs that produced output */
        uint64_t finished_tokens;

        bool bar; /* stderr is a terminal and the verb wants a progress line */
        bool bar_visible;
        sd_event_source *redraw;

        bool cancelling;
        bool finished;
};

void job_outcome_done(JobOutcome *o) {
        free(o->path);
        free(o->state);
        json_decref(o->summary);
        free(o->error_name);
        free(o->error_message);
        *o = (JobOutcome){};
}

sd_event *job_watch_get_event(JobWatch *w) {
        return w->watch.event;
}

bool job_watch_cancelling(JobWatch *w) {
        return w->cancelling;
}

static JobRun *find_run(JobWatch *w, const char *path) {
        for (size_t i = w->n_runs; i > 0; i--)
                if (streq(w->runs[i - 1].path, path))
                        return &w->runs[i - 1];
        return NULL;
}

static void runs_free(JobWatch *w) {
        for (size_t i = 0; i < w->n_runs; i++) {
                free(w->runs[i].path);
                free(w->runs[i].state);
        }
        free(w->runs);
        w->runs = NULL;
        w->n_runs = 0;
}

static int stop(JobWatch *w) {
        return ctl_watch_stop(&w->watch);
}

static int fail(JobWatch *w, int error) {
        return ctl_watch_fail(&w->watch, error);
}

/* --- the progress line ------------------------------------------------------------------------- */

static void bar_clear(JobWatch *w) {
        if (!w->bar_visible)
                return;
        fputs("\r\x1b[K", stderr);
        fflush(stderr);
        w->bar_visible = false;
}

static void bar_draw(JobWatch *w) {
        _cleanup_free_ char *line = NULL;
        const JobRun *current = NULL;
        JobProgress p;
        size_t width = terminal_columns();

        if (!w->bar || w->finished)
                return;
        for (size_t i = w->n_runs; i > 0 && !current; i--)
                if (!w->runs[i - 1].finished)
                        current = &w->runs[i - 1];

        p = (JobProgress){
                .unit = w->unit,
                .done = w->done,
                .total = w->total,
                .elapsed_usec = now_usec(CLOCK_MONOTONIC) - w->started_usec,
                .done_usec = w->done_usec,
                .current = current ? (unsigned) (current - w->runs) + 1 : 0,
                .current_state = current ? current->state : NULL,
                .current_chars = current ? current->chars : 0,
                .chars_per_token =
                        w->finished_tokens > 0 ? (double) w->finished_chars / w->finished_tokens : NAN,
                .cancelling = w->cancelling,
        };
        /* One column less than the terminal: writing the last column would wrap on some terminals. */
        line = job_progress_line(&p, width == SIZE_MAX ? 79 : MAX(width, (size_t) 21) - 1);
        if (!line)
                return;
        fprintf(stderr, "\r\x1b[K%s", line);
        fflush(stderr);
        w->bar_visible = true;
}

/* A timer source is ONESHOT: it has to be enabled again after each expiry. */
static int rearm(sd_event_source *s) {
        int r;

        r = sd_event_source_set_time_relative(s, REDRAW_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return r;
}

static int on_redraw(sd_event_source *s, uint64_t usec, void *userdata) {
        JobWatch *w = userdata;

        bar_draw(w);
        return rearm(s);
}

/* --- signals from the daemon ------------------------------------------------------------------- */

static int call_hook_result(JobWatch *w, int r) {
        return r < 0 ? fail(w, r) : 0;
}

static int add_run(JobWatch *w, const char *path) {
        JobRun *a;
        int r;

        a = reallocarray(w->runs, w->n_runs + 1, sizeof(JobRun));
        if (!a)
                return fail(w, log_oom());
        w->runs = a;
        a[w->n_runs] = (JobRun){.path = strdup(path)};
        if (!a[w->n_runs].path)
                return fail(w, log_oom());
        w->n_runs++;
        if (w->ops->run_new) {
                r = w->ops->run_new(w, path, (unsigned) w->n_runs - 1, w->userdata);
                if (r < 0)
                        return fail(w, r);
        }
        return 0;
}

static int on_job_progress(JobWatch *w, sd_bus_message *m) {
        const char *current;
        uint32_t done, total;
        int r;

        r = sd_bus_message_read(m, "uuo", &done, &total, &current);
        if (r < 0) {
                log_debug_errno(r, "Ignoring a malformed Progress signal: %m");
                return 0;
        }
        if (done > w->done)
                w->done_usec = now_usec(CLOCK_MONOTONIC) - w->started_usec;
        w->done = done;
        w->total = total;
        if (!streq(current, "/") && !find_run(w, current)) {
                r = add_run(w, current);
                if (r < 0 || w->watch.done)
                        return r;
        }
        /* Progress without a new run: a run finished (its Finished came first) or could not start. */
        while (w->ops->run_start_failed && done > w->n_finished + w->n_start_failed) {
                w->n_start_failed++;
                r = w->ops->run_start_failed(w, w->userdata);
                if (r < 0)
                        return fail(w, r);
        }
        bar_draw(w);
        return 0;
}

static int on_job_finished(JobWatch *w, sd_bus_message *m) {
        const char *result;
        int r;

        if (w->finished)
                return 0;
        r = sd_bus_message_read(m, "s", &result);
        if (r >= 0)
                r = bus_message_read_json(m, &w->out->summary);
        if (r < 0) {
                bar_clear(w);
                log_error_errno(r, "Failed to %s: cannot parse the Finished signal: %m", w->watch.what);
                return fail(w, r);
        }
        w->out->state = strdup(result);
        if (!w->out->state)
                return fail(w, log_oom());
        w->finished = true;
        return stop(w);
}

static int on_chunk(JobWatch *w, JobRun *run, sd_bus_message *m) {
        const char *text;
        uint64_t seq;
        int thinking, r;

        r = sd_bus_message_read(m, "tsb", &seq, &text, &thinking);
        if (r < 0) {
                log_debug_errno(r, "Ignoring a malformed Chunk signal: %m");
                return 0;
        }
        run->chars += strlen(text);
        if (w->ops->chunk)
                return call_hook_result(w, w->ops->chunk(w, run->path, seq, text, thinking, w->userdata));
        return 0;
}

static int on_run_finished(JobWatch *w, JobRun *run, sd_bus_message *m) {
        _cleanup_json_ json_t *metrics = NULL;
        const char *result;
        int64_t tokens;
        int r;

        if (run->finished)
                return 0;
        r = sd_bus_message_read(m, "s", &result);
        if (r >= 0)
                r = bus_message_read_json(m, &metrics);
        if (r < 0) {
                log_debug_errno(r, "Ignoring a malformed Finished signal of %s: %m", run->path);
                return 0;
        }
        run->finished = true;
        w->n_finished++;
        tokens = json_get_int(json_object_get(metrics, "tokens"), "output", -1);
        if (tokens > 0 && run->chars > 0) {
                w->finished_tokens += (uint64_t) tokens;
                w->finished_chars += run->chars;
        }
        if (w->ops->run_finished)
                return call_hook_result(w, w->ops->run_finished(w, run->path, result, metrics, w->userdata));
        return 0;
}

static int on_run_properties_changed(JobWatch *w, JobRun *run, sd_bus_message *m) {
        _cleanup_json_ json_t *changed = NULL;
        const char *iface, *state;
        char *s;
        int r;

        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0 || !streq(iface, LAB_RUN_IFACE))
                return 0;
        if (bus_message_read_json(m, &changed) < 0)
                return 0;
        state = json_get_string(changed, "State");
        if (!state)
                return 0;
        s = strdup(state);
        if (!s)
                return fail(w, log_oom());
        free(run->state);
        run->state = s;
        if (w->ops->run_state) {
                r = w->ops->run_state(w, run->path, state, w->userdata);
                if (r < 0)
                        return fail(w, r);
        }
        bar_draw(w);
        return 0;
}

static int on_daemon_signal(sd_bus_message *m, void *userdata) {
        JobWatch *w = userdata;
        const char *path = sd_bus_message_get_path(m);
        JobRun *run;

        if (streq_ptr(path, w->out->path)) {
                if (sd_bus_message_is_signal(m, LAB_JOB_IFACE, "Progress"))
                        return on_job_progress(w, m);
                if (sd_bus_message_is_signal(m, LAB_JOB_IFACE, "Finished"))
                        return on_job_finished(w, m);
                return 0;
        }
        run = path ? find_run(w, path) : NULL;
        if (!run)
                return 0;
        if (sd_bus_message_is_signal(m, LAB_RUN_IFACE, "Chunk"))
                return on_chunk(w, run, m);
        if (sd_bus_message_is_signal(m, LAB_RUN_IFACE, "Finished"))
                return on_run_finished(w, run, m);
        if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.Properties", "PropertiesChanged"))
                return on_run_properties_changed(w, run, m);
        return 0;
}

/* --- cancellation ------------------------------------------------------------------------------ */

void job_watch_cancel(JobWatch *w) {
        if (w->cancelling || w->finished)
                return;
        w->cancelling = true;
        if (ctl_watch_cancel(&w->watch, w->out->path, LAB_JOB_IFACE) >= 0)
                bar_draw(w);
}

int job_watch_cancel_run(JobWatch *w, const char *path) {
        int r;

        /* No reply wanted: a run that finished meanwhile says so with its Finished signal. */
        r = sd_bus_call_method_async(w->watch.bus, NULL, LAB_BUS_NAME, path, LAB_RUN_IFACE, "Cancel", NULL,
                                     NULL, "");
        if (r < 0)
                return log_error_errno(r, "Failed to cancel %s: %m", path);
        return 0;
}

static void on_interrupt(void *userdata) {
        job_watch_cancel(userdata);
}

static void on_clear(void *userdata) {
        bar_clear(userdata);
}

static const CtlWatchOps watch_ops = {
        .signal = on_daemon_signal,
        .interrupt = on_interrupt,
        .clear = on_clear,
};

/* --- setup ------------------------------------------------------------------------------------- */

static int start(JobWatch *w, sd_bus_message *start_call) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *progress = NULL;
        const char *path, *id;
        int r;

        r = sd_bus_call(w->watch.bus, start_call, 0, &error, &reply);
        if (r < 0)
                return ctl_log_bus_error(r, &error, w->watch.what);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_error_errno(r, "Failed to %s: cannot parse the reply: %m", w->watch.what);
        w->out->path = strdup(path);
        if (!w->out->path)
                return log_oom();
        id = strrchr(path, '/');
        w->out->id = id ? strtoull(id + 1, NULL, 10) : 0;
        w->started_usec = now_usec(CLOCK_MONOTONIC);
        log_debug("Started %s.", path);
        /* The total before the first Progress signal. */
        (void) sd_bus_get_property(w->watch.bus, LAB_BUS_NAME, path, LAB_JOB_IFACE, "Progress", NULL,
                                   &progress, "(uu)");
        if (progress)
                (void) sd_bus_message_read(progress, "(uu)", &w->done, &w->total);
        return 0;
}

static int start_redraw(JobWatch *w) {
        if (!w->bar)
                return 0;
        bar_draw(w);
        return sd_event_add_time_relative(w->watch.event, &w->redraw, CLOCK_MONOTONIC, REDRAW_USEC, 0,
                                          on_redraw, w);
}

/* The Error property of a job that did not finish "done". */
static void take_error(JobWatch *w) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name, *message;
        int r;

        r = sd_bus_get_property(w->watch.bus, LAB_BUS_NAME, w->out->path, LAB_JOB_IFACE, "Error", &error,
                                &reply, "(ss)");
        if (r >= 0)
                r = sd_bus_message_read(reply, "(ss)", &name, &message);
        if (r < 0) {
                log_debug_errno(r, "Failed to read the job's Error: %m");
                return;
        }
        w->out->error_name = isempty(name) ? NULL : strdup(name);
        w->out->error_message = isempty(message) ? NULL : strdup(message);
}

static int run_loop(JobWatch *w) {
        int r;

        r = ctl_watch_run(&w->watch);
        bar_clear(w);
        if (r < 0)
                return r;
        if (w->watch.abandoned) {
                w->out->state = strdup("cancelled");
                return w->out->state ? 0 : log_oom();
        }
        if (!streq_ptr(w->out->state, "done"))
                take_error(w);
        return 0;
}

int job_watch(sd_bus *bus, sd_bus_message *start_call, JobWatchFlags flags, const char *unit,
              const char *what, const JobWatchOps *ops, void *userdata, JobOutcome *ret) {
        static const JobWatchOps no_ops = {};
        JobWatch w = {
                .flags = flags,
                .unit = unit,
                .ops = ops ?: &no_ops,
                .userdata = userdata,
                .out = ret,
                .bar = (flags & JOB_WATCH_PROGRESS_BAR) && isatty(STDERR_FILENO) &&
                       !streq_ptr(getenv("TERM"), "dumb"),
        };
        int r;

        r = ctl_watch_init(&w.watch, bus, what, "job", &watch_ops, &w);
        if (r >= 0)
                r = start(&w, start_call);
        if (r >= 0) {
                r = start_redraw(&w);
                if (r < 0)
                        log_debug_errno(r, "Failed to start the progress line, ignoring: %m");
                r = w.ops->started ? w.ops->started(&w, userdata) : 0;
        }
        if (r >= 0)
                r = run_loop(&w);

        w.redraw = sd_event_source_disable_unref(w.redraw);
        ctl_watch_done(&w.watch);
        runs_free(&w);
        return r < 0 ? r : 0;
}
