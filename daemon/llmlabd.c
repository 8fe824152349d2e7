/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <signal.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "build-config.h"
#include "bus-errors.h"
#include "bus-manager.h"
#include "bus-util.h"
#include "config.h"
#include "log.h"
#include "manager.h"

static bool arg_user = false;
static const char *arg_config = NULL;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "The llmlab daemon: measures the energy of language-model inference and serves\n"
               "org.llmlab.Lab1 on the system bus (or the session bus with --user).\n\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "     --system          Serve on the system bus, authorize with polkit (default)\n"
               "     --user            Serve on the session bus without polkit (development, tests)\n"
               "  -c --config=FILE     Read FILE instead of $LLMLAB_CONFIG or " LLMLAB_SYSCONFDIR
               "/llmlab.conf\n"
               "  -v --verbose         Log more (twice for debug)\n"
               "\nSee llmlabd(8).\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_SYSTEM, ARG_USER };
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},
                {"system", no_argument, NULL, ARG_SYSTEM},
                {"user", no_argument, NULL, ARG_USER},
                {"config", required_argument, NULL, 'c'},
                {"verbose", no_argument, NULL, 'v'},
                {},
        };
        int c, verbosity = 0;

        while ((c = getopt_long(argc, argv, "hc:v", options, NULL)) >= 0)
                switch (c) {
                case 'h': help(); return 0;
                case ARG_VERSION: printf("llmlabd %s\n", VERSION); return 0;
                case ARG_SYSTEM: arg_user = false; break;
                case ARG_USER: arg_user = true; break;
                case 'c': arg_config = optarg; break;
                case 'v': verbosity++; break;
                case '?': return -EINVAL;
                default: return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "This program takes no arguments.");
        if (verbosity > 0)
                log_set_max_level(LOG_DEBUG);
        return 1;
}

static int setup_log_level(void) {
        const char *e = getenv("LLMLAB_LOG_LEVEL");
        int level;

        if (isempty(e))
                return 0;
        level = log_level_from_string(e);
        if (level < 0)
                return log_error_errno(level, "Invalid LLMLAB_LOG_LEVEL=%s.", e);
        log_set_max_level(level);
        return 0;
}

static int acquire_name(sd_bus *bus) {
        int r;

        /* No queueing, no replacement: a second instance must fail, visibly. */
        r = sd_bus_request_name(bus, LAB_BUS_NAME, 0);
        if (r == -EEXIST || r == -EALREADY)
                return log_error_errno(-EEXIST, "Another llmlabd already owns %s on the %s bus; exiting.",
                                       LAB_BUS_NAME, arg_user ? "session" : "system");
        if (r < 0)
                return log_error_errno(r, "Failed to acquire %s: %m", LAB_BUS_NAME);
        return 0;
}

static int run(int argc, char *argv[]) {
        /* Freed in reverse order: the manager first, then what it uses. */
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        g_autoptr(Config) config = NULL;
        _cleanup_(polkit_registry_freep) PolkitRegistry *polkit = NULL;
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        LabBus lab_bus = {};
        int r;

        log_set_program_name("llmlabd");
        r = setup_log_level();
        if (r < 0)
                return r;
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        r = config_load(arg_config, &config, &err);
        if (r < 0)
                return log_error_errno(r, "Invalid configuration: %s", err.message);
        log_debug("Configuration: %s, %u backend(s).", config->path ?: "(defaults)", config->backends->len);

        r = bus_errors_register();
        if (r < 0)
                return log_error_errno(r, "Failed to register the error map: %m");

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        {
                sigset_t mask;

                sigemptyset(&mask);
                sigaddset(&mask, SIGTERM);
                sigaddset(&mask, SIGINT);
                (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        }
        r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to handle signals: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        r = sd_event_set_watchdog(event, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog, ignoring: %m");

        r = arg_user ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s bus: %m",
                                       arg_user ? "session" : "system");
        (void) sd_bus_set_description(bus, "llmlabd");
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");

        r = manager_new(event, config, arg_user, &m);
        if (r < 0)
                return r;
        r = polkit_registry_new(/* enabled= */ !arg_user, &polkit);
        if (r < 0)
                return log_oom();

        lab_bus = (LabBus){.bus = bus, .manager = m, .polkit = polkit, .user_mode = arg_user};
        r = lab_bus_register(&lab_bus);
        if (r < 0)
                return r;
        r = acquire_name(bus);
        if (r < 0)
                return r;

        /* Probe hardware and open the database only once we own the name. */
        r = manager_startup(m);
        if (r < 0)
                return r;

        (void) sd_notify(false, "READY=1\nSTATUS=Serving org.llmlab.Lab1.");
        log_info("llmlabd %s ready on the %s bus.", VERSION, arg_user ? "session" : "system");

        r = sd_event_loop(event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");

        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down.");
        log_info("Shutting down.");
        lab_bus_unregister(&lab_bus);
        return 0;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);

        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
