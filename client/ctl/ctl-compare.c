/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* compare: one prompt on several panes (a model with alias, temperature, backend, …) at once. The
 * panes' text is shown as it streams: side by side on a terminal wide enough (a live view of the
 * last lines of each pane, redrawn in place, then every line once the job is over), or one pane
 * after another otherwise (the first pane streams, the others are buffered until their turn).
 * Then one table row per pane. On a terminal the keys 1…9 stop one pane; Ctrl-C stops them all. */

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <termios.h>

#include "bus-json.h"
#include "ctl-bus.h"
#include "ctl-job-show.h"
#include "ctl-job-watch.h"
#include "ctl-jobs.h"
#include "ctl-parse.h"
#include "ctl-run.h"
#include "json-util.h"
#include "log.h"

#define MAX_PANES   16
#define REDRAW_USEC (50 * USEC_PER_MSEC)

enum {
        ARG_PANE = ARG_VERB_BASE + 0x90,
};

typedef enum CompareMode {
        COMPARE_SILENT,     /* --json, -q: nothing until the end */
        COMPARE_SEQUENTIAL, /* one pane after another */
        COMPARE_COLUMNS,    /* side by side, redrawn in place */
} CompareMode;

typedef struct Buffer {
        char *data;
        size_t size;
        size_t allocated;
} Buffer;

typedef struct Pane {
        PaneSpec spec;
        double temperature; /* the pane's, else the global one (NAN: the model's default) */
        char *path;         /* its run, once created */
        char *state;        /* the run's State; "not started" when it could not start */
        Buffer answer, thinking;
        uint64_t last_seq;
        bool desynced;
        bool finished;
        bool start_failed;
        /* COMPARE_SEQUENTIAL: what of it was printed */
        bool header_printed;
        int section; /* 0 none, 1 thinking, 2 answer */
        size_t printed_answer, printed_thinking;
} Pane;

typedef struct Compare {
        Pane panes[MAX_PANES];
        size_t n_panes;
        size_t next;     /* the first pane with neither a run nor a failure */
        sd_bus *bus;     /* outlives the watch: the text is read after it */
        JobWatch *watch; /* while job_watch() runs, else NULL */
        CompareMode mode;

        /* COMPARE_SEQUENTIAL */
        size_t current;
        char last_char;

        /* COMPARE_COLUMNS */
        size_t col_width;
        size_t live_rows;
        size_t drawn_lines;
        bool dirty;
        sd_event_source *redraw;

        /* keys on a terminal */
        bool keys;
        bool termios_saved;
        struct termios saved;
        sd_event_source *key_source;
} Compare;

static void buffer_done(Buffer *b) {
        free(b->data);
        *b = (Buffer){};
}

static int buffer_append(Buffer *b, const char *s, size_t n) {
        if (b->allocated - b->size < n + 1) {
                size_t a = MAX(b->allocated * 2, b->size + n + 1);
                char *p = realloc(b->data, a);

                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->allocated = a;
        }
        memcpy(b->data + b->size, s, n);
        b->size += n;
        b->data[b->size] = '\0';
        return 0;
}

static const char *buffer_str(const Buffer *b) {
        return b->data ?: "";
}

static void compare_done(Compare *c) {
        for (size_t i = 0; i < c->n_panes; i++) {
                Pane *p = &c->panes[i];

                pane_spec_done(&p->spec);
                free(p->path);
                free(p->state);
                buffer_done(&p->answer);
                buffer_done(&p->thinking);
        }
        c->redraw = sd_event_source_disable_unref(c->redraw);
        c->key_source = sd_event_source_disable_unref(c->key_source);
        if (c->termios_saved)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &c->saved);
}

static const char *pane_name(const Pane *p) {
        return p->spec.alias ?: p->spec.model;
}

static int pane_set_state(Pane *p, const char *state) {
        char *s = strdup(state);

        if (!s)
                return log_oom();
        free(p->state);
        p->state = s;
        return 0;
}

/* --- one pane after another -------------------------------------------------------------------- */

static void seq_write(Compare *c, const char *s, size_t n, bool sanitize) {
        if (n == 0)
                return;
        if (sanitize) {
                _cleanup_free_ char *safe = terminal_sanitize(s, n);

                if (safe)
                        fputs(safe, stdout);
        } else
                fwrite(s, 1, n, stdout);
        c->last_char = s[n - 1];
}

static void seq_newline(Compare *c) {
        if (c->last_char != '\0' && c->last_char != '\n')
                seq_write(c, "\n", 1, false);
}

/* "model, temperature 0.7, backend B": what distinguishes a pane besides its name; NULL if nothing. */
static char *pane_details(const Pane *p, const char *separator) {
        _cleanup_free_ char *s = NULL;

        if (p->spec.alias && string_append(&s, separator, "%s", p->spec.model) < 0)
                return NULL;
        if (!isnan(p->temperature) && string_append(&s, separator, "temperature %g", p->temperature) < 0)
                return NULL;
        if (p->spec.backend && string_append(&s, separator, "backend %s", p->spec.backend) < 0)
                return NULL;
        return s ? TAKE_PTR(s) : strdup("");
}

static void seq_header(Compare *c, size_t i) {
        Pane *p = &c->panes[i];
        _cleanup_free_ char *details = pane_details(p, ", ");

        if (c->last_char != '\0') {
                seq_newline(c);
                seq_write(c, "\n", 1, false);
        }
        printf("%s[%zu] %s%s", ansi_bold(), i + 1, pane_name(p), ansi_normal());
        if (!isempty(details))
                printf(" (%s)", details);
        printf("\n");
        c->last_char = '\n';
        p->header_printed = true;
}

/* Prints what @p streamed since last time, with "Thinking:"/"Answer:" headers as `run` does. */
static void seq_text(Compare *c, Pane *p) {
        bool tty = isatty(STDOUT_FILENO);

        if (p->thinking.size > p->printed_thinking) {
                if (p->section != 1) {
                        seq_newline(c);
                        printf("%sThinking:%s\n", ansi_bold(), ansi_normal());
                        c->last_char = '\n';
                        p->section = 1;
                }
                fputs(ansi_dim(), stdout);
                seq_write(c, p->thinking.data + p->printed_thinking, p->thinking.size - p->printed_thinking,
                          tty);
                fputs(ansi_normal(), stdout);
                p->printed_thinking = p->thinking.size;
        }
        if (p->answer.size > p->printed_answer) {
                if (p->section == 1) {
                        seq_newline(c);
                        printf("\n%sAnswer:%s\n", ansi_bold(), ansi_normal());
                        c->last_char = '\n';
                }
                p->section = 2;
                seq_write(c, p->answer.data + p->printed_answer, p->answer.size - p->printed_answer, tty);
                p->printed_answer = p->answer.size;
        }
}

static void seq_footer(Compare *c, Pane *p) {
        if (streq_ptr(p->state, "done"))
                return;
        seq_newline(c);
        printf("(%s)\n", p->state ?: "unknown");
        c->last_char = '\n';
}

static void seq_flush(Compare *c) {
        while (c->current < c->n_panes) {
                Pane *p = &c->panes[c->current];

                if (!p->header_printed)
                        seq_header(c, c->current);
                seq_text(c, p);
                if (!p->finished && !p->start_failed)
                        break;
                seq_footer(c, p);
                c->current++;
        }
        fflush(stdout);
}

/* --- side by side ------------------------------------------------------------------------------ */

static int pane_lines(const Compare *c, const Pane *p, Lines *l) {
        int r = 0;

        if (p->thinking.size > 0) {
                r = lines_add(l, "Thinking:", false);
                if (r >= 0)
                        r = lines_wrap(l, buffer_str(&p->thinking), c->col_width, true);
        }
        if (r >= 0 && p->answer.size > 0 && p->thinking.size > 0) {
                r = lines_add(l, "", false);
                if (r >= 0)
                        r = lines_add(l, "Answer:", false);
        }
        if (r >= 0 && p->answer.size > 0) {
                _cleanup_free_ char *safe = terminal_sanitize(p->answer.data, p->answer.size);

                r = safe ? lines_wrap(l, safe, c->col_width, false) : -ENOMEM;
        }
        return r;
}

/* Adds the first line of @text wrapped at the column: a header line never wraps. */
static int add_cut(const Compare *c, Lines *l, const char *text, bool dim) {
        Lines tmp = {};
        int r;

        r = lines_wrap(&tmp, text, c->col_width, dim);
        if (r >= 0)
                r = lines_add(l, tmp.n > 0 ? tmp.text[0] : "", dim);
        lines_done(&tmp);
        return r;
}

static int pane_header(const Compare *c, size_t i, Lines *l) {
        const Pane *p = &c->panes[i];
        _cleanup_free_ char *name = NULL, *details = pane_details(p, " · "), *sub = NULL, *rule = NULL;
        int r;

        if (!details || asprintf(&name, "[%zu] %s", i + 1, pane_name(p)) < 0 ||
            asprintf(&sub, "%s%s%s", p->state ?: "starting", isempty(details) ? "" : " · ", details) < 0)
                return -ENOMEM;
        rule = malloc(c->col_width * 3 + 1);
        if (!rule)
                return -ENOMEM;
        for (size_t k = 0; k < c->col_width; k++)
                memcpy(rule + k * 3, "─", 3);
        rule[c->col_width * 3] = '\0';

        r = add_cut(c, l, name, false);
        if (r >= 0)
                r = add_cut(c, l, sub, true);
        if (r >= 0)
                r = lines_add(l, rule, true);
        return r;
}

/* Draws the whole view (@all) or the live view (headers and the last live_rows lines). */
static int columns_draw(Compare *c, bool all) {
        Lines headers[MAX_PANES] = {}, bodies[MAX_PANES] = {};
        Lines *hp[MAX_PANES], *bp[MAX_PANES];
        size_t rows = 0, lines = 0;
        int r = 0;

        for (size_t i = 0; i < c->n_panes && r >= 0; i++) {
                hp[i] = &headers[i];
                bp[i] = &bodies[i];
                r = pane_header(c, i, &headers[i]);
                if (r >= 0)
                        r = pane_lines(c, &c->panes[i], &bodies[i]);
                rows = MAX(rows, bodies[i].n);
        }
        if (r >= 0) {
                if (c->drawn_lines > 0)
                        printf("\x1b[%zuA", c->drawn_lines);
                fputs("\r\x1b[J", stdout);
                r = columns_print(stdout, hp, c->n_panes, c->col_width, 0, 3, ansi_dim(), ansi_normal(),
                                  false);
                lines = 3;
        }
        if (r >= 0) {
                size_t n = all ? rows : MIN(rows, c->live_rows);

                /* Live: every pane shows its own last lines. */
                if (!all)
                        for (size_t i = 0; i < c->n_panes; i++)
                                if (bodies[i].n > n) {
                                        size_t drop = bodies[i].n - n;

                                        for (size_t k = 0; k < drop; k++)
                                                free(bodies[i].text[k]);
                                        memmove(bodies[i].text, bodies[i].text + drop, n * sizeof(char *));
                                        memmove(bodies[i].dim, bodies[i].dim + drop, n * sizeof(bool));
                                        bodies[i].n = n;
                                }
                r = columns_print(stdout, bp, c->n_panes, c->col_width, 0, n, ansi_dim(), ansi_normal(),
                                  false);
                lines += n;
        }
        if (r >= 0 && !all && c->keys) {
                printf("%sKeys 1…%zu stop a pane, Ctrl-C stops all.%s\n", ansi_dim(),
                       MIN(c->n_panes, (size_t) 9), ansi_normal());
                lines++;
        }
        fflush(stdout);
        c->drawn_lines = all ? 0 : lines;
        for (size_t i = 0; i < c->n_panes; i++) {
                lines_done(&headers[i]);
                lines_done(&bodies[i]);
        }
        return r < 0 ? log_error_errno(r, "Failed to draw the panes: %m") : 0;
}

static int on_redraw(sd_event_source *s, uint64_t usec, void *userdata) {
        Compare *c = userdata;

        int r;

        if (c->dirty) {
                c->dirty = false;
                (void) columns_draw(c, false);
        }
        /* A timer source is ONESHOT: it has to be enabled again after each expiry. */
        r = sd_event_source_set_time_relative(s, REDRAW_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return r;
}

/* --- events ------------------------------------------------------------------------------------ */

static void changed(Compare *c) {
        if (c->mode == COMPARE_SEQUENTIAL)
                seq_flush(c);
        else if (c->mode == COMPARE_COLUMNS)
                c->dirty = true;
}

static Pane *pane_by_path(Compare *c, const char *path) {
        for (size_t i = 0; i < c->n_panes; i++)
                if (streq_ptr(c->panes[i].path, path))
                        return &c->panes[i];
        return NULL;
}

static int on_run_new(JobWatch *w, const char *path, unsigned index, void *userdata) {
        Compare *c = userdata;
        Pane *p;

        /* Panes start one after another, in order: this run is the first pane not yet accounted for. */
        if (c->next >= c->n_panes)
                return 0;
        p = &c->panes[c->next++];
        p->path = strdup(path);
        if (!p->path)
                return log_oom();
        changed(c);
        return 0;
}

static int on_run_start_failed(JobWatch *w, void *userdata) {
        Compare *c = userdata;
        Pane *p;
        int r;

        if (c->next >= c->n_panes)
                return 0;
        p = &c->panes[c->next++];
        p->start_failed = true;
        r = pane_set_state(p, "not started");
        if (r < 0)
                return r;
        changed(c);
        return 0;
}

/* Replaces what @p received by its transcript when that continues it (after a missed Chunk). */
static int pane_resync(Compare *c, Pane *p) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *answer, *thinking;
        int r;

        r = sd_bus_call_method(c->bus, LAB_BUS_NAME, p->path, LAB_RUN_IFACE, "GetTranscript", &error, &reply,
                               "");
        if (r >= 0)
                r = sd_bus_message_read(reply, "ss", &answer, &thinking);
        if (r < 0)
                return log_debug_errno(r, "Failed to get the transcript of %s: %m", p->path);

        for (int k = 0; k < 2; k++) {
                Buffer *b = k == 0 ? &p->answer : &p->thinking;
                const char *t = k == 0 ? answer : thinking;
                size_t n = strlen(t);

                if (n < b->size || memcmp(t, buffer_str(b), b->size) != 0)
                        continue;
                r = buffer_append(b, t + b->size, n - b->size);
                if (r < 0)
                        return log_oom();
        }
        return 0;
}

static int on_chunk(JobWatch *w, const char *path, uint64_t seq, const char *text, bool thinking,
                    void *userdata) {
        Compare *c = userdata;
        Pane *p = pane_by_path(c, path);
        int r;

        if (!p || seq <= p->last_seq)
                return 0;
        if (seq != p->last_seq + 1)
                p->desynced = true;
        p->last_seq = seq;
        r = p->desynced ? pane_resync(c, p)
                        : buffer_append(thinking ? &p->thinking : &p->answer, text, strlen(text));
        if (r == -ENOMEM)
                return log_oom();
        changed(c);
        return 0;
}

static int on_run_state(JobWatch *w, const char *path, const char *state, void *userdata) {
        Compare *c = userdata;
        Pane *p = pane_by_path(c, path);
        int r;

        if (!p || p->finished)
                return 0;
        r = pane_set_state(p, state);
        if (r < 0)
                return r;
        changed(c);
        return 0;
}

static int on_run_finished(JobWatch *w, const char *path, const char *result, json_t *metrics,
                           void *userdata) {
        Compare *c = userdata;
        Pane *p = pane_by_path(c, path);
        int r;

        if (!p)
                return 0;
        /* Whatever a missed Chunk held. */
        r = pane_resync(c, p);
        if (r == -ENOMEM)
                return r;
        p->finished = true;
        r = pane_set_state(p, result);
        if (r < 0)
                return r;
        changed(c);
        return 0;
}

static int on_key(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Compare *c = userdata;
        char buf[64];
        ssize_t n;

        n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
                /* End of input: no more keys. */
                c->key_source = sd_event_source_disable_unref(c->key_source);
                return 0;
        }
        for (ssize_t i = 0; i < n; i++) {
                size_t k = (size_t) (buf[i] - '1');

                if (buf[i] == 'q')
                        job_watch_cancel(c->watch);
                else if (buf[i] >= '1' && buf[i] <= '9' && k < c->n_panes && c->panes[k].path &&
                         !c->panes[k].finished)
                        (void) job_watch_cancel_run(c->watch, c->panes[k].path);
        }
        return 0;
}

static int setup_keys(Compare *c, sd_event *event) {
        struct termios t;
        int r;

        if (!isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) != getpgrp() ||
            tcgetattr(STDIN_FILENO, &c->saved) < 0)
                return 0;
        t = c->saved;
        t.c_lflag &= ~(ICANON | ECHO); /* ISIG stays: Ctrl-C still interrupts */
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0)
                return 0;
        c->termios_saved = true;
        r = sd_event_add_io(event, &c->key_source, STDIN_FILENO, EPOLLIN, on_key, c);
        if (r < 0)
                return log_debug_errno(r, "Failed to watch the keyboard, ignoring: %m");
        c->keys = true;
        return 0;
}

static int on_started(JobWatch *w, void *userdata) {
        Compare *c = userdata;
        sd_event *event = job_watch_get_event(w);
        int r;

        c->watch = w;
        if (c->mode == COMPARE_SILENT)
                return 0;
        (void) setup_keys(c, event);
        if (c->mode == COMPARE_SEQUENTIAL) {
                seq_flush(c);
                return 0;
        }
        r = columns_draw(c, false);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(event, &c->redraw, CLOCK_MONOTONIC, REDRAW_USEC, 0, on_redraw, c);
        if (r < 0)
                return log_error_errno(r, "Failed to start redrawing: %m");
        return 0;
}

/* --- the end ----------------------------------------------------------------------------------- */

/* The panes as --json and the table show them: the daemon's summary entry of each pane's run, the
 * error of a pane that could not start, and the text. */
static json_t *panes_json(Compare *c, json_t *summary) {
        _cleanup_json_ json_t *a = json_array();
        json_t *failed = json_object_get(summary, "failed_panes");

        if (!a)
                return NULL;
        for (size_t i = 0; i < c->n_panes; i++) {
                Pane *p = &c->panes[i];
                const char *id = p->path ? strrchr(p->path, '/') : NULL;
                json_int_t run = id ? (json_int_t) strtoull(id + 1, NULL, 10) : -1;
                json_t *o = NULL, *e;
                size_t k;

                json_array_foreach (json_object_get(summary, "panes"), k, e)
                        if (run >= 0 && json_integer_value(json_object_get(e, "run")) == run)
                                o = json_deep_copy(e);
                if (!o)
                        o = json_object();
                if (!o || json_array_append_new(a, o) < 0)
                        return NULL;
                json_set_int(o, "pane", (int64_t) i);
                if (run >= 0)
                        json_set_int(o, "run", run);
                json_set_string(o, "model", p->spec.model);
                if (!json_object_get(o, "alias") || isempty(json_get_string(o, "alias")))
                        json_object_set_new(o, "alias", json_string(pane_name(p)));
                json_set_string(o, "backend", p->spec.backend);
                json_set_real(o, "temperature", p->temperature);
                if (p->state && (!json_get_string(o, "state") || p->start_failed))
                        json_set_string(o, "state", p->state);
                json_array_foreach (failed, k, e)
                        if (p->start_failed && json_get_int(e, "pane", -1) == (int64_t) i)
                                json_set_string(o, "error", json_get_string(e, "message"));
                json_object_set_new(o, "answer",
                                    p->path ? json_string(buffer_str(&p->answer)) : json_null());
                json_object_set_new(o, "thinking",
                                    p->path ? json_string(buffer_str(&p->thinking)) : json_null());
        }
        return TAKE_PTR(a);
}

static void finish_display(Compare *c) {
        for (size_t i = 0; i < c->n_panes; i++) {
                Pane *p = &c->panes[i];

                if (p->path)
                        (void) pane_resync(c, p);
                /* Runs the job's end cancelled may not have reported yet. */
                if (!p->finished && !p->start_failed) {
                        p->finished = true;
                        if (!p->state || !streq(p->state, "done"))
                                (void) pane_set_state(p, p->path ? "cancelled" : "not started");
                }
        }
        if (c->mode == COMPARE_SEQUENTIAL) {
                seq_flush(c);
                seq_newline(c);
        } else if (c->mode == COMPARE_COLUMNS)
                (void) columns_draw(c, true);
}

static int compare_report(Compare *c, const JobOutcome *out, const char *what) {
        _cleanup_json_ json_t *panes = NULL, *summary = NULL;
        int r;

        finish_display(c);
        panes = panes_json(c, out->summary);
        summary = out->summary ? json_deep_copy(out->summary) : json_object();
        if (!panes || !summary || json_object_set(summary, "panes", panes) < 0)
                return log_oom();
        json_object_del(summary, "failed_panes");

        if (arg_json == JSON_OFF) {
                if (c->mode != COMPARE_SILENT)
                        fputc('\n', stdout);
                r = job_show_panes(stdout, panes, terminal_columns(), arg_legend);
                if (r < 0)
                        return log_error_errno(r, "Failed to print the panes: %m");
        }
        return job_report(out, "comparison", summary, what);
}

/* --- options ----------------------------------------------------------------------------------- */

static const char compare_help[] =
        "llmlabctl compare -m MODEL[@ALIAS][:TEMP] -m … [-p TEXT] [OPTIONS...]\n"
        "llmlabctl compare --pane model=M[,alias=A][,backend=B][,temperature=T][,max-tokens=N]\n"
        "                  [,seed=N][,preset=ID][,system=TEXT] … [-p TEXT] [OPTIONS...]\n\n"
        "Run one prompt on several panes at once and show their answers as they stream: side by\n"
        "side on a wide terminal, one after another otherwise; then tokens, TTFT, tokens/s and\n"
        "energy (when measured) per pane. On a terminal, keys 1…9 stop one pane; Ctrl-C stops all.\n\n"
        "  -m --model=MODEL[@ALIAS][:TEMP]\n"
        "                           Add a pane: MODEL, shown as ALIAS, at temperature TEMP (the\n"
        "                           text after the last ':' is a temperature when it is a number)\n"
        "     --pane=KEY=VALUE,…    Add a pane with every setting (keys above; a value may\n"
        "                           contain ',' unless a key and '=' follow it)\n"
        "  -p --prompt=TEXT         User prompt (default: read from stdin)\n"
        "     --backend=ID          Backend of the panes that name none\n"
        "  -t --temperature=TEMP    Temperature of the panes that set none\n"
        "     --system=TEXT         System prompt of the panes that set none (also --system-prompt)\n"
        "     --preset=ID           Preset system prompt of the panes that set none\n"
        "     --context=FILE        Conversation context from FILE ('-': stdin, with -p only)\n"
        "     --inject=DESC=TEXT    Inject context; DESC=@FILE reads FILE; repeatable\n"
        "  -n --max-tokens=N        Maximum output tokens of the panes that set none\n"
        "     --seed=N              Sampling seed of the panes that set none\n"
        "     --num-ctx=N           Context window in tokens\n"
        "     --think --no-think    Ask for (or suppress) the models' thinking\n"
        "     --measure=off|live|estimate|auto\n"
        "                           Measure energy (live: the panes run one after another)\n"
        "                           (default: off, the panes run concurrently)\n"
        "     --benchmark=ID        Benchmark for estimates\n"
        "     --region=CODE         Grid region for CO2\n"
        "  -q --quiet               Only the table at the end\n"
        "     --json[=pretty|short] Print the job's result object, with every pane's text\n"
        "\nExit status: 0 done, 1 error or failed job, 130 cancelled.\n";

typedef struct CompareArgs {
        RunOptions *run;
        Compare *compare;
} CompareArgs;

static int add_pane(Compare *c, const char *arg, bool pairs) {
        const char *bad = NULL;
        size_t bad_len = 0;
        PaneSpec p;
        int r;

        if (c->n_panes >= MAX_PANES)
                return log_error_errno(-E2BIG, "Too many panes: at most %d.", MAX_PANES);
        r = pairs ? parse_pane_pairs(arg, &p, &bad, &bad_len) : parse_pane_compact(arg, &p);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0 && pairs && !bad)
                return log_error_errno(r, "Invalid --pane '%s': model=MODEL is missing.", arg);
        if (r < 0 && pairs)
                return log_error_errno(
                        r,
                        "Invalid --pane '%s': cannot use '%.*s' (keys: model, alias, backend, "
                        "temperature, max-tokens, seed, preset, system).",
                        arg, (int) bad_len, bad);
        if (r == -ERANGE)
                return log_error_errno(r, "Invalid pane '%s': the temperature must be from 0 to 2.", arg);
        if (r < 0)
                return log_error_errno(r, "Invalid pane '%s': expected MODEL[@ALIAS][:TEMP].", arg);
        if (p.system_prompt && p.preset) {
                pane_spec_done(&p);
                return log_error_errno(
                        -EINVAL, "Invalid --pane '%s': system and preset are mutually exclusive.", arg);
        }
        c->panes[c->n_panes++].spec = p;
        return 0;
}

static int compare_option_handler(int c, const char *arg, void *userdata) {
        CompareArgs *a = userdata;
        int r;

        switch (c) {
        case 'm': return add_pane(a->compare, arg, false);
        case ARG_PANE: return add_pane(a->compare, arg, true);
        case ARG_RUN_MEASURE:
                if (streq(arg, "off")) {
                        free(a->run->measure);
                        a->run->measure = strdup(arg);
                        return a->run->measure ? 0 : log_oom();
                }
                break;
        default: break;
        }
        r = run_options_handle(a->run, c, arg);
        if (r == 0)
                return log_error_errno(-EINVAL, "Unexpected option.");
        return r < 0 ? r : 0;
}

static int append_pane(sd_bus_message *m, const Pane *p) {
        const PaneSpec *s = &p->spec;
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "model", "s", s->model);
        if (r >= 0 && s->alias)
                r = sd_bus_message_append(m, "{sv}", "alias", "s", s->alias);
        if (r >= 0 && s->backend)
                r = sd_bus_message_append(m, "{sv}", "backend", "s", s->backend);
        if (r >= 0 && !isnan(s->temperature))
                r = sd_bus_message_append(m, "{sv}", "temperature", "d", s->temperature);
        if (r >= 0 && s->max_tokens > 0)
                r = sd_bus_message_append(m, "{sv}", "max_tokens", "u", (uint32_t) s->max_tokens);
        if (r >= 0 && s->seed_set)
                r = sd_bus_message_append(m, "{sv}", "seed", "x", s->seed);
        if (r >= 0 && s->system_prompt)
                r = sd_bus_message_append(m, "{sv}", "system_prompt", "s", s->system_prompt);
        if (r >= 0 && s->preset)
                r = sd_bus_message_append(m, "{sv}", "system_prompt_id", "s", s->preset);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int build_call(sd_bus *bus, Compare *c, const RunOptions *o, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = ctl_new_manager_call(bus, "StartComparison", &m);
        if (r < 0)
                return r;
        r = run_request_append(m, o);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < c->n_panes; i++)
                r = append_pane(m, &c->panes[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0)
                return log_error_errno(r, "Failed to build the comparison: %m");
        *ret = TAKE_PTR(m);
        return 0;
}

static int compare_load(Compare *c, RunOptions *o) {
        int r;

        if (c->n_panes == 0)
                return log_error_errno(-EINVAL,
                                       "No pane given: use -m MODEL (several times) or --pane model=….");
        /* run_options_load() checks for a model; the panes carry theirs. */
        o->model = strdup(c->panes[0].spec.model);
        if (!o->model)
                return log_oom();
        r = run_options_load(o);
        free(o->model);
        o->model = NULL;
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_panes; i++)
                c->panes[i].temperature =
                        isnan(c->panes[i].spec.temperature) ? o->temperature : c->panes[i].spec.temperature;
        if (!o->measure) {
                o->measure = strdup("off");
                if (!o->measure)
                        return log_oom();
        }
        return 0;
}

static void choose_mode(Compare *c, const RunOptions *o) {
        size_t lines = terminal_lines();

        if (arg_json != JSON_OFF || o->quiet) {
                c->mode = COMPARE_SILENT;
                return;
        }
        c->mode = COMPARE_SEQUENTIAL;
        if (!isatty(STDOUT_FILENO) || streq_ptr(getenv("TERM"), "dumb") || c->n_panes < 2)
                return;
        c->col_width = columns_width(terminal_columns(), c->n_panes);
        if (c->col_width == 0 || lines < 10)
                return;
        c->mode = COMPARE_COLUMNS;
        /* Headers (3), the keys line and a margin stay on the screen with the live rows. */
        c->live_rows = MIN(lines - 6, (size_t) 40);
}

int verb_compare(int argc, char *argv[], const Verb *verb) {
        static const struct option options[] = {
                {"pane", required_argument, NULL, ARG_PANE},
                RUN_OPTIONS_COMMON,
                RUN_OPTIONS_ENERGY,
                CTL_COMMON_OPTIONS,
                {},
        };
        static const JobWatchOps ops = {
                .started = on_started,
                .run_new = on_run_new,
                .run_start_failed = on_run_start_failed,
                .chunk = on_chunk,
                .run_state = on_run_state,
                .run_finished = on_run_finished,
        };
        _cleanup_(compare_done) Compare c = {};
        _cleanup_(run_options_done) RunOptions o;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(job_outcome_done) JobOutcome out = {};
        _cleanup_bus_ sd_bus *bus = NULL;
        CompareArgs a = {.run = &o, .compare = &c};
        const char *what = "run the comparison";
        int r;

        run_options_init(&o, RUN_OPTIONS_WITH_ENERGY);
        r = verb_parse_options(verb, argc, argv, options, RUN_OPTIONS_SHORT, compare_option_handler, &a,
                               compare_help);
        if (r <= 0)
                return r;
        r = compare_load(&c, &o);
        if (r < 0)
                return r;
        choose_mode(&c, &o);

        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        r = build_call(bus, &c, &o, &m);
        if (r < 0)
                return r;
        c.bus = bus;
        r = job_watch(bus, m, 0, "panes", what, &ops, &c, &out);
        c.watch = NULL;
        if (r < 0)
                return r;
        /* The panes' text is read over the bus, which job_watch() left attached to nothing. */
        return compare_report(&c, &out, what);
}
