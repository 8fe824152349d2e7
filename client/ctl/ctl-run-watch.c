/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <systemd/sd-event.h>

#include "bus-json.h"
#include "ctl-bus.h"
#include "ctl-run-watch.h"
#include "ctl-watch.h"
#include "log.h"

typedef enum Section {
        SECTION_NONE,
        SECTION_THINKING,
        SECTION_ANSWER,
} Section;

/* Text received so far (and printed, when streaming). */
typedef struct Text {
        char *data;
        size_t size;
        size_t allocated;
} Text;

typedef struct RunWatch {
        CtlWatch watch;
        RunWatchFlags flags;
        const char *path;
        RunOutcome *out;

        uint64_t last_seq;
        bool desynced; /* a Chunk was missed: follow GetTranscript() from now on */
        Text answer, thinking;

        Section section;
        char last_char; /* last byte written to stdout, '\0' before any */
        bool tty;       /* stdout is a terminal: sanitize, dim the thinking */

        bool status_line; /* stderr is a terminal: show the state while waiting */
        bool status_visible;
        char *state;
        uint32_t queue_position;

        bool finished;
} RunWatch;

static void text_done(Text *t) {
        free(t->data);
        t->data = NULL;
        t->size = t->allocated = 0;
}

static int text_append(Text *t, const char *s, size_t n) {
        if (t->allocated - t->size < n + 1) {
                size_t a = MAX(t->allocated * 2, t->size + n + 1);
                char *p = realloc(t->data, a);

                if (!p)
                        return -ENOMEM;
                t->data = p;
                t->allocated = a;
        }
        memcpy(t->data + t->size, s, n);
        t->size += n;
        t->data[t->size] = '\0';
        return 0;
}

void run_outcome_done(RunOutcome *o) {
        free(o->path);
        free(o->state);
        json_decref(o->result);
        free(o->answer);
        free(o->thinking);
        free(o->error_name);
        free(o->error_message);
        *o = (RunOutcome){};
}

/* --- terminal output --------------------------------------------------------------------------- */

static void status_clear(RunWatch *w) {
        if (!w->status_visible)
                return;
        fputs("\r\x1b[K", stderr);
        fflush(stderr);
        w->status_visible = false;
}

static void status_show(RunWatch *w) {
        if (!w->status_line || w->section != SECTION_NONE || !w->state)
                return;

        if (streq(w->state, "queued") && w->queue_position > 0)
                fprintf(stderr, "\r\x1b[KQueued for measurement (position %" PRIu32 ")…", w->queue_position);
        else if (streq(w->state, "queued"))
                fputs("\r\x1b[KQueued for measurement…", stderr);
        else if (streq(w->state, "loading"))
                fputs("\r\x1b[KWaiting for the model (loading)…", stderr);
        else if (streq(w->state, "prefill"))
                fputs("\r\x1b[KProcessing the prompt…", stderr);
        else {
                status_clear(w);
                return;
        }
        fflush(stderr);
        w->status_visible = true;
}

static void out_write(RunWatch *w, const char *s, size_t n) {
        if (n == 0)
                return;
        fwrite(s, 1, n, stdout);
        w->last_char = s[n - 1];
}

static void out_puts(RunWatch *w, const char *s) {
        out_write(w, s, strlen(s));
}

static void print_header(RunWatch *w, Section s) {
        if (w->last_char != '\0') {
                if (w->last_char != '\n')
                        out_puts(w, "\n");
                out_puts(w, "\n");
        }
        fprintf(stdout, "%s%s%s\n", ansi_bold(),
                s == SECTION_THINKING ? "Thinking:" : "Answer:", ansi_normal());
        w->last_char = '\n';
}

/* Prints a piece of streamed text. Thinking is shown under its own header (dimmed on a terminal);
 * the answer gets an "Answer:" header only when thinking came first. */
static int emit(RunWatch *w, const char *text, size_t n, bool thinking) {
        Section s = thinking ? SECTION_THINKING : SECTION_ANSWER;
        int r;

        r = text_append(thinking ? &w->thinking : &w->answer, text, n);
        if (r < 0)
                return log_oom();
        if (!(w->flags & RUN_WATCH_STREAM) || n == 0)
                return 0;
        if (thinking && (w->flags & RUN_WATCH_QUIET))
                return 0;

        status_clear(w);
        if (s != w->section && !(w->flags & RUN_WATCH_QUIET) && (thinking || w->section == SECTION_THINKING))
                print_header(w, s);
        w->section = s;

        if (w->tty) {
                _cleanup_free_ char *safe = terminal_sanitize(text, n);

                if (!safe)
                        return log_oom();
                if (thinking)
                        fputs(ansi_dim(), stdout);
                out_puts(w, safe);
                if (thinking)
                        fputs(ansi_normal(), stdout);
        } else
                out_write(w, text, n);
        fflush(stdout);
        return 0;
}

/* Prints what @transcript has beyond what was received, if what was received is its prefix. */
static int emit_suffix(RunWatch *w, const char *transcript, bool thinking) {
        Text *t = thinking ? &w->thinking : &w->answer;
        size_t n = strlen(transcript);

        if (n < t->size || memcmp(transcript, strempty(t->data), t->size) != 0) {
                log_debug("The %s transcript does not continue the streamed text, ignoring.",
                          thinking ? "thinking" : "answer");
                return 0;
        }
        return emit(w, transcript + t->size, n - t->size, thinking);
}

static int get_transcript(RunWatch *w, char **ret_answer, char **ret_thinking) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *answer, *thinking;
        int r;

        r = sd_bus_call_method(w->watch.bus, LAB_BUS_NAME, w->path, LAB_RUN_IFACE, "GetTranscript", &error,
                               &reply, "");
        if (r < 0)
                return log_debug_errno(r, "Failed to get the transcript: %s", error.message ?: strerror(-r));
        r = sd_bus_message_read(reply, "ss", &answer, &thinking);
        if (r < 0)
                return log_debug_errno(r, "Failed to parse the transcript: %m");
        *ret_answer = strdup(answer);
        *ret_thinking = strdup(thinking);
        if (!*ret_answer || !*ret_thinking)
                return log_oom();
        return 0;
}

/* After a gap in the Chunk sequence: print the transcript's new text instead of the chunks. */
static int resync(RunWatch *w) {
        _cleanup_free_ char *answer = NULL, *thinking = NULL;
        int r;

        r = get_transcript(w, &answer, &thinking);
        if (r < 0)
                return 0; /* the next chunk or the end will try again */
        r = emit_suffix(w, thinking, true);
        if (r >= 0)
                r = emit_suffix(w, answer, false);
        return r;
}

/* --- signals from the daemon ------------------------------------------------------------------- */

static int stop(RunWatch *w) {
        return ctl_watch_stop(&w->watch);
}

static int fail(RunWatch *w, int error) {
        return ctl_watch_fail(&w->watch, error);
}

static int on_chunk(RunWatch *w, sd_bus_message *m) {
        const char *text;
        uint64_t seq;
        int thinking, r;

        r = sd_bus_message_read(m, "tsb", &seq, &text, &thinking);
        if (r < 0) {
                log_debug_errno(r, "Ignoring a malformed Chunk signal: %m");
                return 0;
        }
        if (seq <= w->last_seq)
                return 0; /* seen already */
        if (seq != w->last_seq + 1 && !w->desynced) {
                log_debug("Chunk %" PRIu64 " follows %" PRIu64 ": following the transcript from now on.",
                          seq, w->last_seq);
                w->desynced = true;
        }
        w->last_seq = seq;

        r = w->desynced ? resync(w) : emit(w, text, strlen(text), thinking);
        if (r < 0)
                return fail(w, r);
        return 0;
}

static int take_error(RunWatch *w) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        json_t *e = json_object_get(w->out->result, "error");
        const char *name = json_get_string(e, "name"), *message = json_get_string(e, "message");
        int r;

        if (!name) {
                /* Not in the metrics: read the Error property. */
                r = sd_bus_get_property(w->watch.bus, LAB_BUS_NAME, w->path, LAB_RUN_IFACE, "Error", &error,
                                        &reply, "(ss)");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "(ss)", &name, &message);
                if (r < 0)
                        log_debug_errno(r, "Failed to read the run's Error: %m");
        }
        w->out->error_name = isempty(name) ? NULL : strdup(name);
        w->out->error_message = isempty(message) ? NULL : strdup(message);
        return 0;
}

static int on_finished(RunWatch *w, sd_bus_message *m) {
        const char *result;
        int r;

        if (w->finished)
                return 0;
        r = sd_bus_message_read(m, "s", &result);
        if (r >= 0)
                r = bus_message_read_json(m, &w->out->result);
        if (r < 0) {
                log_error_errno(r, "Failed to %s: cannot parse the Finished signal: %m", w->watch.what);
                return fail(w, r);
        }
        w->out->state = strdup(result);
        if (!w->out->state)
                return fail(w, log_oom());
        w->finished = true;
        if (!streq(result, "done") && !streq(result, "cancelled"))
                (void) take_error(w);
        return stop(w);
}

static int on_properties_changed(RunWatch *w, sd_bus_message *m) {
        _cleanup_json_ json_t *changed = NULL;
        const char *iface, *state;
        json_t *pos;
        int r;

        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0 || !streq(iface, LAB_RUN_IFACE))
                return 0;
        r = bus_message_read_json(m, &changed);
        if (r < 0)
                return 0;

        state = json_get_string(changed, "State");
        if (state) {
                char *s = strdup(state);

                if (!s)
                        return fail(w, log_oom());
                free(w->state);
                w->state = s;
        }
        pos = json_object_get(changed, "QueuePosition");
        if (json_is_integer(pos))
                w->queue_position = (uint32_t) json_integer_value(pos);
        status_show(w);
        return 0;
}

static int on_daemon_signal(sd_bus_message *m, void *userdata) {
        RunWatch *w = userdata;

        if (!streq_ptr(sd_bus_message_get_path(m), w->path))
                return 0;
        if (sd_bus_message_is_signal(m, LAB_RUN_IFACE, "Chunk"))
                return on_chunk(w, m);
        if (sd_bus_message_is_signal(m, LAB_RUN_IFACE, "Finished"))
                return on_finished(w, m);
        if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.Properties", "PropertiesChanged"))
                return on_properties_changed(w, m);
        return 0;
}

/* --- cancellation ------------------------------------------------------------------------------ */

static void on_interrupt(void *userdata) {
        RunWatch *w = userdata;

        status_clear(w);
        if (w->status_line)
                fputs("Cancelling…\n", stderr);
        (void) ctl_watch_cancel(&w->watch, w->path, LAB_RUN_IFACE);
}

static void on_clear(void *userdata) {
        status_clear(userdata);
}

static const CtlWatchOps watch_ops = {
        .signal = on_daemon_signal,
        .interrupt = on_interrupt,
        .clear = on_clear,
};

/* --- setup ------------------------------------------------------------------------------------- */

static void read_initial_state(RunWatch *w) {
        char *state = NULL;
        int r;

        if (!w->status_line)
                return;
        r = sd_bus_get_property_string(w->watch.bus, LAB_BUS_NAME, w->path, LAB_RUN_IFACE, "State", NULL,
                                       &state);
        if (r < 0)
                return;
        free(w->state);
        w->state = state;
        (void) sd_bus_get_property_trivial(w->watch.bus, LAB_BUS_NAME, w->path, LAB_RUN_IFACE,
                                           "QueuePosition", NULL, 'u', &w->queue_position);
        status_show(w);
}

static int start(RunWatch *w, sd_bus_message *start_call) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
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
        w->path = w->out->path;
        log_debug("Started %s.", path);
        return 0;
}

/* After Finished: the transcript (for --json, and to print anything the signals missed). */
static void finish_output(RunWatch *w) {
        int r;

        r = get_transcript(w, &w->out->answer, &w->out->thinking);
        if (r >= 0 && (w->flags & RUN_WATCH_STREAM)) {
                (void) emit_suffix(w, w->out->thinking, true);
                (void) emit_suffix(w, w->out->answer, false);
        }
        if (r < 0) {
                /* Keep what was streamed. */
                w->out->answer = w->answer.data ? strdup(w->answer.data) : strdup("");
                w->out->thinking = w->thinking.data ? strdup(w->thinking.data) : strdup("");
        }

        status_clear(w);
        /* End the last line, except for the exact bytes of --quiet when piped. */
        if ((w->flags & RUN_WATCH_STREAM) && w->last_char != '\0' && w->last_char != '\n' &&
            (!(w->flags & RUN_WATCH_QUIET) || w->tty))
                out_puts(w, "\n");
        fflush(stdout);
}

int run_watch(sd_bus *bus, sd_bus_message *start_call, RunWatchFlags flags, const char *what,
              RunOutcome *ret) {
        RunWatch w = {
                .flags = flags,
                .out = ret,
                .tty = isatty(STDOUT_FILENO),
                .status_line = isatty(STDERR_FILENO) && !streq_ptr(getenv("TERM"), "dumb"),
        };
        int r;

        r = ctl_watch_init(&w.watch, bus, what, "run", &watch_ops, &w);
        if (r >= 0)
                r = start(&w, start_call);
        if (r >= 0) {
                read_initial_state(&w);
                r = ctl_watch_run(&w.watch);
        }
        if (r >= 0 && w.watch.abandoned) {
                status_clear(&w);
                ret->state = strdup("cancelled");
                r = ret->state ? 0 : log_oom();
        } else if (r >= 0)
                finish_output(&w);

        ctl_watch_done(&w.watch);
        text_done(&w.answer);
        text_done(&w.thinking);
        free(w.state);
        return r < 0 ? r : 0;
}
