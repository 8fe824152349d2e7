/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Laptop batteries (<sysfs>/class/power_supply): a whole-system cross-check.
 *
 * While a laptop runs on its battery, the battery supplies everything (CPU, GPU, memory, display,
 * fans, conversion losses), so its discharge is the whole system's energy, to compare with the sum of
 * the measured components. On AC power it tells nothing about the load.
 *
 * Discovery. Every supply of type "Battery", except those of scope "Device" (a mouse, a headset) and
 * those that say present = 0: "battery:<name>" (e.g. "battery:BAT0"), domain battery, never summed.
 *
 * Sensor. energy_now (µWh left) when present: a counter of the energy drawn,
 * raw = (2^32 µWh − energy_now) × 3600 µJ, which grows as the battery drains, in steps of 1 µWh
 * (3.6 mJ); firmware refreshes it every few seconds at best, so the monitor treats it as a stepwise
 * counter. Otherwise power_now (µW), integrated. (Batteries that report only charge_now/current_now
 * are listed as unavailable.)
 *
 * Discharging only. The zone is available when status says "Discharging" at start-up; otherwise it
 * is listed with the reason ("not discharging (status: Charging)"). The status is read again with
 * every sample: when the laptop is plugged in, the zone is lost ("no longer discharging"). */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>

#include "energy-source.h"
#include "log.h"
#include "sysfs.h"

/* After macro.h: GLib redefines MIN/MAX/CLAMP (equivalently). */
#include <glib.h>

#define BATTERY_SOURCE      "battery"
#define BATTERY_BASE_UWH    (UINT64_C(1) << 32) /* 4.3 kWh, more than any laptop battery holds */
#define BATTERY_UJ_PER_UWH  UINT64_C(3600)
#define BATTERY_REASON_SIZE 128u

typedef struct BatteryZone {
        int status_fd;
        char reason[BATTERY_REASON_SIZE];
} BatteryZone;

static void battery_zone_free(void *p) {
        BatteryZone *d = p;

        if (!d)
                return;
        safe_close(d->status_fd);
        free(d);
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static int battery_read_attr(const char *dir, const char *attr, char **ret) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", dir, attr) < 0)
                return -ENOMEM;
        return sysfs_read_string(p, ret);
}

/* A battery that supplies the system (not a peripheral's, not an empty bay). */
static int battery_is_system(const char *dir) {
        _cleanup_free_ char *type = NULL, *scope = NULL, *present = NULL;
        int r;

        r = battery_read_attr(dir, "type", &type);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !streq(type, "Battery"))
                return 0;
        r = battery_read_attr(dir, "scope", &scope);
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && streq(scope, "Device"))
                return 0;
        r = battery_read_attr(dir, "present", &present);
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && streq(present, "0"))
                return 0;
        return 1;
}

/* Reads the status from the open attribute into @buf; true when discharging. */
static bool battery_status(int fd, char *buf, size_t size) {
        ssize_t n;

        n = pread(fd, buf, size - 1, 0);
        if (n <= 0) {
                snprintf(buf, size, "unreadable");
                return false;
        }
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return streq(buf, "Discharging");
}

/* raw µJ drawn from @energy_now_uwh. */
static int battery_counter_uj(uint64_t energy_now_uwh, uint64_t *ret) {
        if (energy_now_uwh > BATTERY_BASE_UWH)
                return -ERANGE;
        *ret = (BATTERY_BASE_UWH - energy_now_uwh) * BATTERY_UJ_PER_UWH;
        return 0;
}

static int battery_zone_open_sensor(EnergyZone *z, const char *dir) {
        static const struct {
                const char *attr;
                EnergyZoneKind kind;
                uint64_t resolution;
        } sensors[] = {
                {"energy_now", ENERGY_ZONE_COUNTER, BATTERY_UJ_PER_UWH},
                {"power_now", ENERGY_ZONE_INTEGRATED_POWER, 1},
        };
        int r = -ENOENT;

        for (size_t i = 0; i < ELEMENTSOF(sensors); i++) {
                _cleanup_close_ int fd = -EBADF;
                _cleanup_free_ char *p = NULL;
                uint64_t v, raw;

                if (asprintf(&p, "%s/%s", dir, sensors[i].attr) < 0)
                        return -ENOMEM;
                fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        r = negative_errno();
                        continue;
                }
                r = sysfs_pread_u64(fd, &v);
                if (r >= 0 && sensors[i].kind == ENERGY_ZONE_COUNTER)
                        r = battery_counter_uj(v, &raw);
                if (r < 0) {
                        log_debug_errno(r, "battery: cannot use %s: %m", p);
                        continue;
                }

                free(z->path);
                z->path = TAKE_PTR(p);
                z->fd = TAKE_FD(fd);
                z->kind = sensors[i].kind;
                z->resolution = sensors[i].resolution;
                if (z->kind == ENERGY_ZONE_INTEGRATED_POWER)
                        return energy_zone_set_info(z, "fallback",
                                                    json_string("no energy_now; power_now integrated"));
                return 0;
        }
        return r;
}

static int battery_zone_setup(EnergyZone *z, const char *dir) {
        _cleanup_free_ char *status_path = NULL;
        BatteryZone *d;
        char status[64];
        int r;

        d = calloc(1, sizeof(BatteryZone));
        if (!d)
                return -ENOMEM;
        d->status_fd = -EBADF;
        z->data = d;
        z->free_data = battery_zone_free;
        z->path = strdup(dir);
        if (!z->path)
                return -ENOMEM;

        if (asprintf(&status_path, "%s/status", dir) < 0)
                return -ENOMEM;
        d->status_fd = open(status_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (d->status_fd < 0)
                return energy_zone_set_unavailablef(z, "status unreadable");

        if (!battery_status(d->status_fd, status, sizeof(status)))
                return energy_zone_set_unavailablef(z, "not discharging (status: %s)", status);

        r = battery_zone_open_sensor(z, dir);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return energy_zone_set_unavailablef(z, "no readable energy_now or power_now");

        z->available = true;
        return 0;
}

static int battery_add_zone(EnergySource *s, const char *dir, const char *entry) {
        _cleanup_(energy_zone_freep) EnergyZone *z = NULL;
        _cleanup_free_ char *id = NULL, *model = NULL, *name = NULL;
        int r;

        if (asprintf(&id, BATTERY_SOURCE ":%s", entry) < 0)
                return -ENOMEM;
        r = battery_read_attr(dir, "model_name", &model);
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && !isempty(model)) {
                if (asprintf(&name, "%s (%s)", entry, model) < 0)
                        return -ENOMEM;
        } else if (!(name = strdup(entry)))
                return -ENOMEM;

        r = energy_zone_new(BATTERY_SOURCE, id, name, &z);
        if (r < 0)
                return r;
        z->domain = ENERGY_DOMAIN_BATTERY;
        z->summed = false;

        r = battery_zone_setup(z, dir);
        if (r < 0)
                return r;

        log_debug("battery: %s at %s: %s%s%s", z->id, z->path,
                  z->available ? energy_zone_kind_to_string(z->kind) : "unavailable",
                  z->available ? "" : ": ", strempty(z->reason));
        return energy_source_add_zone(s, TAKE_PTR(z));
}

static int compare_names(gconstpointer a, gconstpointer b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int battery_probe(EnergySource *s, const char *sysfs_root) {
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(free);
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_free_ char *base = NULL;
        struct dirent *de;
        int r;

        r = sysfs_path(sysfs_root, "class/power_supply", &base);
        if (r < 0)
                return r;

        d = opendir(base);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                return log_debug_errno(negative_errno(), "Failed to open %s, ignoring: %m", base);
        }
        while ((de = readdir(d))) {
                char *n;

                if (de->d_name[0] == '.')
                        continue;
                n = strdup(de->d_name);
                if (!n)
                        return -ENOMEM;
                g_ptr_array_add(names, n);
        }
        g_ptr_array_sort(names, compare_names);

        for (guint i = 0; i < names->len; i++) {
                _cleanup_free_ char *dir = NULL;

                if (asprintf(&dir, "%s/%s", base, (const char *) g_ptr_array_index(names, i)) < 0)
                        return -ENOMEM;
                r = battery_is_system(dir);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                r = battery_add_zone(s, dir, g_ptr_array_index(names, i));
                if (r < 0)
                        return r;
        }
        return (int) s->n_zones;
}

static int battery_read(EnergySource *s, uint64_t t_ns, EnergyReading *ret) {
        for (size_t i = 0; i < s->n_zones; i++) {
                EnergyZone *z = s->zones[i];
                BatteryZone *d = z->data;
                char status[64];
                uint64_t v;
                int r;

                if (!z->available || !d)
                        continue;

                if (!battery_status(d->status_fd, status, sizeof(status))) {
                        snprintf(d->reason, sizeof(d->reason), "no longer discharging (status: %s)", status);
                        ret[i] = (EnergyReading){.error = -EAGAIN, .reason = d->reason};
                        continue;
                }

                r = sysfs_pread_u64(z->fd, &v);
                if (r >= 0 && z->kind == ENERGY_ZONE_COUNTER)
                        r = battery_counter_uj(v, &v);
                ret[i] = r < 0 ? (EnergyReading){.error = r} : (EnergyReading){.value = v};
        }
        return 0;
}

const EnergySourceOps energy_battery_ops = {
        .name = BATTERY_SOURCE,
        .probe = battery_probe,
        .read = battery_read,
};
