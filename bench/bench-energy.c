/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* bench-energy: the cost of one energy snapshot, with the daemon's own energy monitor
 * (daemon/energy-monitor.c, linked from the release build) on a fake powercap tree.
 *
 *   bench-energy --sysfs-root DIR [--iterations N] [--periodic-ms MS --seconds S]
 *
 * Prints one JSON object: the zones found, and per snapshot (median over 20 batches of N/20
 * snapshots) the wall time of energy_monitor_sample_now() while idle (reads + wrap accounting +
 * idle window) and while a recording is active (+ the timeline append), and of the raw reads
 * alone as the monitor itself counts them (energy_monitor_read_time_ns()).
 *
 * With --periodic-ms, then S seconds of the leanest possible periodic sampling: a blocking read()
 * of a timerfd every MS ms, one snapshot each, nothing else; and the CPU share of one core that
 * this process used meanwhile (getrusage). That is the floor of what a timeline costs here. */

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "energy-monitor.h"
#include "log.h"

#define BATCHES 20u

static struct {
        const char *root;
        unsigned iterations, periodic_ms, seconds;
} arg = {NULL, 20000, 0, 3};

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

/* Median over BATCHES of the mean cost of one snapshot, in ns; *ret_read_ns: the same for the raw
 * reads alone. */
static int measure(EnergyMonitor *m, unsigned n, double *ret_ns, double *ret_read_ns) {
        double total[BATCHES], reads[BATCHES];
        unsigned per_batch = MAX(n / BATCHES, 1u);

        for (unsigned b = 0; b < BATCHES; b++) {
                uint64_t r0 = energy_monitor_read_time_ns(m), n0 = energy_monitor_n_reads(m);
                uint64_t t0 = now_ns(CLOCK_MONOTONIC);

                for (unsigned i = 0; i < per_batch; i++) {
                        int r = energy_monitor_sample_now(m);

                        if (r < 0)
                                return log_error_errno(r, "Failed to take a snapshot: %m");
                }
                total[b] = (double) (now_ns(CLOCK_MONOTONIC) - t0) / per_batch;
                reads[b] = (double) (energy_monitor_read_time_ns(m) - r0) /
                           (double) MAX(energy_monitor_n_reads(m) - n0, (uint64_t) 1);
        }
        qsort(total, BATCHES, sizeof(double), cmp_double);
        qsort(reads, BATCHES, sizeof(double), cmp_double);
        *ret_ns = (total[BATCHES / 2 - 1] + total[BATCHES / 2]) / 2;
        *ret_read_ns = (reads[BATCHES / 2 - 1] + reads[BATCHES / 2]) / 2;
        return 0;
}

static uint64_t cpu_ns(void) {
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return 0;
        return (uint64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NSEC_PER_SEC +
               (uint64_t) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * NSEC_PER_USEC;
}

/* The CPU share (% of one core) of sampling every @ms for @seconds from a bare timerfd loop. */
static int periodic(EnergyMonitor *m, unsigned ms, unsigned seconds, double *ret_pct) {
        struct itimerspec its = {
                .it_interval = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L},
                .it_value = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L},
        };
        uint64_t t0, c0, expirations, n = 0, want = (uint64_t) seconds * 1000 / ms;
        int fd, r = 0;

        fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to create a timerfd: %m");
        if (timerfd_settime(fd, 0, &its, NULL) < 0) {
                r = log_error_errno(-errno, "Failed to arm the timerfd: %m");
                goto finish;
        }
        t0 = now_ns(CLOCK_MONOTONIC);
        c0 = cpu_ns();
        while (n < want) {
                if (read(fd, &expirations, sizeof(expirations)) != sizeof(expirations)) {
                        r = log_error_errno(-errno, "Failed to read the timerfd: %m");
                        goto finish;
                }
                (void) energy_monitor_sample_now(m);
                n += expirations;
        }
        *ret_pct = 100.0 * (double) (cpu_ns() - c0) / (double) (now_ns(CLOCK_MONOTONIC) - t0);
finish:
        close(fd);
        return r;
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                {"sysfs-root", required_argument, NULL, 'r'},
                {"iterations", required_argument, NULL, 'n'},
                {"periodic-ms", required_argument, NULL, 'p'},
                {"seconds", required_argument, NULL, 's'},
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "r:n:p:s:", options, NULL)) >= 0)
                switch (c) {
                case 'r': arg.root = optarg; break;
                case 'n': arg.iterations = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'p': arg.periodic_ms = (unsigned) strtoul(optarg, NULL, 10); break;
                case 's': arg.seconds = (unsigned) strtoul(optarg, NULL, 10); break;
                default: return -EINVAL;
                }
        if (!arg.root || arg.iterations < BATCHES)
                return log_error_errno(-EINVAL, "--sysfs-root is required, --iterations at least %u.",
                                       BATCHES);
        return 0;
}

static int run(int argc, char *argv[]) {
        _cleanup_(energy_recording_freep) EnergyRecording *rec = NULL;
        _cleanup_(energy_monitor_freep) EnergyMonitor *m = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        double idle_ns, idle_read_ns, rec_ns, rec_read_ns, periodic_pct = NAN;
        size_t n, available = 0;
        int r;

        r = parse_argv(argc, argv);
        if (r < 0)
                return r;
        r = sd_event_new(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = energy_monitor_new(e, arg.root, 10, &m);
        if (r < 0)
                return r;
        n = energy_monitor_n_zones(m);
        for (size_t i = 0; i < n; i++)
                available += energy_monitor_zone(m, i)->available;
        if (available == 0)
                return log_error_errno(-ENODEV, "No readable zone under %s.", arg.root);

        r = measure(m, arg.iterations / 10, &idle_ns, &idle_read_ns); /* warm-up */
        if (r >= 0)
                r = measure(m, arg.iterations, &idle_ns, &idle_read_ns);
        if (r < 0)
                return r;
        r = energy_monitor_start_recording(m, &rec);
        if (r < 0)
                return log_error_errno(r, "Failed to start a recording: %m");
        r = measure(m, arg.iterations, &rec_ns, &rec_read_ns);
        if (r < 0)
                return r;
        (void) energy_monitor_stop_recording(m, rec);
        if (arg.periodic_ms > 0) {
                r = periodic(m, arg.periodic_ms, arg.seconds, &periodic_pct);
                if (r < 0)
                        return r;
        }

        printf("{\"zones\": %zu, \"available\": %zu, \"iterations\": %u, \"snapshot_idle_ns\": %.1f, "
               "\"reads_idle_ns\": %.1f, \"snapshot_recording_ns\": %.1f, \"reads_recording_ns\": %.1f",
               n, available, arg.iterations, idle_ns, idle_read_ns, rec_ns, rec_read_ns);
        if (arg.periodic_ms > 0)
                printf(", \"periodic_ms\": %u, \"periodic_seconds\": %u, \"periodic_share_pct\": %.4f",
                       arg.periodic_ms, arg.seconds, periodic_pct);
        printf("}\n");
        return 0;
}

int main(int argc, char *argv[]) {
        log_set_program_name("bench-energy");
        log_set_max_level(LOG_WARNING);
        return run(argc, argv) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
