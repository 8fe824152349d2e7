/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sys/stat.h>

#include "bus-json.h"
#include "ctl-bus.h"
#include "ctl-parse.h"
#include "io-util.h"
#include "json-util.h"
#include "log.h"

static const struct option common_options[] = {
        CTL_COMMON_OPTIONS,
        {},
};

/* --- benchmarks -------------------------------------------------------------------------------- */

enum {
        ARG_INPUT = ARG_VERB_BASE,
        ARG_OUTPUT,
        ARG_NAME,
        ARG_DESCRIPTION,
        ARG_SOURCE,
        ARG_MODEL,
        ARG_SINCE,
        ARG_LIMIT,
        ARG_FORMAT,
        ARG_JOB,
};

static const char benchmarks_help[] =
        "llmlabctl benchmarks [list]\n"
        "llmlabctl benchmarks set-default ID\n"
        "llmlabctl benchmarks add ID --input WH --output WH [--name TEXT] [--description TEXT]\n"
        "                         [--source TEXT]\n"
        "llmlabctl benchmarks remove ID\n\n"
        "List the benchmarks used to estimate energy where no counters exist (the default is marked\n"
        "with *), choose the default, or add and remove custom ones. WH are watt-hours per 1000 input\n"
        "and per 1000 output tokens.\n\n"
        "     --input=WH            Wh per 1000 input tokens (add)\n"
        "     --output=WH           Wh per 1000 output tokens (add)\n"
        "     --name=TEXT           Display name (add)\n"
        "     --description=TEXT    Description (add)\n"
        "     --source=TEXT         Where the figures come from (add)\n";

typedef struct BenchmarkArgs {
        double input, output;
        const char *name, *description, *source;
} BenchmarkArgs;

static int benchmark_handler(int c, const char *arg, void *userdata) {
        BenchmarkArgs *a = userdata;
        int r;

        switch (c) {
        case ARG_INPUT:
        case ARG_OUTPUT:
                r = parse_double_range(arg, 0, 1e9, c == ARG_INPUT ? &a->input : &a->output);
                if (r < 0)
                        return log_error_errno(r, "Invalid --%s '%s': expected Wh per 1000 tokens (≥ 0).",
                                               c == ARG_INPUT ? "input" : "output", arg);
                return 0;
        case ARG_NAME: a->name = arg; return 0;
        case ARG_DESCRIPTION: a->description = arg; return 0;
        case ARG_SOURCE: a->source = arg; return 0;
        default: return log_error_errno(-EINVAL, "Unexpected option.");
        }
}

static const char *benchmark_origin(json_t *b) {
        if (json_is_true(json_object_get(b, "builtin")))
                return "builtin";
        if (json_object_get(b, "r2"))
                return "calibrated";
        return "custom";
}

static int benchmarks_list(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_json_ json_t *list = NULL;
        _cleanup_table_ Table *t = NULL;
        json_t *b;
        size_t i;
        int r;

        r = ctl_call_manager(bus, "ListBenchmarks", "list benchmarks", &reply, NULL);
        if (r < 0)
                return r;
        r = ctl_read_json(reply, "list benchmarks", &list);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF)
                return json_print(stdout, list, arg_json);

        t = table_new(" ", "ID", "NAME", "IN Wh/1K", "OUT Wh/1K", "ORIGIN", "SOURCE", NULL);
        if (!t)
                return log_oom();
        table_set_ellipsize(t, 1, false);
        table_set_align_right(t, 3, true);
        table_set_align_right(t, 4, true);
        json_array_foreach (list, i, b) {
                char in[FORMAT_MAX], out[FORMAT_MAX];

                if (table_add_row(t, json_is_true(json_object_get(b, "default")) ? "*" : "",
                                  json_get_string(b, "id"), json_get_string(b, "name"),
                                  format_energy_wh(in, json_get_number(b, "wh_per_1000_input_tokens")),
                                  format_energy_wh(out, json_get_number(b, "wh_per_1000_output_tokens")),
                                  benchmark_origin(b), json_get_string(b, "source")) < 0)
                        return log_oom();
        }
        if (table_get_rows(t) == 0) {
                printf("No benchmarks.\n");
                return 0;
        }
        return table_print(t, stdout, terminal_columns(), arg_legend);
}

static int benchmarks_add(sd_bus *bus, const char *id, const BenchmarkArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_json_ json_t *o = NULL;
        _cleanup_free_ char *what = NULL;
        int r;

        if (isnan(a->input) || isnan(a->output))
                return log_error_errno(-EINVAL, "benchmarks add needs --input WH and --output WH.");
        if (asprintf(&what, "add benchmark %s", id) < 0)
                return log_oom();

        o = json_object();
        if (!o)
                return log_oom();
        json_set_string(o, "id", id);
        json_set_string(o, "name", a->name);
        json_set_string(o, "description", a->description);
        json_set_string(o, "source", a->source);
        json_object_set_new(o, "wh_per_1000_input_tokens", json_real(a->input));
        json_object_set_new(o, "wh_per_1000_output_tokens", json_real(a->output));

        r = ctl_new_manager_call(bus, "AddBenchmark", &m);
        if (r < 0)
                return r;
        r = bus_message_append_json_dict(m, o);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %m");
        return ctl_call(bus, m, what, NULL);
}

/* @what is "<prefix>ID<suffix>". */
static int benchmarks_simple(sd_bus *bus, const char *method, const char *prefix, const char *id,
                             const char *suffix) {
        _cleanup_free_ char *what = NULL;

        if (asprintf(&what, "%s%s%s", prefix, id, suffix) < 0)
                return log_oom();
        return ctl_call_manager(bus, method, what, NULL, "s", id);
}

int verb_benchmarks(int argc, char *argv[], const Verb *verb) {
        static const struct option options[] = {
                {"input", required_argument, NULL, ARG_INPUT},
                {"output", required_argument, NULL, ARG_OUTPUT},
                {"name", required_argument, NULL, ARG_NAME},
                {"description", required_argument, NULL, ARG_DESCRIPTION},
                {"source", required_argument, NULL, ARG_SOURCE},
                CTL_COMMON_OPTIONS,
                {},
        };
        BenchmarkArgs a = {.input = NAN, .output = NAN};
        _cleanup_bus_ sd_bus *bus = NULL;
        const char *action, *id;
        int first, r;

        first = verb_parse_options(verb, argc, argv, options, NULL, benchmark_handler, &a, benchmarks_help);
        if (first <= 0)
                return first;
        action = first < argc ? argv[first] : "list";
        id = first + 1 < argc ? argv[first + 1] : NULL;

        if (streq(action, "list") ? id != NULL : !id)
                return log_error_errno(-EINVAL,
                                       "Usage: benchmarks [list] | set-default ID | add ID … | remove ID.");
        if (!streq(action, "list") && !streq(action, "set-default") && !streq(action, "add") &&
            !streq(action, "remove"))
                return log_error_errno(-EINVAL, "Unknown benchmarks action '%s'.", action);

        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        if (streq(action, "list"))
                return benchmarks_list(bus);
        if (streq(action, "add"))
                return benchmarks_add(bus, id, &a);
        if (streq(action, "remove"))
                return benchmarks_simple(bus, "RemoveBenchmark", "remove benchmark ", id, "");
        return benchmarks_simple(bus, "SetDefaultBenchmark", "make ", id, " the default benchmark");
}

/* --- session ----------------------------------------------------------------------------------- */

static const char session_help[] =
        "llmlabctl session [summary]\n"
        "llmlabctl session clear\n\n"
        "Show the totals of your current session (runs, energy, CO2, tokens), or start a new one\n"
        "(stored runs are kept).\n";

static int print_session(json_t *s) {
        _cleanup_kv_ KvBlock *b = kv_new();
        char buf[FORMAT_MAX], buf2[FORMAT_MAX];
        int r;

        if (!b)
                return log_oom();
        r = kv_add(b, "Started", format_timestamp_us(buf, (uint64_t) MAX(json_get_int(s, "started", 0), 0)));
        if (r >= 0)
                r = kv_addf(b, "Runs", "%s (%s measured)", format_count(buf, json_get_int(s, "runs", -1)),
                            format_count(buf2, json_get_int(s, "measured_runs", -1)));
        if (r >= 0)
                r = kv_add(b, "Energy", format_energy_wh(buf, json_get_number(s, "total_wh")));
        if (r >= 0)
                r = kv_addf(b, "Measured/estimated", "%s / %s",
                            format_energy_wh(buf, json_get_number(s, "measured_wh")),
                            format_energy_wh(buf2, json_get_number(s, "estimated_wh")));
        if (r >= 0)
                r = kv_add(b, "CO2", format_co2_g(buf, json_get_number(s, "co2_g")));
        if (r >= 0)
                r = kv_addf(b, "Tokens", "%s input, %s output",
                            format_count(buf, json_get_int(s, "input_tokens", -1)),
                            format_count(buf2, json_get_int(s, "output_tokens", -1)));
        if (r >= 0)
                r = kv_add(b, "Wh/1000 e-tokens",
                           format_energy_wh(buf, json_get_number(s, "mean_wh_per_1000_etokens")));
        if (r < 0)
                return log_oom();
        return kv_print(b, stdout);
}

int verb_session(int argc, char *argv[], const Verb *verb) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_json_ json_t *summary = NULL;
        _cleanup_bus_ sd_bus *bus = NULL;
        const char *action;
        int first, r;

        first = verb_parse_options(verb, argc, argv, common_options, NULL, NULL, NULL, session_help);
        if (first <= 0)
                return first;
        action = first < argc ? argv[first] : "summary";
        if (!streq(action, "summary") && !streq(action, "clear"))
                return log_error_errno(-EINVAL, "Unknown session action '%s': expected summary or clear.",
                                       action);

        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        if (streq(action, "clear"))
                return ctl_call_manager(bus, "ClearSession", "clear the session", NULL, NULL);

        r = ctl_call_manager(bus, "GetSessionSummary", "get the session summary", &reply, NULL);
        if (r < 0)
                return r;
        r = ctl_read_json(reply, "get the session summary", &summary);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF)
                return json_print(stdout, summary, arg_json);
        return print_session(summary);
}

/* --- filters shared by history and export ------------------------------------------------------ */

typedef struct RunFilter {
        const char *model;
        uint64_t since; /* µs since the epoch, 0: unset */
        int64_t limit;  /* -1: unset */
        int64_t job;    /* 0: unset */
        const char *format;
        const char *output;
} RunFilter;

/* clang-format off */
#define FILTER_OPTIONS                                   \
        { "model", required_argument, NULL, ARG_MODEL }, \
        { "since", required_argument, NULL, ARG_SINCE }, \
        { "limit", required_argument, NULL, ARG_LIMIT }, \
        { "job",   required_argument, NULL, ARG_JOB }
/* clang-format on */

static int filter_handler(int c, const char *arg, void *userdata) {
        RunFilter *f = userdata;
        int r;

        switch (c) {
        case ARG_MODEL: f->model = arg; return 0;
        case ARG_SINCE:
                r = parse_since(arg, now_usec(CLOCK_REALTIME), &f->since);
                if (r < 0)
                        return log_error_errno(
                                r,
                                "Invalid --since '%s': expected YYYY-MM-DD[ HH:MM[:SS]], -Nd, -Nh, "
                                "-Nm or @SECONDS.",
                                arg);
                return 0;
        case ARG_LIMIT:
                r = parse_int64_range(arg, 1, 10000, &f->limit);
                if (r < 0)
                        return log_error_errno(r, "Invalid --limit '%s': expected 1…10000.", arg);
                return 0;
        case ARG_FORMAT:
                if (!streq(arg, "json") && !streq(arg, "csv") && !streq(arg, "openmetrics"))
                        return log_error_errno(
                                -EINVAL, "Invalid --format '%s': expected json, csv or openmetrics.", arg);
                f->format = arg;
                return 0;
        case ARG_JOB:
                r = parse_int64_range(arg, 1, INT64_MAX, &f->job);
                if (r < 0)
                        return log_error_errno(r, "Invalid --job '%s': expected a job number.", arg);
                return 0;
        case 'o': f->output = arg; return 0;
        default: return log_error_errno(-EINVAL, "Unexpected option.");
        }
}

static int append_filter(sd_bus_message *m, const RunFilter *f) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && f->model)
                r = sd_bus_message_append(m, "{sv}", "model", "s", f->model);
        if (r >= 0 && f->since > 0)
                r = sd_bus_message_append(m, "{sv}", "since", "t", f->since);
        if (r >= 0 && f->limit > 0)
                r = sd_bus_message_append(m, "{sv}", "limit", "u", (uint32_t) f->limit);
        if (r >= 0 && f->job > 0)
                r = sd_bus_message_append(m, "{sv}", "job", "t", (uint64_t) f->job);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the filter: %m");
        return 0;
}

/* --- history ----------------------------------------------------------------------------------- */

static const char history_help[] =
        "llmlabctl history [--model M] [--since DATE|-Nd|-Nh] [--limit N] [--job ID]\n\n"
        "List your stored runs, newest first.\n\n"
        "     --model=MODEL         Only runs of MODEL\n"
        "     --job=ID              Only the runs of job ID (batch, crossover, …), warm-up included\n"
        "     --since=WHEN          Only runs since WHEN: YYYY-MM-DD[ HH:MM[:SS]], -7d, -12h, -30m\n"
        "     --limit=N             At most N runs (default 50)\n";

static int history_table(json_t *runs) {
        _cleanup_table_ Table *t = NULL;
        json_t *run;
        size_t i;

        t = table_new("ID", "DATE", "MODEL", "TOKENS", "Wh", "Wh/1K", "STATE", NULL);
        if (!t)
                return log_oom();
        table_set_align_right(t, 0, true);
        for (size_t c = 3; c < 6; c++)
                table_set_align_right(t, c, true);
        json_array_foreach (runs, i, run) {
                json_t *tokens = json_object_get(run, "tokens"), *energy = json_object_get(run, "energy");
                char id[FORMAT_MAX], date[FORMAT_MAX], in[FORMAT_MAX], out[FORMAT_MAX], wh[FORMAT_MAX],
                        per1k[FORMAT_MAX];
                _cleanup_free_ char *tok = NULL;

                if (asprintf(&tok, "%s/%s", format_count(in, json_get_int(tokens, "input", -1)),
                             format_count(out, json_get_int(tokens, "output", -1))) < 0)
                        return log_oom();
                if (table_add_row(
                            t, format_count(id, json_get_int(run, "run", -1)),
                            format_timestamp_us(date, (uint64_t) MAX(json_get_int(run, "created", 0), 0)),
                            json_get_string(run, "model"), tok,
                            format_energy_wh(wh, json_get_number(energy, "total_wh")),
                            format_energy_wh(per1k, json_get_number(energy, "wh_per_1000_etokens")),
                            json_get_string(run, "state")) < 0)
                        return log_oom();
        }
        if (table_get_rows(t) == 0) {
                printf("No runs.\n");
                return 0;
        }
        return table_print(t, stdout, terminal_columns(), arg_legend);
}

int verb_history(int argc, char *argv[], const Verb *verb) {
        static const struct option options[] = {
                FILTER_OPTIONS,
                CTL_COMMON_OPTIONS,
                {},
        };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_json_ json_t *runs = NULL;
        _cleanup_bus_ sd_bus *bus = NULL;
        RunFilter f = {.limit = -1};
        int r;

        r = verb_parse_options(verb, argc, argv, options, NULL, filter_handler, &f, history_help);
        if (r <= 0)
                return r;
        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        r = ctl_new_manager_call(bus, "ListRuns", &m);
        if (r < 0)
                return r;
        r = append_filter(m, &f);
        if (r < 0)
                return r;
        r = ctl_call(bus, m, "list runs", &reply);
        if (r < 0)
                return r;
        r = ctl_read_json(reply, "list runs", &runs);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF)
                return json_print(stdout, runs, arg_json);
        return history_table(runs);
}

/* --- export ------------------------------------------------------------------------------------ */

static const char export_help[] =
        "llmlabctl export [--format json|csv|openmetrics] [-o FILE] [--model M] [--since WHEN]\n"
        "                 [--limit N] [--job ID]\n\n"
        "Export your stored runs (json: complete records with request and transcript; csv: one row\n"
        "per run; openmetrics) to stdout or FILE (written atomically).\n\n"
        "     --format=FORMAT       json (default), csv or openmetrics\n"
        "  -o --output=FILE         Write to FILE instead of stdout\n"
        "     --model=MODEL         Only runs of MODEL\n"
        "     --job=ID              Only the runs of job ID\n"
        "     --since=WHEN          Only runs since WHEN: YYYY-MM-DD[ HH:MM[:SS]], -7d, -12h\n"
        "     --limit=N             At most N runs (default 10000)\n";

/* Copies all of @in from offset 0 (the sealed memfd's offset is shared with the daemon). */
static int copy_from_start(int in, int out) {
        char buf[65536];
        off_t off = 0;
        int r;

        for (;;) {
                ssize_t n = pread(in, buf, sizeof(buf), off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                r = loop_write(out, buf, (size_t) n);
                if (r < 0)
                        return r;
                off += n;
        }
}

/* Writes to a hidden temporary file next to @path, then renames it over @path. */
static int export_to_file(int in, const char *path) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        mode_t mask;
        int r;

        mask = umask(0);
        (void) umask(mask);
        fd = tmpfile_open_for(path, 0666 & ~mask, &tmp);
        if (fd < 0)
                return log_error_errno(fd, "Failed to create a temporary file for %s: %m", path);
        r = tmpfile_commit(fd, tmp, path, copy_from_start(in, fd));
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        return 0;
}

int verb_export(int argc, char *argv[], const Verb *verb) {
        static const struct option options[] = {
                {"format", required_argument, NULL, ARG_FORMAT},
                {"output", required_argument, NULL, 'o'},
                FILTER_OPTIONS,
                CTL_COMMON_OPTIONS,
                {},
        };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_bus_ sd_bus *bus = NULL;
        RunFilter f = {.limit = -1, .format = "json"};
        int r, fd;

        r = verb_parse_options(verb, argc, argv, options, "o:", filter_handler, &f, export_help);
        if (r <= 0)
                return r;
        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        r = ctl_new_manager_call(bus, "ExportRuns", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", f.format);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %m");
        r = append_filter(m, &f);
        if (r < 0)
                return r;
        r = ctl_call(bus, m, "export runs", &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "h", &fd); /* owned by the reply */
        if (r < 0)
                return log_error_errno(r, "Failed to export runs: cannot parse the reply: %m");

        if (f.output && !streq(f.output, "-"))
                return export_to_file(fd, f.output);
        fflush(stdout);
        r = copy_from_start(fd, STDOUT_FILENO);
        if (r < 0)
                return log_error_errno(r, "Failed to write the export to stdout: %m");
        return 0;
}
