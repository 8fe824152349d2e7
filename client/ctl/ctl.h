/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the verbs of llmlabctl share: global options, the verb table type and per-verb option
 * parsing. Every verb accepts the common options too, so `llmlabctl run --json …` works as well
 * as `llmlabctl --json run …`. */

#include <getopt.h>
#include <stdbool.h>

#include "ctl-output.h"

/* Exit codes, documented in --help and the man page. */
#define CTL_EXIT_CANCELLED 130

typedef enum BusTransport {
        BUS_TRANSPORT_LOCAL,   /* this machine */
        BUS_TRANSPORT_REMOTE,  /* -H [USER@]HOST: over SSH to the host's system bus */
        BUS_TRANSPORT_MACHINE, /* -M CONTAINER: a local container's bus */
        _BUS_TRANSPORT_MAX,
} BusTransport;

extern BusTransport arg_transport;
extern const char *arg_host; /* -H or -M */
extern bool arg_user;        /* --user: the session bus (llmlabd --user) */
extern JsonFormat arg_json;
extern bool arg_legend;
extern bool arg_ask_password;

typedef enum VerbFlags {
        VERB_DEFAULT = 1 << 0, /* run when no verb is given */
} VerbFlags;

typedef struct Verb Verb;
typedef int (*VerbFunction)(int argc, char *argv[], const Verb *verb);

struct Verb {
        const char *name;
        unsigned min_args, max_args; /* positional arguments after the verb's own options */
        VerbFlags flags;
        VerbFunction dispatch;
};

/* Option values shared by all verbs; verb-specific options start at ARG_VERB_BASE. */
enum {
        ARG_VERSION = 0x100,
        ARG_USER,
        ARG_SYSTEM,
        ARG_JSON,
        ARG_NO_LEGEND,
        ARG_NO_ASK_PASSWORD,
        ARG_VERB_BASE = 0x200,
};

/* clang-format off */
#define CTL_COMMON_OPTIONS                                                  \
        { "help",            no_argument,       NULL, 'h' },                \
        { "user",            no_argument,       NULL, ARG_USER },           \
        { "system",          no_argument,       NULL, ARG_SYSTEM },         \
        { "json",            optional_argument, NULL, ARG_JSON },           \
        { "no-legend",       no_argument,       NULL, ARG_NO_LEGEND },      \
        { "no-ask-password", no_argument,       NULL, ARG_NO_ASK_PASSWORD }, \
        { "host",            required_argument, NULL, 'H' },                \
        { "machine",         required_argument, NULL, 'M' }
/* clang-format on */

/* The short options of CTL_COMMON_OPTIONS, for getopt. */
#define CTL_COMMON_SHORT "hH:M:"

/* Handles one of the common options: 1 when handled, 0 when not a common option, <0 on error
 * (logged). */
int ctl_handle_common_option(int c, const char *arg);

/* Called for each option that is not a common one: 0 or a negative errno (logged). */
typedef int (*VerbOptionHandler)(int c, const char *arg, void *userdata);

/* Parses argv (argv[0] is the verb) with @options (which must include CTL_COMMON_OPTIONS) and
 * @shortopts (without 'h', which is added). Prints @help_text on -h. Checks the number of
 * positional arguments against @verb. Returns the index of the first positional argument (> 0),
 * 0 when help was shown (the verb returns 0 then), or a negative errno (logged). Positional
 * arguments are moved to the end of argv by getopt. */
int verb_parse_options(const Verb *verb, int argc, char *argv[], const struct option *options,
                       const char *shortopts, VerbOptionHandler handler, void *userdata,
                       const char *help_text);

/* The verbs, one file per family. */
int verb_status(int argc, char *argv[], const Verb *verb);
int verb_energy(int argc, char *argv[], const Verb *verb);
int verb_models(int argc, char *argv[], const Verb *verb);
int verb_model_info(int argc, char *argv[], const Verb *verb);
int verb_prompts(int argc, char *argv[], const Verb *verb);
int verb_run(int argc, char *argv[], const Verb *verb);
int verb_run_energy(int argc, char *argv[], const Verb *verb);
int verb_benchmarks(int argc, char *argv[], const Verb *verb);
int verb_session(int argc, char *argv[], const Verb *verb);
int verb_history(int argc, char *argv[], const Verb *verb);
int verb_export(int argc, char *argv[], const Verb *verb);
int verb_batch(int argc, char *argv[], const Verb *verb);
int verb_crossover(int argc, char *argv[], const Verb *verb);
int verb_calibrate(int argc, char *argv[], const Verb *verb);
int verb_compare(int argc, char *argv[], const Verb *verb);
