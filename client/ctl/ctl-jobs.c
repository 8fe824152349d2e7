/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* batch, crossover and calibrate: jobs made of measured runs of one request, followed with a
 * progress line, then summarized (ctl-job-show.c). compare lives in ctl-compare.c. */

#include <inttypes.h>

#include "ctl-bus.h"
#include "ctl-jobs.h"
#include "ctl-job-show.h"
#include "ctl-job-watch.h"
#include "ctl-parse.h"
#include "ctl-run.h"
#include "json-util.h"
#include "log.h"

enum {
        ARG_RUNS = ARG_VERB_BASE + 0x80,
        ARG_WARMUP,
        ARG_BUST_CACHE,
        ARG_IDLE_MS,
        ARG_START_TOKENS,
        ARG_STEP_TOKENS,
        ARG_MAX_STEPS,
};

typedef struct JobArgs {
        RunOptions run;
        int64_t runs, warmup, idle_ms, start_tokens, step_tokens, max_steps; /* -1: the daemon's default */
        bool bust_cache;
} JobArgs;

static void job_args_done(JobArgs *a) {
        run_options_done(&a->run);
}

static const char batch_help[] =
        "llmlabctl batch -m MODEL [-p TEXT] [OPTIONS...] [--runs N] [--warmup W]\n\n"
        "Measure N runs of the same request after W warm-up runs (stored, flagged, left out of the\n"
        "statistics), with a fresh idle-power window first. Then print n, mean, median, sample std,\n"
        "CV, 95% confidence interval, p5/p95, min and max of Wh per 1000 e-tokens, energy, prefill\n"
        "and decode per 1000 tokens, TTFT, tokens/s and token counts. Ctrl-C cancels the job.\n\n"
        "All options of 'run-energy', and:\n"
        "     --runs=N              Measured runs (default 5)\n"
        "     --warmup=W            Warm-up runs before them (default 1)\n"
        "     --bust-cache          Begin every prompt with a unique line (defeats prompt caches)\n"
        "     --idle-ms=MS          Idle window measured before the first run (default 2000)\n"
        "  -q --quiet               No progress line\n"
        "     --json[=pretty|short] Print the job's result object\n"
        "\nExit status: 0 done, 1 error or failed job, 130 cancelled.\n";

static const char crossover_help[] =
        "llmlabctl crossover -m MODEL [-p TEXT] [OPTIONS...] [--start-tokens N] [--step-tokens N]\n"
        "                    [--max-steps N]\n\n"
        "Find the prompt length at which prefill energy overtakes decode energy: grow the input\n"
        "with non-repeating filler (num_ctx pinned, so the model is never reloaded) and measure each\n"
        "step until prefill costs more than decode. Ctrl-C cancels the job.\n\n"
        "All options of 'run-energy', and:\n"
        "     --start-tokens=N      Filler words of the first step (default 100)\n"
        "     --step-tokens=N       Filler words added per step (default 200)\n"
        "     --max-steps=N         At most N steps (default 10)\n"
        "  -q --quiet               No progress line\n"
        "     --json[=pretty|short] Print the job's result object\n"
        "\nExit status: 0 done, 1 error or failed job, 130 cancelled.\n";

static const char calibrate_help[] =
        "llmlabctl calibrate -m MODEL [-p TEXT] [OPTIONS...] [--runs N]\n\n"
        "Measure N runs of MODEL with varied prompt and output lengths, fit\n"
        "energy = a × input tokens + b × output tokens + c by least squares, and save the result as\n"
        "benchmark calibrated:MODEL for estimates. Needs readable energy counters and, on the system\n"
        "bus, the org.llmlab.manage authorization. Ctrl-C cancels the job.\n\n"
        "All options of 'run', and:\n"
        "     --runs=N              Measured runs, at least 4 (default 8)\n"
        "  -q --quiet               No progress line\n"
        "     --json[=pretty|short] Print the job's result object\n"
        "\nExit status: 0 done, 1 error or failed job, 130 cancelled.\n";

/* clang-format off */
#define BATCH_OPTIONS                                                 \
        { "runs",       required_argument, NULL, ARG_RUNS },          \
        { "warmup",     required_argument, NULL, ARG_WARMUP },        \
        { "bust-cache", no_argument,       NULL, ARG_BUST_CACHE },    \
        { "idle-ms",    required_argument, NULL, ARG_IDLE_MS }

#define CROSSOVER_OPTIONS                                               \
        { "start-tokens", required_argument, NULL, ARG_START_TOKENS },  \
        { "step-tokens",  required_argument, NULL, ARG_STEP_TOKENS },   \
        { "max-steps",    required_argument, NULL, ARG_MAX_STEPS }
/* clang-format on */

static int parse_count(const char *arg, const char *name, int64_t min, int64_t max, int64_t *ret) {
        int r = parse_int64_range(arg, min, max, ret);

        if (r < 0)
                return log_error_errno(r, "Invalid --%s '%s': expected %" PRIi64 "…%" PRIi64 ".", name, arg,
                                       min, max);
        return 0;
}

static int job_option_handler(int c, const char *arg, void *userdata) {
        JobArgs *a = userdata;
        int r;

        r = run_options_handle(&a->run, c, arg);
        if (r != 0)
                return r < 0 ? r : 0;
        switch (c) {
        case ARG_RUNS: return parse_count(arg, "runs", 1, 100000, &a->runs);
        case ARG_WARMUP: return parse_count(arg, "warmup", 0, 100, &a->warmup);
        case ARG_IDLE_MS: return parse_count(arg, "idle-ms", 0, 60000, &a->idle_ms);
        case ARG_BUST_CACHE: a->bust_cache = true; return 0;
        case ARG_START_TOKENS: return parse_count(arg, "start-tokens", 1, 100000, &a->start_tokens);
        case ARG_STEP_TOKENS: return parse_count(arg, "step-tokens", 1, 100000, &a->step_tokens);
        case ARG_MAX_STEPS: return parse_count(arg, "max-steps", 1, 100, &a->max_steps);
        default: return log_error_errno(-EINVAL, "Unexpected option.");
        }
}

static int append_u32(sd_bus_message *m, const char *key, int64_t v) {
        if (v < 0)
                return 0;
        return sd_bus_message_append(m, "{sv}", key, "u", (uint32_t) v);
}

static int append_job_options(sd_bus_message *m, const JobArgs *a) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = append_u32(m, "runs", a->runs);
        if (r >= 0)
                r = append_u32(m, "warmup", a->warmup);
        if (r >= 0)
                r = append_u32(m, "idle_ms", a->idle_ms);
        if (r >= 0 && a->bust_cache)
                r = sd_bus_message_append(m, "{sv}", "bust_cache", "b", 1);
        if (r >= 0)
                r = append_u32(m, "start_tokens", a->start_tokens);
        if (r >= 0)
                r = append_u32(m, "step_tokens", a->step_tokens);
        if (r >= 0)
                r = append_u32(m, "max_steps", a->max_steps);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the job's options: %m");
        return 0;
}

/* --- reporting, shared with compare ------------------------------------------------------------ */

int job_report(const JobOutcome *out, const char *kind, json_t *summary, const char *what) {
        int r = 0;

        if (arg_json != JSON_OFF) {
                _cleanup_json_ json_t *j = job_json_build(out->id, kind, out->state, out->error_name,
                                                          out->error_message, summary ?: out->summary);

                if (!j)
                        return log_oom();
                r = json_print(stdout, j, arg_json);
        } else if (streq(kind, "batch"))
                r = job_show_batch(stdout, out->summary, terminal_columns(), arg_legend);
        else if (streq(kind, "crossover"))
                r = job_show_crossover(stdout, out->summary, terminal_columns(), arg_legend);
        else if (streq(kind, "calibration"))
                r = job_show_calibration(stdout, out->summary);
        if (r >= 0 && arg_json == JSON_OFF && out->id > 0 && !streq(kind, "calibration"))
                printf("\nStored as job %" PRIu64 ": 'llmlabctl history --job %" PRIu64
                       "' lists its runs.\n",
                       out->id, out->id);
        fflush(stdout);
        if (r < 0)
                return log_error_errno(r, "Failed to print the result: %m");

        if (streq_ptr(out->state, "done"))
                return 0;
        if (streq_ptr(out->state, "cancelled")) {
                log_info("Job cancelled.");
                return CTL_EXIT_CANCELLED;
        }
        return ctl_log_error_name(out->error_name, out->error_message, what);
}

/* --- batch, crossover, calibrate --------------------------------------------------------------- */

typedef struct JobVerb {
        const char *method; /* of the Manager */
        const char *kind;   /* Job.Kind */
        const char *unit;   /* what the progress line counts */
        const char *help;
        const struct option *options;
        RunOptionsFlags flags;
} JobVerb;

static int job_verb(int argc, char *argv[], const Verb *verb, const JobVerb *jv) {
        _cleanup_(job_args_done) JobArgs a = {
                .runs = -1,
                .warmup = -1,
                .idle_ms = -1,
                .start_tokens = -1,
                .step_tokens = -1,
                .max_steps = -1,
        };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(job_outcome_done) JobOutcome out = {};
        _cleanup_bus_ sd_bus *bus = NULL;
        _cleanup_free_ char *what = NULL;
        JobWatchFlags flags = 0;
        int r;

        run_options_init(&a.run, jv->flags);
        r = verb_parse_options(verb, argc, argv, jv->options, RUN_OPTIONS_SHORT, job_option_handler, &a,
                               jv->help);
        if (r <= 0)
                return r;
        r = run_options_load(&a.run);
        if (r < 0)
                return r;
        /* Calibration measures: it cannot estimate. */
        if (streq(jv->kind, "calibration") && !a.run.measure) {
                a.run.measure = strdup("live");
                if (!a.run.measure)
                        return log_oom();
        }
        if (asprintf(&what, "run the %s of %s", jv->kind, a.run.model) < 0)
                return log_oom();

        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        r = ctl_new_manager_call(bus, jv->method, &m);
        if (r < 0)
                return r;
        r = run_request_append(m, &a.run);
        if (r < 0)
                return r;
        r = append_job_options(m, &a);
        if (r < 0)
                return r;

        if (!a.run.quiet && arg_json == JSON_OFF)
                flags |= JOB_WATCH_PROGRESS_BAR;
        r = job_watch(bus, m, flags, jv->unit, what, NULL, NULL, &out);
        if (r < 0)
                return r;
        return job_report(&out, jv->kind, NULL, what);
}

int verb_batch(int argc, char *argv[], const Verb *verb) {
        static const struct option options[] = {
                BATCH_OPTIONS, RUN_OPTIONS_COMMON, RUN_OPTIONS_ENERGY, CTL_COMMON_OPTIONS, {},
        };
        static const JobVerb jv = {
                .method = "StartBatch",
                .kind = "batch",
                .unit = "runs",
                .help = batch_help,
                .options = options,
                .flags = RUN_OPTIONS_WITH_ENERGY,
        };
        return job_verb(argc, argv, verb, &jv);
}

int verb_crossover(int argc, char *argv[], const Verb *verb) {
        static const struct option options[] = {
                CROSSOVER_OPTIONS, RUN_OPTIONS_COMMON, RUN_OPTIONS_ENERGY, CTL_COMMON_OPTIONS, {},
        };
        static const JobVerb jv = {
                .method = "StartCrossover",
                .kind = "crossover",
                .unit = "steps",
                .help = crossover_help,
                .options = options,
                .flags = RUN_OPTIONS_WITH_ENERGY,
        };
        return job_verb(argc, argv, verb, &jv);
}

int verb_calibrate(int argc, char *argv[], const Verb *verb) {
        static const struct option options[] = {
                {"runs", required_argument, NULL, ARG_RUNS},
                RUN_OPTIONS_COMMON,
                CTL_COMMON_OPTIONS,
                {},
        };
        static const JobVerb jv = {
                .method = "Calibrate",
                .kind = "calibration",
                .unit = "runs",
                .help = calibrate_help,
                .options = options,
        };
        return job_verb(argc, argv, verb, &jv);
}
