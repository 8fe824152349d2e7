/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <locale.h>
#include <sys/stat.h>

#include "build-config.h"
#include "ctl.h"
#include "log.h"

BusTransport arg_transport = BUS_TRANSPORT_LOCAL;
const char *arg_host = NULL;
bool arg_user = false;
JsonFormat arg_json = JSON_OFF;
bool arg_legend = true;
bool arg_ask_password = true;

static void help(void) {
        printf("%1$s [OPTIONS...] COMMAND ...\n\n"
               "%2$sControl llmlabd: run language models locally and measure their energy.%3$s\n"
               "\nCommands:\n"
               "  status                   Show the daemon version, backends and energy sources (default)\n"
               "  energy                   Show energy sources, running totals and idle power\n"
               "  models [--backend ID]    List the models of the configured backends\n"
               "  model-info MODEL [--backend ID]\n"
               "                           Show details of one model\n"
               "  prompts [ID]             List preset system prompts, or print one\n"
               "  run -m MODEL [-p TEXT] [OPTIONS...]\n"
               "                           Stream an answer (prompt from -p or stdin), then show\n"
               "                           tokens, TTFT and tokens/s\n"
               "  run-energy -m MODEL [-p TEXT] [OPTIONS...]\n"
               "                           Like run, measuring energy (live or estimated)\n"
               "  benchmarks [list]        List the benchmarks used for estimates\n"
               "  benchmarks set-default ID\n"
               "  benchmarks add ID --input WH --output WH [--name TEXT] [--description TEXT]\n"
               "                           [--source TEXT]\n"
               "  benchmarks remove ID\n"
               "  session [summary]        Show the energy and tokens of the current session\n"
               "  session clear            Start a new session\n"
               "  history [--model M] [--since DATE|-Nd|-Nh] [--limit N]\n"
               "                           List stored runs\n"
               "  export --format json|csv|openmetrics [-o FILE] [--model M] [--since …] [--limit N]\n"
               "                           Export stored runs\n"
               "  batch -m MODEL [-p TEXT] [--runs N] [--warmup W] [OPTIONS...]\n"
               "                           Measure N runs of one request; statistics per metric\n"
               "  crossover -m MODEL [-p TEXT] [--start-tokens N] [--step-tokens N] [--max-steps N]\n"
               "                           Find the prompt length where prefill costs more than decode\n"
               "  calibrate -m MODEL [-p TEXT] [--runs N]\n"
               "                           Fit a benchmark for estimates from measured runs\n"
               "  compare -m MODEL[@ALIAS][:TEMP] -m … [-p TEXT] [OPTIONS...]\n"
               "                           Stream one prompt on several models side by side\n"
               "\nOptions:\n"
               "  -h --help                Show this help (COMMAND -h: help of one command)\n"
               "     --version             Show the version\n"
               "     --system              Talk to llmlabd on the system bus (default)\n"
               "     --user                Talk to llmlabd on the session bus (llmlabd --user)\n"
               "  -H --host=[USER@]HOST    Talk to llmlabd on HOST, over SSH\n"
               "  -M --machine=CONTAINER   Talk to llmlabd in a local container\n"
               "     --json=pretty|short|off\n"
               "                           Print JSON (--json alone: pretty)\n"
               "     --no-legend           Do not print column headers\n"
               "     --no-ask-password     Do not ask for authorization interactively\n"
               "\nRun options (run, run-energy, batch, crossover, calibrate, compare):\n"
               "  -m --model=MODEL         Model to run (required)\n"
               "  -p --prompt=TEXT         User prompt (default: read from stdin)\n"
               "     --system-prompt=TEXT  System prompt (also: --system TEXT after the command)\n"
               "     --preset=ID           Preset system prompt (see 'prompts')\n"
               "     --context=FILE        Conversation context from FILE ('-': stdin)\n"
               "     --inject=DESC=TEXT    Inject context (DESC=@FILE reads FILE); repeatable\n"
               "  -t --temperature=TEMP    Sampling temperature, 0…2\n"
               "  -n --max-tokens=N        Maximum output tokens, 1…32768\n"
               "     --seed=N              Sampling seed\n"
               "     --num-ctx=N           Context window in tokens\n"
               "     --think --no-think    Ask for (or suppress) the model's thinking\n"
               "     --backend=ID          Backend to use (default: the first configured)\n"
               "     --label=TEXT          Label stored with the run\n"
               "  -q --quiet               Print only the answer, byte for byte\n"
               "  run-energy, batch, crossover, compare:\n"
               "     --measure=live|estimate|auto\n"
               "                           How to get energy (default: auto)\n"
               "     --benchmark=ID        Benchmark for estimates\n"
               "     --region=CODE         Grid region for CO2\n"
               "\nEnvironment: NO_COLOR disables colour; COLUMNS sets the table width.\n"
               "Exit status: 0 done, 1 error or failed run or job, 130 cancelled (Ctrl-C).\n"
               "Human-readable output may change; --json output is stable (keys are only added).\n"
               "\nSee the llmlabctl(1) man page for details.\n",
               program_invocation_short_name, ansi_bold(), ansi_normal());
}

int ctl_handle_common_option(int c, const char *arg) {
        switch (c) {
        case ARG_USER: arg_user = true; return 1;
        case ARG_SYSTEM: arg_user = false; return 1;
        case 'H':
                arg_transport = BUS_TRANSPORT_REMOTE;
                arg_host = arg;
                return 1;
        case 'M':
                arg_transport = BUS_TRANSPORT_MACHINE;
                arg_host = arg;
                return 1;
        case ARG_JSON:
                if (!arg) {
                        arg_json = JSON_PRETTY;
                        return 1;
                }
                if (streq(arg, "help")) {
                        puts("pretty\nshort\noff");
                        exit(EXIT_SUCCESS);
                }
                arg_json = json_format_from_string(arg);
                if (arg_json < 0)
                        return log_error_errno(
                                -EINVAL, "Invalid --json= mode '%s': expected pretty, short or off.", arg);
                return 1;
        case ARG_NO_LEGEND: arg_legend = false; return 1;
        case ARG_NO_ASK_PASSWORD: arg_ask_password = false; return 1;
        default: return 0;
        }
}

int verb_parse_options(const Verb *verb, int argc, char *argv[], const struct option *options,
                       const char *shortopts, VerbOptionHandler handler, void *userdata,
                       const char *help_text) {
        _cleanup_free_ char *shorts = NULL;
        unsigned n;
        int c, r;

        if (asprintf(&shorts, CTL_COMMON_SHORT "%s", strempty(shortopts)) < 0)
                return log_oom();

        optind = 0; /* reinitialize GNU getopt for the verb's argv */
        while ((c = getopt_long(argc, argv, shorts, options, NULL)) >= 0) {
                if (c == 'h') {
                        printf("%s", help_text);
                        return 0;
                }
                if (c == '?')
                        return -EINVAL; /* getopt printed why */
                r = ctl_handle_common_option(c, optarg);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (!handler)
                        return log_error_errno(-EINVAL, "Unexpected option.");
                r = handler(c, optarg, userdata);
                if (r < 0)
                        return r;
        }

        n = (unsigned) (argc - optind);
        if (n < verb->min_args)
                return log_error_errno(-EINVAL, "Too few arguments for '%s'. See '%s %s -h'.", verb->name,
                                       program_invocation_short_name, verb->name);
        if (n > verb->max_args)
                return log_error_errno(-EINVAL, "Too many arguments for '%s'. See '%s %s -h'.", verb->name,
                                       program_invocation_short_name, verb->name);
        return optind;
}

static const Verb verbs[] = {
        {"status", 0, 0, VERB_DEFAULT, verb_status},
        {"energy", 0, 0, 0, verb_energy},
        {"models", 0, 0, 0, verb_models},
        {"model-info", 1, 1, 0, verb_model_info},
        {"prompts", 0, 1, 0, verb_prompts},
        {"run", 0, 0, 0, verb_run},
        {"run-energy", 0, 0, 0, verb_run_energy},
        {"benchmarks", 0, 2, 0, verb_benchmarks},
        {"session", 0, 1, 0, verb_session},
        {"history", 0, 0, 0, verb_history},
        {"export", 0, 0, 0, verb_export},
        {"batch", 0, 0, 0, verb_batch},
        {"crossover", 0, 0, 0, verb_crossover},
        {"calibrate", 0, 0, 0, verb_calibrate},
        {"compare", 0, 0, 0, verb_compare},
};

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                CTL_COMMON_OPTIONS,
                {"version", no_argument, NULL, ARG_VERSION},
                {},
        };
        int c, r;

        /* "+": stop at the verb, which parses its own options. */
        while ((c = getopt_long(argc, argv, "+" CTL_COMMON_SHORT, options, NULL)) >= 0) {
                switch (c) {
                case 'h': help(); return 0;
                case ARG_VERSION: printf("llmlabctl %s\n", VERSION); return 0;
                case '?': return -EINVAL;
                default:
                        r = ctl_handle_common_option(c, optarg);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                return log_error_errno(-EINVAL, "Unhandled option.");
                }
        }
        return 1;
}

static int dispatch_verb(int argc, char *argv[]) {
        const char *name = argc > 0 ? argv[0] : NULL;
        char *default_argv[] = {NULL, NULL};

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                const Verb *v = &verbs[i];

                if (name ? streq(name, v->name) : (v->flags & VERB_DEFAULT)) {
                        if (!name) {
                                default_argv[0] = (char *) v->name;
                                return v->dispatch(1, default_argv, v);
                        }
                        return v->dispatch(argc, argv, v);
                }
        }
        return log_error_errno(-EINVAL, "Unknown command '%s'. See '%s --help'.", name,
                               program_invocation_short_name);
}

/* Under a systemd service stderr may be the journal (JOURNAL_STREAM); a child whose stderr was
 * redirected still inherits the variable. Keep plain "llmlabctl: …" messages unless stderr really is
 * that stream. */
static void log_setup(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        log_set_program_name("llmlabctl");
        if (e && (sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0 ||
                  st.st_dev != (dev_t) dev || st.st_ino != (ino_t) ino))
                (void) unsetenv("JOURNAL_STREAM");

        e = getenv("LLMLAB_LOG_LEVEL");
        if (!isempty(e) && log_level_from_string(e) >= 0)
                log_set_max_level(log_level_from_string(e));
}

int main(int argc, char *argv[]) {
        int r;

        (void) setlocale(LC_ALL, "");
        /* Numbers are parsed and printed with a '.', whatever the locale. */
        (void) setlocale(LC_NUMERIC, "C");
        log_setup();
        arg_ask_password = isatty(STDIN_FILENO);

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        r = dispatch_verb(argc - optind, argv + optind);
        if (r < 0)
                return EXIT_FAILURE;
        return r;
}
