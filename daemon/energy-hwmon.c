/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* AMD and Intel GPUs through hwmon (<sysfs>/class/hwmon).
 *
 * Discovery. Every hwmonN whose "name" file names a GPU driver: amdgpu, i915 or xe. Its "device" link
 * (the PCI function) gives a stable address; the GPUs found are numbered in PCI address order:
 * "hwmon:gpu-0", "hwmon:gpu-1", …
 *
 * Sensor. An energy counter when the device has one (energyN_input, µJ; i915 and xe accumulate it in
 * 64 bits, so it does not wrap): the one labelled "card" when there are several (xe: card and pkg),
 * else the lowest-numbered. Otherwise its power in µW, integrated over time and flagged as such
 * (kind integrated-power): powerN_average, else powerN_input (amdgpu: "PPT").
 *
 * Summed. A discrete GPU draws its own power and is part of the total. An AMD APU's sensors
 * (labelled "slowPPT"/"fastPPT") measure the whole SoC, CPU package included: reported, not summed.
 *
 * Reading. The attribute is opened once and re-read with pread() at offset 0, as for RAPL. */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>

#include "energy-source.h"
#include "log.h"
#include "sysfs.h"

/* After macro.h: GLib redefines MIN/MAX/CLAMP (equivalently). */
#include <glib.h>

#define HWMON_SOURCE       "hwmon"
#define HWMON_MAX_CHANNELS 16u

static const char *const hwmon_gpu_drivers[] = {"amdgpu", "i915", "xe"};

typedef struct HwmonGpu {
        char *dir;    /* <root>/class/hwmon/hwmonN */
        char *hwmon;  /* "hwmonN" */
        char *driver; /* the name file */
        char *pci;    /* basename of the device link, or NULL */
} HwmonGpu;

typedef struct HwmonSensor {
        char attr[32]; /* "energy1_input", "power1_average", … */
        char *label;   /* its label file, or NULL */
        bool counter;
} HwmonSensor;

static void hwmon_gpu_free(gpointer p) {
        HwmonGpu *g = p;

        free(g->dir);
        free(g->hwmon);
        free(g->driver);
        free(g->pci);
        free(g);
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static bool hwmon_is_gpu_driver(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(hwmon_gpu_drivers); i++)
                if (streq(name, hwmon_gpu_drivers[i]))
                        return true;
        return false;
}

static int hwmon_read_attr(const char *dir, const char *attr, char **ret) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", dir, attr) < 0)
                return -ENOMEM;
        return sysfs_read_string(p, ret);
}

static int hwmon_add_candidate(GPtrArray *gpus, const char *dir, const char *entry) {
        _cleanup_free_ char *name = NULL, *device = NULL, *resolved = NULL;
        HwmonGpu *g;
        int r;

        r = hwmon_read_attr(dir, "name", &name);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !hwmon_is_gpu_driver(name))
                return 0;

        if (asprintf(&device, "%s/device", dir) < 0)
                return -ENOMEM;
        resolved = realpath(device, NULL);

        g = calloc(1, sizeof(HwmonGpu));
        if (!g)
                return -ENOMEM;
        g_ptr_array_add(gpus, g);
        g->dir = strdup(dir);
        g->hwmon = strdup(entry);
        g->driver = TAKE_PTR(name);
        if (resolved) {
                const char *base = strrchr(resolved, '/');

                g->pci = strdup(base ? base + 1 : resolved);
                if (!g->pci)
                        return -ENOMEM;
        }
        if (!g->dir || !g->hwmon)
                return -ENOMEM;
        return 0;
}

static int hwmon_scan(GPtrArray *gpus, const char *base) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        d = opendir(base);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                return log_debug_errno(negative_errno(), "Failed to open %s, ignoring: %m", base);
        }

        while ((de = readdir(d))) {
                _cleanup_free_ char *dir = NULL;

                if (!startswith(de->d_name, "hwmon"))
                        continue;
                if (asprintf(&dir, "%s/%s", base, de->d_name) < 0)
                        return -ENOMEM;
                r = hwmon_add_candidate(gpus, dir, de->d_name);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int hwmon_gpu_compare(gconstpointer a, gconstpointer b) {
        const HwmonGpu *x = *(HwmonGpu *const *) a, *y = *(HwmonGpu *const *) b;
        int c;

        /* By PCI address (devices without one last), then by hwmon directory. */
        if (!x->pci != !y->pci)
                return x->pci ? -1 : 1;
        if (x->pci) {
                c = strcmp(x->pci, y->pci);
                if (c != 0)
                        return c;
        }
        return strcmp(x->hwmon, y->hwmon);
}

static bool hwmon_attr_exists(const char *dir, const char *attr) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", dir, attr) < 0)
                return false;
        return access(p, F_OK) >= 0;
}

static char *hwmon_label(const char *dir, const char *type, unsigned n) {
        _cleanup_free_ char *attr = NULL;
        char *label = NULL;

        if (asprintf(&attr, "%s%u_label", type, n) < 0)
                return NULL;
        if (hwmon_read_attr(dir, attr, &label) < 0)
                return NULL;
        return label;
}

/* The energy counter to use: the one labelled "card", else the lowest-numbered. */
static bool hwmon_find_energy(const char *dir, HwmonSensor *ret) {
        unsigned first = 0;

        for (unsigned n = 1; n <= HWMON_MAX_CHANNELS; n++) {
                _cleanup_free_ char *label = NULL;
                char attr[32];

                snprintf(attr, sizeof(attr), "energy%u_input", n);
                if (!hwmon_attr_exists(dir, attr))
                        continue;
                if (first == 0)
                        first = n;
                label = hwmon_label(dir, "energy", n);
                if (label && streq(label, "card")) {
                        first = n;
                        break;
                }
        }
        if (first == 0)
                return false;

        snprintf(ret->attr, sizeof(ret->attr), "energy%u_input", first);
        ret->label = hwmon_label(dir, "energy", first);
        ret->counter = true;
        return true;
}

/* The power sensor to integrate: the lowest-numbered powerN_average, else powerN_input. */
static bool hwmon_find_power(const char *dir, HwmonSensor *ret) {
        static const char *const suffixes[] = {"average", "input"};

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                for (unsigned n = 1; n <= HWMON_MAX_CHANNELS; n++) {
                        snprintf(ret->attr, sizeof(ret->attr), "power%u_%s", n, suffixes[i]);
                        if (!hwmon_attr_exists(dir, ret->attr))
                                continue;
                        ret->label = hwmon_label(dir, "power", n);
                        ret->counter = false;
                        return true;
                }
        return false;
}

/* An APU's amdgpu sensors measure the whole SoC (slow and fast PPT limits of the package). */
static bool hwmon_is_apu(const HwmonGpu *g, const HwmonSensor *sensor) {
        return streq(g->driver, "amdgpu") && sensor->label &&
               (streq(sensor->label, "slowPPT") || streq(sensor->label, "fastPPT"));
}

static int hwmon_zone_info(EnergyZone *z, const HwmonGpu *g, const HwmonSensor *sensor) {
        int r = 0;

        r |= energy_zone_set_info(z, "driver", json_string(g->driver));
        r |= energy_zone_set_info(z, "hwmon", json_string(g->hwmon));
        if (g->pci)
                r |= energy_zone_set_info(z, "pci", json_string(g->pci));
        if (sensor && !isempty(sensor->attr))
                r |= energy_zone_set_info(z, "sensor", json_string(sensor->attr));
        if (sensor && sensor->label)
                r |= energy_zone_set_info(z, "label", json_string(sensor->label));
        if (sensor && !sensor->counter)
                r |= energy_zone_set_info(z, "fallback", json_string("no energy counter; power integrated"));
        return r != 0 ? -ENOMEM : 0;
}

/* Opens the sensor and reads it once; on failure the zone is unavailable with the reason. */
static int hwmon_zone_open(EnergyZone *z, const char *dir, const HwmonSensor *sensor) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t v;
        int r;

        if (asprintf(&z->path, "%s/%s", dir, sensor->attr) < 0)
                return -ENOMEM;

        fd = open(z->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                r = negative_errno();
        else
                r = sysfs_pread_u64(fd, &v);
        if (r < 0) {
                log_debug_errno(r, "hwmon: cannot read %s: %m", z->path);
                return energy_zone_set_unavailable(z, r);
        }

        z->fd = TAKE_FD(fd);
        z->available = true;
        return 0;
}

static int hwmon_add_zone(EnergySource *s, const HwmonGpu *g, unsigned index) {
        _cleanup_(energy_zone_freep) EnergyZone *z = NULL;
        _cleanup_free_ char *id = NULL, *name = NULL;
        HwmonSensor sensor = {};
        bool found;
        int r;

        if (asprintf(&id, HWMON_SOURCE ":gpu-%u", index) < 0 ||
            asprintf(&name, "%s %s", g->driver, g->pci ?: g->hwmon) < 0)
                return -ENOMEM;

        r = energy_zone_new(HWMON_SOURCE, id, name, &z);
        if (r < 0)
                return r;
        z->domain = ENERGY_DOMAIN_GPU;
        z->device = (int) index;

        found = hwmon_find_energy(g->dir, &sensor) || hwmon_find_power(g->dir, &sensor);
        if (!found) {
                z->path = strdup(g->dir);
                if (!z->path)
                        return -ENOMEM;
                z->summed = true;
                r = hwmon_zone_info(z, g, NULL);
                if (r >= 0)
                        r = energy_zone_set_unavailablef(z, "no energy or power sensor in %s", g->hwmon);
        } else {
                z->kind = sensor.counter ? ENERGY_ZONE_COUNTER : ENERGY_ZONE_INTEGRATED_POWER;
                z->resolution = 1; /* µJ or µW as the attribute counts; the hardware's step is unknown */
                z->summed = !hwmon_is_apu(g, &sensor);
                r = hwmon_zone_info(z, g, &sensor);
                if (r >= 0 && !z->summed)
                        r = energy_zone_set_info(z, "overlaps", json_string("cpu package (APU)"));
                if (r >= 0)
                        r = hwmon_zone_open(z, g->dir, &sensor);
        }
        free(sensor.label);
        if (r < 0)
                return r;

        log_debug("hwmon: %s (%s) at %s: %s%s%s", z->id, z->name, z->path,
                  z->available ? energy_zone_kind_to_string(z->kind) : "unavailable",
                  z->available ? "" : ": ", strempty(z->reason));
        return energy_source_add_zone(s, TAKE_PTR(z));
}

static int hwmon_probe(EnergySource *s, const char *sysfs_root) {
        g_autoptr(GPtrArray) gpus = g_ptr_array_new_with_free_func(hwmon_gpu_free);
        _cleanup_free_ char *base = NULL;
        int r;

        r = sysfs_path(sysfs_root, "class/hwmon", &base);
        if (r < 0)
                return r;

        r = hwmon_scan(gpus, base);
        if (r < 0)
                return r;
        g_ptr_array_sort(gpus, hwmon_gpu_compare);

        for (guint i = 0; i < gpus->len; i++) {
                r = hwmon_add_zone(s, g_ptr_array_index(gpus, i), i);
                if (r < 0)
                        return r;
        }
        return (int) gpus->len;
}

static int hwmon_read(EnergySource *s, uint64_t t_ns, EnergyReading *ret) {
        for (size_t i = 0; i < s->n_zones; i++) {
                EnergyZone *z = s->zones[i];
                uint64_t v;
                int r;

                if (!z->available)
                        continue;

                r = sysfs_pread_u64(z->fd, &v);
                ret[i] = r < 0 ? (EnergyReading){.error = r} : (EnergyReading){.value = v};
        }
        return 0;
}

const EnergySourceOps energy_hwmon_ops = {
        .name = HWMON_SOURCE,
        .probe = hwmon_probe,
        .read = hwmon_read,
};
