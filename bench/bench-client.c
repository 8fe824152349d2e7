/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* bench-client: the D-Bus side of llmlab's benchmarks (driven by bench/run).
 *
 *   bench-client stream [--clients N] [--runs N] [--model M] [--measure off|live] [--prompt P]
 *                       [--expect FILE] [--chunk-times]
 *       N bus connections (separate owners) each run --runs runs one after the other, all at once.
 *       One JSON line per run: the CLOCK_MONOTONIC times of the StartRun call, its reply, the first
 *       and last Chunk and Finished; the chunk count and sequence gaps; whether the streamed text
 *       equals FILE byte for byte; output tokens, provenance.daemon_cpu_ms and provenance.samples
 *       from the result; with --chunk-times the arrival time of every Chunk.
 *
 *   bench-client startup [--repeat N] -- DAEMON [ARGS...]
 *       Spawns DAEMON N times (each stopped with SIGTERM before the next) and prints, per start, the
 *       time from spawning to the bus name appearing and to READY=1 on $NOTIFY_SOCKET.
 *
 * The bus is the session bus ($DBUS_SESSION_BUS_ADDRESS). */

#include <getopt.h>
#include <glib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-json.h"
#include "log.h"
#include "macro.h"

#define LAB_BUS_NAME      "org.llmlab.Lab1"
#define LAB_OBJECT_PATH   "/org/llmlab/Lab1"
#define LAB_MANAGER_IFACE "org.llmlab.Lab1.Manager"
#define LAB_RUN_IFACE     "org.llmlab.Lab1.Run"

#define STARTUP_TIMEOUT_NS (20 * NSEC_PER_SEC)

extern char **environ;

typedef struct Bench Bench;

typedef struct Client {
        Bench *bench;
        unsigned index;
        sd_bus *bus;
        sd_bus_slot *match;
        unsigned runs_done;
        char *path; /* the run in progress, once StartRun answered */
        uint64_t last_seq;
        unsigned chunks, gaps, stray;
        GString *text;
        GArray *chunk_times; /* with --chunk-times: the arrival of every Chunk (uint64_t ns) */
        uint64_t t_call, t_reply, t_first, t_last;
} Client;

struct Bench {
        sd_event *event;
        Client *clients;
        unsigned n_clients, n_runs, n_active;
        const char *model, *measure, *prompt;
        char *expect; /* NULL: not checked */
        size_t expect_size;
        int error;
};

static struct {
        unsigned clients, runs, repeat;
        const char *model, *measure, *prompt, *expect;
        bool chunk_times;
} arg = {1, 1, 10, "llama3.2:latest", "off", "Tell me about energy.", NULL, false};

/* --- stream ------------------------------------------------------------------------------------ */

static void bench_fail(Bench *b, int error) {
        if (b->error == 0)
                b->error = error;
        (void) sd_event_exit(b->event, error);
}

static int client_start_run(Client *c);

static int on_start_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Client *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *path;
        int r;

        c->t_reply = now_ns(CLOCK_MONOTONIC);
        if (e) {
                log_error("Client %u: StartRun failed: %s: %s", c->index, e->name, strna(e->message));
                bench_fail(c->bench, -EIO);
                return 0;
        }
        r = sd_bus_message_read(m, "o", &path);
        if (r < 0) {
                bench_fail(c->bench, log_error_errno(r, "Failed to parse the StartRun reply: %m"));
                return 0;
        }
        c->path = strdup(path);
        if (!c->path)
                bench_fail(c->bench, log_oom());
        return 0;
}

static void on_chunk(Client *c, sd_bus_message *m, uint64_t t) {
        const char *text;
        uint64_t seq;
        int thinking, r;

        r = sd_bus_message_read(m, "tsb", &seq, &text, &thinking);
        if (r < 0) {
                c->stray++;
                return;
        }
        if (seq != c->last_seq + 1)
                c->gaps++;
        c->last_seq = seq;
        c->chunks++;
        if (c->t_first == 0)
                c->t_first = t;
        c->t_last = t;
        if (c->chunk_times)
                g_array_append_val(c->chunk_times, t);
        if (!thinking)
                g_string_append(c->text, text);
}

static json_t *run_record(Client *c, const char *state, json_t *result, uint64_t t) {
        Bench *b = c->bench;
        json_t *provenance = json_object_get(result, "provenance");
        json_t *o =
                json_pack("{s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "client",
                          (json_int_t) c->index, "run", (json_int_t) c->runs_done, "path", c->path, "state",
                          state, "t_call", (json_int_t) c->t_call, "t_reply", (json_int_t) c->t_reply,
                          "t_first", (json_int_t) c->t_first, "t_last", (json_int_t) c->t_last, "t_finished",
                          (json_int_t) t, "chunks", (json_int_t) c->chunks, "gaps", (json_int_t) c->gaps,
                          "bytes", (json_int_t) c->text->len);

        if (!o)
                return NULL;
        if (b->expect)
                json_object_set_new(o, "text_ok",
                                    json_boolean(c->text->len == b->expect_size &&
                                                 memcmp(c->text->str, b->expect, b->expect_size) == 0));
        json_object_set(o, "output_tokens", json_object_get(json_object_get(result, "tokens"), "output"));
        json_object_set(o, "daemon_cpu_ms", json_object_get(provenance, "daemon_cpu_ms"));
        json_object_set(o, "samples", json_object_get(provenance, "samples"));
        if (c->chunk_times) {
                json_t *a = json_array();

                for (guint i = 0; i < c->chunk_times->len; i++)
                        json_array_append_new(
                                a, json_integer((json_int_t) g_array_index(c->chunk_times, uint64_t, i)));
                json_object_set_new(o, "chunk_times", a);
        }
        return o;
}

static void on_finished(Client *c, sd_bus_message *m, uint64_t t) {
        _cleanup_json_ json_t *result = NULL, *rec = NULL;
        Bench *b = c->bench;
        const char *state;
        int r;

        r = sd_bus_message_read(m, "s", &state);
        if (r >= 0)
                r = bus_message_read_json(m, &result);
        if (r < 0)
                return bench_fail(b, log_error_errno(r, "Failed to parse Finished: %m"));

        rec = run_record(c, state, result, t);
        if (!rec)
                return bench_fail(b, log_oom());
        (void) json_dumpf(rec, stdout, JSON_COMPACT);
        fputc('\n', stdout);

        free(c->path);
        c->path = NULL;
        if (++c->runs_done < b->n_runs) {
                r = client_start_run(c);
                if (r < 0)
                        bench_fail(b, r);
        } else if (--b->n_active == 0)
                (void) sd_event_exit(b->event, 0);
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        uint64_t t = now_ns(CLOCK_MONOTONIC);
        Client *c = userdata;

        if (!c->path || !streq_ptr(sd_bus_message_get_path(m), c->path)) {
                if (sd_bus_message_is_signal(m, LAB_RUN_IFACE, "Chunk"))
                        c->stray++;
                return 0;
        }
        if (sd_bus_message_is_signal(m, LAB_RUN_IFACE, "Chunk"))
                on_chunk(c, m, t);
        else if (sd_bus_message_is_signal(m, LAB_RUN_IFACE, "Finished"))
                on_finished(c, m, t);
        return 0;
}

static int client_start_run(Client *c) {
        Bench *b = c->bench;
        int r;

        c->t_reply = c->t_first = c->t_last = 0;
        c->last_seq = 0;
        c->chunks = c->gaps = 0;
        g_string_truncate(c->text, 0);
        if (c->chunk_times)
                g_array_set_size(c->chunk_times, 0);
        c->t_call = now_ns(CLOCK_MONOTONIC);
        r = sd_bus_call_method_async(c->bus, NULL, LAB_BUS_NAME, LAB_OBJECT_PATH, LAB_MANAGER_IFACE,
                                     "StartRun", on_start_reply, c, "a{sv}", 3, "model", "s", b->model,
                                     "user_prompt", "s", b->prompt, "measure", "s", b->measure);
        if (r < 0)
                return log_error_errno(r, "Failed to call StartRun: %m");
        return 0;
}

static int client_connect(Client *c) {
        int r;

        c->text = g_string_new(NULL);
        if (arg.chunk_times)
                c->chunk_times = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        r = sd_bus_open_user(&c->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the bus: %m");
        r = sd_bus_attach_event(c->bus, c->bench->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus: %m");
        /* Synchronous, before StartRun: no signal of the run can be missed. */
        r = sd_bus_add_match(c->bus, &c->match,
                             "type='signal',sender='" LAB_BUS_NAME "',path_namespace='" LAB_OBJECT_PATH "'",
                             on_signal, c);
        if (r < 0)
                return log_error_errno(r, "Failed to add the signal match: %m");
        return 0;
}

static void client_done(Client *c) {
        sd_bus_slot_unref(c->match);
        sd_bus_flush_close_unref(c->bus);
        if (c->text)
                g_string_free(c->text, TRUE);
        if (c->chunk_times)
                g_array_unref(c->chunk_times);
        free(c->path);
}

static int read_expect(Bench *b, const char *path) {
        g_autoptr(GError) error = NULL;
        gsize size;

        if (!path)
                return 0;
        if (!g_file_get_contents(path, &b->expect, &size, &error))
                return log_error_errno(-EIO, "Failed to read %s: %s", path, error->message);
        b->expect_size = size;
        return 0;
}

static int stream_main(void) {
        Bench b = {
                .n_clients = arg.clients,
                .n_runs = arg.runs,
                .model = arg.model,
                .measure = arg.measure,
                .prompt = arg.prompt,
        };
        int r;

        r = read_expect(&b, arg.expect);
        if (r < 0)
                return r;
        r = sd_event_default(&b.event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        b.clients = g_new0(Client, b.n_clients);
        for (unsigned i = 0; i < b.n_clients && r >= 0; i++) {
                b.clients[i] = (Client){.bench = &b, .index = i};
                r = client_connect(&b.clients[i]);
        }
        for (unsigned i = 0; i < b.n_clients && r >= 0; i++)
                r = client_start_run(&b.clients[i]);
        if (r >= 0) {
                b.n_active = b.n_clients;
                r = sd_event_loop(b.event);
                if (r >= 0 && b.error < 0)
                        r = b.error;
        }
        for (unsigned i = 0; i < b.n_clients; i++) {
                if (b.clients[i].stray > 0)
                        log_warning("Client %u: %u stray chunk(s).", i, b.clients[i].stray);
                client_done(&b.clients[i]);
        }
        g_free(b.clients);
        g_free(b.expect);
        sd_event_unref(b.event);
        return r;
}

/* --- startup ----------------------------------------------------------------------------------- */

typedef struct Startup {
        uint64_t t_spawn, t_name, t_ready;
} Startup;

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        uint64_t t = now_ns(CLOCK_MONOTONIC);
        const char *name, *old_owner, *new_owner;
        Startup *s = userdata;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (streq(name, LAB_BUS_NAME) && !isempty(new_owner) && s->t_name == 0)
                s->t_name = t;
        return 0;
}

static int on_notify(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        uint64_t t = now_ns(CLOCK_MONOTONIC);
        Startup *s = userdata;
        char buf[4096];
        ssize_t n;

        n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        if ((strncmp(buf, "READY=1", 7) == 0 || strstr(buf, "\nREADY=1")) && s->t_ready == 0)
                s->t_ready = t;
        return 0;
}

static int notify_socket_open(char *dir, int *ret_fd) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        if (!mkdtemp(dir))
                return log_error_errno(-errno, "Failed to create a directory: %m");
        (void) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to create the notify socket: %m");
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int k = -errno;

                close(fd);
                return log_error_errno(k, "Failed to bind %s: %m", sa.sun_path);
        }
        if (setenv("NOTIFY_SOCKET", sa.sun_path, 1) < 0) {
                close(fd);
                return log_oom();
        }
        *ret_fd = fd;
        return 0;
}

static int startup_once(sd_event *e, Startup *s, char **argv) {
        pid_t pid;
        int r, status;

        *s = (Startup){.t_spawn = now_ns(CLOCK_MONOTONIC)};
        r = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
        if (r != 0)
                return log_error_errno(-r, "Failed to spawn %s: %m", argv[0]);
        while ((s->t_name == 0 || s->t_ready == 0) &&
               now_ns(CLOCK_MONOTONIC) - s->t_spawn < STARTUP_TIMEOUT_NS) {
                r = sd_event_run(e, 100 * USEC_PER_MSEC);
                if (r < 0)
                        break;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        log_error("%s exited during start-up.", argv[0]);
                        return -ECHILD;
                }
        }
        (void) kill(pid, SIGTERM);
        (void) waitpid(pid, &status, 0);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        if (s->t_name == 0 || s->t_ready == 0)
                return log_error_errno(-ETIMEDOUT, "%s did not start in time.", argv[0]);
        return 0;
}

static int startup_main(char **argv) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *io = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        char dir[] = "/tmp/bench-notify-XXXXXX";
        Startup s = {};
        int r, fd = -EBADF;

        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = sd_bus_open_user(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the bus: %m");
        r = sd_bus_attach_event(bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed,
                                        &s);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the bus name: %m");
        r = notify_socket_open(dir, &fd);
        if (r < 0)
                return r;
        r = sd_event_add_io(e, &io, fd, EPOLLIN, on_notify, &s);
        if (r < 0) {
                close(fd);
                return log_error_errno(r, "Failed to watch the notify socket: %m");
        }
        (void) sd_event_source_set_io_fd_own(io, true);

        for (unsigned i = 0; i < arg.repeat && r >= 0; i++) {
                r = startup_once(e, &s, argv);
                if (r >= 0)
                        printf("{\"start\": %u, \"name_ms\": %.3f, \"ready_ms\": %.3f}\n", i,
                               (double) (s.t_name - s.t_spawn) / 1e6,
                               (double) (s.t_ready - s.t_spawn) / 1e6);
        }
        (void) unlink(getenv("NOTIFY_SOCKET"));
        (void) rmdir(dir);
        return r;
}

/* --- main -------------------------------------------------------------------------------------- */

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                {"clients", required_argument, NULL, 'c'},
                {"runs", required_argument, NULL, 'n'},
                {"model", required_argument, NULL, 'm'},
                {"measure", required_argument, NULL, 'M'},
                {"prompt", required_argument, NULL, 'p'},
                {"expect", required_argument, NULL, 'e'},
                {"repeat", required_argument, NULL, 'r'},
                {"chunk-times", no_argument, NULL, 't'},
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "+c:n:m:M:p:e:r:t", options, NULL)) >= 0)
                switch (c) {
                case 'c': arg.clients = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'n': arg.runs = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'm': arg.model = optarg; break;
                case 'M': arg.measure = optarg; break;
                case 'p': arg.prompt = optarg; break;
                case 'e': arg.expect = optarg; break;
                case 'r': arg.repeat = (unsigned) strtoul(optarg, NULL, 10); break;
                case 't': arg.chunk_times = true; break;
                default: return -EINVAL;
                }
        if (arg.clients == 0 || arg.runs == 0 || arg.repeat == 0)
                return log_error_errno(-EINVAL, "--clients, --runs and --repeat must be positive.");
        return 0;
}

int main(int argc, char *argv[]) {
        const char *mode = argc > 1 ? argv[1] : NULL;
        int r;

        log_set_program_name("bench-client");
        if (!mode || (!streq(mode, "stream") && !streq(mode, "startup"))) {
                fprintf(stderr, "Usage: %s stream|startup [OPTIONS...] [-- DAEMON ARGS...]\n", argv[0]);
                return EXIT_FAILURE;
        }
        r = parse_argv(argc - 1, argv + 1);
        if (r >= 0 && streq(mode, "stream"))
                r = stream_main();
        else if (r >= 0) {
                if (optind + 1 >= argc)
                        r = log_error_errno(-EINVAL, "startup needs the daemon's command line after --.");
                else
                        r = startup_main(argv + 1 + optind);
        }
        fflush(stdout);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
