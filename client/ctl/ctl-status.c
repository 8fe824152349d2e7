/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <math.h>

#include "ctl-bus.h"
#include "json-util.h"
#include "log.h"

static const char status_help[] =
        "llmlabctl [status]\n\n"
        "Show the daemon's version, its backends and whether each is reachable, the energy sources,\n"
        "the default benchmark, the grid region and the measurement queue.\n";

static const char energy_help[] =
        "llmlabctl energy\n\n"
        "Show every energy source (zone) with its source, kind (counter or integrated power),\n"
        "domain, whether it is summed into totals (nested zones are not), its state (available,\n"
        "unavailable and why, lost), resolution and refresh period, the running total since the\n"
        "daemon started and the counter wraps; then the current idle power.\n";

static const struct option common_options[] = {
        CTL_COMMON_OPTIONS,
        {},
};

static int describe_backends(json_t *backends, char **ret) {
        _cleanup_free_ char *s = NULL;
        json_t *b;
        size_t i;
        int r;

        json_array_foreach (backends, i, b) {
                const char *version = json_get_string(b, "version"), *error = json_get_string(b, "error");
                bool reachable = json_is_true(json_object_get(b, "reachable"));

                r = string_append(&s, "\n", "%s (%s) %s: %s%s%s", json_get_string(b, "id") ?: "-",
                                  json_get_string(b, "kind") ?: "-", json_get_string(b, "url") ?: "-",
                                  reachable ? "reachable" : "unreachable",
                                  reachable ? (version ? ", version " : "") : (error ? ": " : ""),
                                  reachable ? strempty(version) : strempty(error));
                if (r < 0)
                        return r;
        }
        *ret = s ? TAKE_PTR(s) : strdup("none configured");
        return *ret ? 0 : -ENOMEM;
}

static int describe_sources(json_t *sources, char **ret_list, char **ret_summary) {
        _cleanup_free_ char *list = NULL, *summary = NULL;
        unsigned n_available = 0, n_total = 0;
        json_t *src;
        size_t i;
        int r;

        json_array_foreach (sources, i, src) {
                bool available = json_is_true(json_object_get(src, "available"));
                bool nested = json_is_true(json_object_get(src, "nested"));
                const char *reason = json_get_string(src, "reason");

                if (!nested) {
                        n_total++;
                        n_available += available;
                }
                r = string_append(&list, "\n", "%s (%s%s): %s", json_get_string(src, "id") ?: "-",
                                json_get_string(src, "domain") ?: "-", nested ? ", nested" : "",
                                available ? "available" : reason ?: "unavailable");
                if (r < 0)
                        return r;
        }

        if (n_available > 0)
                r = asprintf(&summary, "live (%u of %u zones readable)", n_available, n_total);
        else
                r = asprintf(&summary, "estimates only (no readable energy counters)");
        if (r < 0)
                return -ENOMEM;
        *ret_list = list ? TAKE_PTR(list) : strdup("none found");
        if (!*ret_list)
                return -ENOMEM;
        *ret_summary = TAKE_PTR(summary);
        return 0;
}

static int print_status(json_t *p) {
        _cleanup_free_ char *backends = NULL, *sources = NULL, *measurement = NULL;
        _cleanup_kv_ KvBlock *b = NULL;
        char factor[FORMAT_MAX];
        int r;

        r = describe_backends(json_object_get(p, "Backends"), &backends);
        if (r >= 0)
                r = describe_sources(json_object_get(p, "EnergySources"), &sources, &measurement);
        if (r < 0)
                return log_oom();

        b = kv_new();
        if (!b)
                return log_oom();
        r = kv_add(b, "Version", json_get_string(p, "Version"));
        if (r >= 0)
                r = kv_add(b, "Backends", backends);
        if (r >= 0)
                r = kv_add(b, "Energy sources", sources);
        if (r >= 0)
                r = kv_add(b, "Measurement", measurement);
        if (r >= 0)
                r = kv_add(b, "Default benchmark", json_get_string(p, "DefaultBenchmark"));
        if (r >= 0)
                r = kv_addf(b, "Region", "%s (%s g CO2/kWh)", json_get_string(p, "Region") ?: "-",
                            format_real(factor, json_get_number(p, "GridIntensity")));
        if (r >= 0 && json_object_get(p, "SampleIntervalMs"))
                r = kv_addf(b, "Sample interval", "%" PRIi64 " ms", json_get_int(p, "SampleIntervalMs", 0));
        if (r >= 0)
                r = kv_addf(b, "Queue", "%" PRIi64 " measured runs waiting",
                            json_get_int(p, "QueueLength", 0));
        if (r < 0)
                return log_oom();
        return kv_print(b, stdout);
}

int verb_status(int argc, char *argv[], const Verb *verb) {
        _cleanup_json_ json_t *props = NULL, *j = NULL;
        _cleanup_bus_ sd_bus *bus = NULL;
        int r;

        r = verb_parse_options(verb, argc, argv, common_options, NULL, NULL, NULL, status_help);
        if (r <= 0)
                return r;
        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        r = ctl_get_all_properties(bus, LAB_OBJECT_PATH, LAB_MANAGER_IFACE, "get the daemon's status",
                                   &props);
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF) {
                j = json_object_snake_keys(props);
                if (!j)
                        return log_oom();
                return json_print(stdout, j, arg_json);
        }
        return print_status(props);
}

/* --- energy ------------------------------------------------------------------------------------ */

static char *zone_resolution(json_t *src) {
        char buf[FORMAT_MAX], rate[FORMAT_MAX];
        double uj = json_get_number(src, "resolution_uj"), uw = json_get_number(src, "resolution_uw"),
               refresh = json_get_number(src, "refresh_ms");
        char *s = NULL;

        if (isfinite(uj))
                format_energy_j(buf, uj / 1e6);
        else if (isfinite(uw))
                format_power_w(buf, uw / 1e6);
        else
                strcpy(buf, "-");
        if (asprintf(&s, "%s%s%s", buf, isfinite(refresh) ? " / " : "",
                     isfinite(refresh) ? format_duration_ms(rate, refresh) : "") < 0)
                return NULL;
        return s;
}

static char *zone_status(json_t *src) {
        const char *state = json_get_string(src, "state");
        bool available = json_is_true(json_object_get(src, "available"));
        char *s = NULL;

        if (!state)
                state = available ? "available" : "unavailable";
        if (asprintf(&s, "%s%s%s", state, available ? "" : ": ",
                     available ? "" : json_get_string(src, "reason") ?: "unavailable") < 0)
                return NULL;
        return s;
}

/* All columns, or without source, resolution and wraps for a narrow terminal. */
static Table *sources_table(json_t *sources, bool compact) {
        _cleanup_table_ Table *t = NULL;
        json_t *src;
        size_t i;

        t = compact ? table_new("ZONE", "KIND", "DOMAIN", "SUMMED", "STATE", "ENERGY", NULL)
                    : table_new("ZONE", "SOURCE", "KIND", "DOMAIN", "SUMMED", "STATE", "RESOLUTION",
                                "ENERGY", "WRAPS", NULL);
        if (!t)
                return NULL;
        table_set_ellipsize(t, 0, false);
        table_set_align_right(t, compact ? 5 : 7, true);
        if (!compact)
                table_set_align_right(t, 8, true);

        json_array_foreach (sources, i, src) {
                _cleanup_free_ char *status = zone_status(src), *resolution = zone_resolution(src);
                json_t *uj = json_object_get(src, "energy_uj");
                bool summed = json_is_true(json_object_get(src, "summed"));
                char energy[FORMAT_MAX], wraps[FORMAT_MAX];
                int r;

                if (!status || !resolution)
                        return NULL;
                format_energy_wh(energy, json_is_number(uj) ? json_number_value(uj) / 3.6e9 : NAN);
                if (compact)
                        r = table_add_row(t, json_get_string(src, "id"), json_get_string(src, "kind"),
                                          json_get_string(src, "domain"), summed ? "yes" : "no", status,
                                          energy);
                else
                        r = table_add_row(t, json_get_string(src, "id"), json_get_string(src, "source"),
                                          json_get_string(src, "kind"), json_get_string(src, "domain"),
                                          summed ? "yes" : "no (nested)", status, resolution, energy,
                                          format_count(wraps, json_get_int(src, "wraps", -1)));
                if (r < 0)
                        return NULL;
        }
        return TAKE_PTR(t);
}

static int print_sources(json_t *sources) {
        _cleanup_table_ Table *t = NULL;
        size_t width = terminal_columns();
        json_t *src;
        size_t i;
        int r;

        if (json_array_size(sources) == 0) {
                printf("No energy sources found.\n");
                return 0;
        }
        t = sources_table(sources, false);
        if (t && table_natural_width(t, arg_legend) > width) {
                table_free(t);
                t = sources_table(sources, true);
        }
        if (!t)
                return log_oom();
        r = table_print(t, stdout, width, arg_legend);
        if (r < 0)
                return r;
        /* Sources that measure in a less precise way than they could, and say why. */
        json_array_foreach (sources, i, src)
                if (json_get_string(src, "fallback"))
                        printf("%s: %s\n", json_get_string(src, "id") ?: "-",
                               json_get_string(src, "fallback"));
        return 0;
}

static int print_energy(json_t *status) {
        _cleanup_kv_ KvBlock *b = NULL;
        _cleanup_free_ char *zones = NULL;
        char buf[FORMAT_MAX];
        const char *zone;
        json_t *v;
        int r;

        r = print_sources(json_object_get(status, "sources"));
        if (r < 0)
                return r;

        json_object_foreach (json_object_get(status, "idle_zones"), zone, v) {
                r = string_append(&zones, "\n", "%s %s", zone,
                                  format_power_w(buf, json_is_number(v) ? json_number_value(v) : NAN));
                if (r < 0)
                        return log_oom();
        }

        b = kv_new();
        if (!b)
                return log_oom();
        r = kv_add(b, "Idle power", format_power_w(buf, json_get_number(status, "idle_w")));
        if (r >= 0 && zones)
                r = kv_add(b, "Idle per zone", zones);
        if (r >= 0)
                r = kv_add(b, "Measuring",
                           json_is_true(json_object_get(status, "measuring")) ? "yes" : "no");
        if (r < 0)
                return log_oom();
        putchar('\n');
        return kv_print(b, stdout);
}

int verb_energy(int argc, char *argv[], const Verb *verb) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_json_ json_t *status = NULL;
        _cleanup_bus_ sd_bus *bus = NULL;
        int r;

        r = verb_parse_options(verb, argc, argv, common_options, NULL, NULL, NULL, energy_help);
        if (r <= 0)
                return r;
        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        r = ctl_call_manager(bus, "GetEnergyStatus", "get the energy status", &reply, NULL);
        if (r < 0)
                return r;
        r = ctl_read_json(reply, "get the energy status", &status);
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF)
                return json_print(stdout, status, arg_json);
        return print_energy(status);
}
