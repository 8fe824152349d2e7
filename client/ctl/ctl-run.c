/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>

#include "ctl-bus.h"
#include "json-util.h"
#include "ctl-parse.h"
#include "ctl-result.h"
#include "ctl-run-show.h"
#include "ctl-run-watch.h"
#include "ctl-run.h"
#include "log.h"

/* Generous: the daemon enforces the real limits (256 KiB per text, 1 MiB in all) with a clear
 * error; this only keeps a mistaken `< /dev/zero` from eating memory. */
#define INPUT_MAX (4U * 1024U * 1024U)

void run_options_init(RunOptions *o, RunOptionsFlags flags) {
        *o = (RunOptions){
                .flags = flags,
                .temperature = NAN,
                .max_tokens = -1,
                .num_ctx = -1,
                .think = -1,
        };
}

void run_options_done(RunOptions *o) {
        free(o->model);
        free(o->backend);
        free(o->prompt);
        free(o->system_prompt);
        free(o->preset);
        free(o->context_path);
        free(o->context);
        for (size_t i = 0; i < o->n_injections; i++) {
                free(o->injections[i].description);
                free(o->injections[i].content);
                free(o->injections[i].path);
        }
        free(o->injections);
        free(o->label);
        free(o->measure);
        free(o->benchmark);
        free(o->region);
        run_options_init(o, o->flags);
}

static int set_string(char **s, const char *arg) {
        char *copy = strdup(arg);

        if (!copy)
                return log_oom();
        free(*s);
        *s = copy;
        return 1;
}

static int add_injection(RunOptions *o, const char *arg) {
        _cleanup_free_ char *description = NULL, *value = NULL;
        Injection *a;
        bool file;
        int r;

        r = parse_injection(arg, &description, &value, &file);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Invalid --inject '%s': expected DESC=TEXT or DESC=@FILE.", arg);

        a = reallocarray(o->injections, o->n_injections + 1, sizeof(Injection));
        if (!a)
                return log_oom();
        o->injections = a;
        a[o->n_injections++] = (Injection){
                .description = TAKE_PTR(description),
                .content = file ? NULL : TAKE_PTR(value),
                .path = file ? TAKE_PTR(value) : NULL,
        };
        return 1;
}

static int handle_number(int c, const char *arg, RunOptions *o) {
        int r;

        switch (c) {
        case 't':
                r = parse_double_range(arg, 0, 2, &o->temperature);
                if (r < 0)
                        return log_error_errno(r, "Invalid temperature '%s': expected a number from 0 to 2.",
                                               arg);
                return 1;
        case 'n':
                r = parse_int64_range(arg, 1, 32768, &o->max_tokens);
                if (r < 0)
                        return log_error_errno(r, "Invalid max tokens '%s': expected 1…32768.", arg);
                return 1;
        case ARG_RUN_SEED:
                r = parse_int64_range(arg, INT64_MIN, INT64_MAX, &o->seed);
                if (r < 0)
                        return log_error_errno(r, "Invalid seed '%s': expected an integer.", arg);
                o->seed_set = true;
                return 1;
        case ARG_RUN_NUM_CTX:
                r = parse_int64_range(arg, 1, UINT32_MAX, &o->num_ctx);
                if (r < 0)
                        return log_error_errno(r, "Invalid context size '%s': expected a positive integer.",
                                               arg);
                return 1;
        default: return 0;
        }
}

static int handle_energy(int c, const char *arg, RunOptions *o) {
        if (!(o->flags & RUN_OPTIONS_WITH_ENERGY))
                return 0;
        switch (c) {
        case ARG_RUN_MEASURE:
                if (!streq(arg, "live") && !streq(arg, "estimate") && !streq(arg, "auto"))
                        return log_error_errno(
                                -EINVAL, "Invalid --measure '%s': expected live, estimate or auto.", arg);
                return set_string(&o->measure, arg);
        case ARG_RUN_BENCHMARK: return set_string(&o->benchmark, arg);
        case ARG_RUN_REGION: return set_string(&o->region, arg);
        default: return 0;
        }
}

int run_options_handle(RunOptions *o, int c, const char *arg) {
        int r;

        r = handle_number(c, arg, o);
        if (r != 0)
                return r;
        r = handle_energy(c, arg, o);
        if (r != 0)
                return r;

        switch (c) {
        case 'm': return set_string(&o->model, arg);
        case 'p': return set_string(&o->prompt, arg);
        case 'q': o->quiet = true; return 1;
        case ARG_RUN_SYSTEM_PROMPT: return set_string(&o->system_prompt, arg);
        case ARG_RUN_PRESET: return set_string(&o->preset, arg);
        case ARG_RUN_CONTEXT: return set_string(&o->context_path, arg);
        case ARG_RUN_INJECT: return add_injection(o, arg);
        case ARG_RUN_THINK: o->think = 1; return 1;
        case ARG_RUN_NO_THINK: o->think = 0; return 1;
        case ARG_RUN_BACKEND: return set_string(&o->backend, arg);
        case ARG_RUN_LABEL: return set_string(&o->label, arg);
        default: return 0;
        }
}

/* Reads all of @fd (at most INPUT_MAX bytes) as a D-Bus-safe string. */
static int read_all(int fd, const char *name, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;

        for (;;) {
                ssize_t n;

                if (allocated - size < 4096) {
                        size_t a = MAX(allocated * 2, (size_t) 65536);
                        char *p = realloc(buf, a + 1);

                        if (!p)
                                return log_oom();
                        buf = p;
                        allocated = a;
                }
                n = read(fd, buf + size, allocated - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return log_error_errno(-errno, "Failed to read %s: %m", name);
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > INPUT_MAX)
                        return log_error_errno(-EFBIG, "Failed to read %s: larger than %u MiB.", name,
                                               INPUT_MAX / 1024 / 1024);
        }
        buf[size] = '\0';
        if (!utf8_is_valid(buf, size))
                return log_error_errno(
                        -EINVAL, "Failed to read %s: not valid UTF-8 text (or contains NUL bytes).", name);
        *ret = TAKE_PTR(buf);
        return 0;
}

static int read_path(const char *path, char **ret) {
        _cleanup_close_ int fd = -EBADF;

        if (streq(path, "-"))
                return read_all(STDIN_FILENO, "standard input", ret);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to open %s: %m", path);
        return read_all(fd, path, ret);
}

static int check_text(const char *s, const char *what) {
        if (s && !utf8_is_valid(s, strlen(s)))
                return log_error_errno(-EINVAL, "The %s is not valid UTF-8.", what);
        return 0;
}

int run_options_load(RunOptions *o) {
        bool stdin_used = false;
        int r;

        if (isempty(o->model))
                return log_error_errno(-EINVAL, "No model given: use -m MODEL (see 'llmlabctl models').");
        if (o->system_prompt && o->preset)
                return log_error_errno(-EINVAL, "--system and --preset are mutually exclusive.");

        if (!o->prompt) {
                if (isatty(STDIN_FILENO))
                        return log_error_errno(-EINVAL,
                                               "No prompt given: use -p TEXT or pipe the prompt on stdin.");
                r = read_all(STDIN_FILENO, "the prompt from standard input", &o->prompt);
                if (r < 0)
                        return r;
                stdin_used = true;
        }

        if (o->context_path) {
                if (streq(o->context_path, "-") && stdin_used)
                        return log_error_errno(-EINVAL,
                                               "--context - cannot read stdin: the prompt comes from stdin. "
                                               "Use -p TEXT.");
                r = read_path(o->context_path, &o->context);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < o->n_injections; i++) {
                Injection *j = &o->injections[i];

                if (j->path) {
                        r = read_path(j->path, &j->content);
                        if (r < 0)
                                return r;
                }
                r = check_text(j->content, "injection");
                if (r < 0)
                        return r;
        }

        r = check_text(o->prompt, "prompt");
        if (r >= 0)
                r = check_text(o->system_prompt, "system prompt");
        return r;
}

/* --- the request a{sv} ------------------------------------------------------------------------- */

static int append_entry(sd_bus_message *m, const char *key, const char *type, ...) {
        va_list ap;
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append_basic(m, 's', key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', type);
        if (r >= 0) {
                va_start(ap, type);
                r = sd_bus_message_appendv(m, type, ap);
                va_end(ap);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int append_string(sd_bus_message *m, const char *key, const char *value) {
        if (!value)
                return 0;
        return append_entry(m, key, "s", value);
}

static int append_injections(sd_bus_message *m, const RunOptions *o) {
        int r;

        if (o->n_injections == 0)
                return 0;
        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append_basic(m, 's', "injections");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(ss)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(ss)");
        for (size_t i = 0; r >= 0 && i < o->n_injections; i++)
                r = sd_bus_message_append(m, "(ss)", o->injections[i].description, o->injections[i].content);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int append_numbers(sd_bus_message *m, const RunOptions *o) {
        int r = 0;

        if (!isnan(o->temperature))
                r = append_entry(m, "temperature", "d", o->temperature);
        if (r >= 0 && o->max_tokens >= 0)
                r = append_entry(m, "max_tokens", "u", (uint32_t) o->max_tokens);
        if (r >= 0 && o->seed_set)
                r = append_entry(m, "seed", "x", o->seed);
        if (r >= 0 && o->num_ctx >= 0)
                r = append_entry(m, "num_ctx", "u", (uint32_t) o->num_ctx);
        if (r >= 0 && o->think >= 0)
                r = append_entry(m, "include_thinking", "b", o->think);
        return r;
}

int run_request_append(sd_bus_message *m, const RunOptions *o) {
        const char *measure = o->measure;
        int r;

        if ((o->flags & RUN_OPTIONS_WITH_ENERGY) && !measure)
                measure = "auto";

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = append_string(m, "model", o->model);
        if (r >= 0)
                r = append_string(m, "backend", o->backend);
        if (r >= 0)
                r = append_string(m, "user_prompt", o->prompt);
        if (r >= 0)
                r = append_string(m, "system_prompt", o->system_prompt);
        if (r >= 0)
                r = append_string(m, "system_prompt_id", o->preset);
        if (r >= 0)
                r = append_string(m, "conversation_context", o->context);
        if (r >= 0)
                r = append_injections(m, o);
        if (r >= 0)
                r = append_numbers(m, o);
        if (r >= 0)
                r = append_string(m, "measure", measure);
        if (r >= 0)
                r = append_string(m, "benchmark", o->benchmark);
        if (r >= 0)
                r = append_string(m, "region", o->region);
        if (r >= 0)
                r = append_string(m, "label", o->label);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the request: %m");
        return 0;
}

/* --- run, run-energy --------------------------------------------------------------------------- */

static const char run_help[] =
        "llmlabctl run -m MODEL [-p TEXT] [OPTIONS...]\n\n"
        "Run MODEL on a prompt (from -p, or stdin when -p is absent) and stream the answer; thinking is\n"
        "shown apart. Then print tokens, TTFT and tokens/s. Ctrl-C cancels the run.\n\n"
        "  -m --model=MODEL         Model to run (required)\n"
        "  -p --prompt=TEXT         User prompt\n"
        "     --system=TEXT         System prompt (also --system-prompt=TEXT)\n"
        "     --preset=ID           Preset system prompt (see 'llmlabctl prompts')\n"
        "     --context=FILE        Conversation context from FILE ('-': stdin, with -p only)\n"
        "     --inject=DESC=TEXT    Inject context; DESC=@FILE reads FILE; repeatable\n"
        "  -t --temperature=TEMP    Sampling temperature, 0…2\n"
        "  -n --max-tokens=N        Maximum output tokens, 1…32768\n"
        "     --seed=N              Sampling seed\n"
        "     --num-ctx=N           Context window in tokens\n"
        "     --think --no-think    Ask for (or suppress) the model's thinking\n"
        "     --backend=ID          Backend (default: the first configured one)\n"
        "     --label=TEXT          Label stored with the run\n"
        "  -q --quiet               Print only the answer, byte for byte (no thinking, no table)\n"
        "     --json[=pretty|short] Print one result object instead of streaming\n"
        "\nExit status: 0 done, 1 error or failed run, 130 cancelled.\n";

static const char run_energy_help[] =
        "llmlabctl run-energy -m MODEL [-p TEXT] [OPTIONS...]\n\n"
        "Like 'run', measuring the energy of the run; then print the phases (load, prefill, decode),\n"
        "Wh per 1000 output tokens, CO2, tokens and timings, measured or estimated.\n\n"
        "All options of 'run', and:\n"
        "     --measure=live|estimate|auto\n"
        "                           Live counters, a benchmark estimate, or live when counters\n"
        "                           exist (default: auto)\n"
        "     --benchmark=ID        Benchmark for estimates (see 'llmlabctl benchmarks')\n"
        "     --region=CODE         Grid region for CO2 (default: the daemon's)\n"
        "\nExit status: 0 done, 1 error or failed run, 130 cancelled.\n";

static int run_option_handler(int c, const char *arg, void *userdata) {
        int r = run_options_handle(userdata, c, arg);

        if (r == 0)
                return log_error_errno(-EINVAL, "Unexpected option.");
        return r < 0 ? r : 0;
}

static int run_print_json(const RunOutcome *out) {
        _cleanup_json_ json_t *j = NULL;

        j = run_result_json_build(out->result, out->answer, out->thinking);
        if (!j)
                return log_oom();
        if (!json_object_get(out->result, "state") && out->state)
                (void) json_object_set_new(j, "state", json_string(out->state));
        return json_print(stdout, j, arg_json);
}

static int run_report(const RunOptions *o, const RunOutcome *out, const char *what) {
        bool done = streq_ptr(out->state, "done");

        if (arg_json != JSON_OFF)
                (void) run_print_json(out);
        else if (done && !o->quiet) {
                fputc('\n', stdout);
                if (o->flags & RUN_OPTIONS_WITH_ENERGY)
                        (void) run_show_energy(stdout, out->result, o->measure ?: "auto", terminal_columns(),
                                               arg_legend);
                else
                        (void) run_show_summary(stdout, out->result, terminal_columns(), arg_legend);
        }
        fflush(stdout);

        if (done)
                return 0;
        if (streq_ptr(out->state, "cancelled")) {
                log_info("Run cancelled.");
                return CTL_EXIT_CANCELLED;
        }
        return ctl_log_error_name(out->error_name, out->error_message, what);
}

static int run_verb(int argc, char *argv[], const Verb *verb, RunOptionsFlags flags) {
        static const struct option plain_options[] = {
                RUN_OPTIONS_COMMON,
                CTL_COMMON_OPTIONS,
                {},
        };
        static const struct option energy_options[] = {
                RUN_OPTIONS_COMMON,
                RUN_OPTIONS_ENERGY,
                CTL_COMMON_OPTIONS,
                {},
        };
        _cleanup_(run_options_done) RunOptions o;
        _cleanup_(run_outcome_done) RunOutcome out = {};
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_bus_ sd_bus *bus = NULL;
        _cleanup_free_ char *what = NULL;
        RunWatchFlags watch_flags = 0;
        int r;

        run_options_init(&o, flags);
        r = verb_parse_options(verb, argc, argv,
                               (flags & RUN_OPTIONS_WITH_ENERGY) ? energy_options : plain_options,
                               RUN_OPTIONS_SHORT, run_option_handler, &o,
                               (flags & RUN_OPTIONS_WITH_ENERGY) ? run_energy_help : run_help);
        if (r <= 0)
                return r;
        r = run_options_load(&o);
        if (r < 0)
                return r;

        if (asprintf(&what, "run %s", o.model) < 0)
                return log_oom();

        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        r = ctl_new_manager_call(bus, "StartRun", &m);
        if (r < 0)
                return r;
        r = run_request_append(m, &o);
        if (r < 0)
                return r;

        if (arg_json == JSON_OFF)
                watch_flags |= RUN_WATCH_STREAM;
        if (o.quiet)
                watch_flags |= RUN_WATCH_QUIET;
        r = run_watch(bus, m, watch_flags, what, &out);
        if (r < 0)
                return r;
        return run_report(&o, &out, what);
}

int verb_run(int argc, char *argv[], const Verb *verb) {
        return run_verb(argc, argv, verb, 0);
}

int verb_run_energy(int argc, char *argv[], const Verb *verb) {
        return run_verb(argc, argv, verb, RUN_OPTIONS_WITH_ENERGY);
}
