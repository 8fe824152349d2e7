/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every verb that starts runs shares (run, run-energy, and later batch, calibrate, crossover,
 * compare): the request options, reading the prompt, context and injections, and building the
 * request a{sv} of StartRun / StartBatch / … . A verb builds its option table from
 * RUN_OPTIONS_COMMON (plus RUN_OPTIONS_ENERGY when it measures) and its own entries, passes
 * every option to run_options_handle() first, and calls run_options_load() after parsing. */

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ctl.h"

typedef enum RunOptionsFlags {
        RUN_OPTIONS_WITH_ENERGY = 1 << 0, /* --measure, --benchmark, --region are accepted */
} RunOptionsFlags;

typedef struct Injection {
        char *description;
        char *content; /* NULL until run_options_load() when @path is set */
        char *path;    /* DESC=@FILE */
} Injection;

typedef struct RunOptions {
        RunOptionsFlags flags;
        char *model;
        char *backend;
        char *prompt;          /* -p, or stdin after run_options_load() */
        char *system_prompt;   /* --system TEXT */
        char *preset;          /* --preset ID */
        char *context_path;    /* --context FILE ("-": stdin) */
        char *context;         /* its contents after run_options_load() */
        Injection *injections; /* --inject, in order */
        size_t n_injections;
        double temperature; /* NAN: unset */
        int64_t max_tokens; /* -1: unset */
        int64_t num_ctx;    /* -1: unset */
        int64_t seed;
        bool seed_set;
        int think; /* -1 unset, 0 --no-think, 1 --think */
        char *label;
        char *measure; /* run-energy: live, estimate or auto */
        char *benchmark;
        char *region;
        bool quiet; /* -q: the answer only */
} RunOptions;

enum {
        ARG_RUN_SYSTEM_PROMPT = ARG_VERB_BASE + 0x40,
        ARG_RUN_PRESET,
        ARG_RUN_CONTEXT,
        ARG_RUN_INJECT,
        ARG_RUN_SEED,
        ARG_RUN_NUM_CTX,
        ARG_RUN_THINK,
        ARG_RUN_NO_THINK,
        ARG_RUN_BACKEND,
        ARG_RUN_LABEL,
        ARG_RUN_MEASURE,
        ARG_RUN_BENCHMARK,
        ARG_RUN_REGION,
};

/* "--system TEXT" here is the system prompt; it must come before CTL_COMMON_OPTIONS in the table
 * so that it wins over the global --system (bus), which can still be given before the verb. */
/* clang-format off */
#define RUN_OPTIONS_COMMON                                                   \
        { "system",        required_argument, NULL, ARG_RUN_SYSTEM_PROMPT }, \
        { "system-prompt", required_argument, NULL, ARG_RUN_SYSTEM_PROMPT }, \
        { "model",         required_argument, NULL, 'm' },                   \
        { "prompt",        required_argument, NULL, 'p' },                   \
        { "preset",        required_argument, NULL, ARG_RUN_PRESET },        \
        { "context",       required_argument, NULL, ARG_RUN_CONTEXT },       \
        { "inject",        required_argument, NULL, ARG_RUN_INJECT },        \
        { "temperature",   required_argument, NULL, 't' },                   \
        { "max-tokens",    required_argument, NULL, 'n' },                   \
        { "seed",          required_argument, NULL, ARG_RUN_SEED },          \
        { "num-ctx",       required_argument, NULL, ARG_RUN_NUM_CTX },       \
        { "think",         no_argument,       NULL, ARG_RUN_THINK },         \
        { "no-think",      no_argument,       NULL, ARG_RUN_NO_THINK },      \
        { "backend",       required_argument, NULL, ARG_RUN_BACKEND },       \
        { "label",         required_argument, NULL, ARG_RUN_LABEL },         \
        { "quiet",         no_argument,       NULL, 'q' }
/* clang-format on */

/* clang-format off */
#define RUN_OPTIONS_ENERGY                                           \
        { "measure",   required_argument, NULL, ARG_RUN_MEASURE },   \
        { "benchmark", required_argument, NULL, ARG_RUN_BENCHMARK }, \
        { "region",    required_argument, NULL, ARG_RUN_REGION }
/* clang-format on */

#define RUN_OPTIONS_SHORT "m:p:t:n:q"

void run_options_init(RunOptions *o, RunOptionsFlags flags);
void run_options_done(RunOptions *o);

/* 1 when @c was a run option (stored), 0 when it is not one, <0 on an invalid value (logged). */
int run_options_handle(RunOptions *o, int c, const char *arg);

/* Checks the combination (model given, --system xor --preset, stdin used once) and reads the
 * prompt from stdin when -p is absent, the context file and the DESC=@FILE injections. */
int run_options_load(RunOptions *o);

/* Appends the request as a{sv} (the keys of Manager.StartRun). */
int run_request_append(sd_bus_message *m, const RunOptions *o);
