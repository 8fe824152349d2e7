/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* RAPL energy counters through the powercap framework (<sysfs>/class/powercap).
 *
 * Discovery. The class directory holds the control types ("intel-rapl", "intel-rapl-mmio") and a
 * link for every zone and sub-zone ("intel-rapl:0", "intel-rapl:0:0", "intel-rapl-mmio:0"); each
 * zone directory also holds its sub-zones as subdirectories. AMD's driver registers the same
 * "intel-rapl" control type (package-N with a nested "core", no dram). We walk every entry whose
 * name starts with "intel-rapl", recursively, and count each physical directory once (by device
 * and inode, which stat() sees through the links). A zone is what its "name" file says, never
 * what its directory index suggests; its parent is the zone whose directory contains it (by
 * realpath), and a nested zone (core, uncore, dram) belongs to its parent package's socket.
 *
 * Merging. Some Intel clients expose a package twice, MSR-backed (intel-rapl) and MMIO-backed
 * (intel-rapl-mmio), with the same name. Both count the same energy, so they become one zone:
 * the MSR counter is preferred; the MMIO one is used when the MSR one cannot be read, at probe
 * time or later (a switch is reported as a rebase, i.e. a gap of one poll period).
 *
 * Reading. energy_uj is opened once and re-read with pread() at offset 0. */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "energy-source.h"
#include "log.h"
#include "sysfs.h"

/* After macro.h: GLib redefines MIN/MAX/CLAMP (equivalently), macro.h does not #undef CLAMP. */
#include <glib.h>

#define RAPL_SOURCE     "rapl"
#define RAPL_MAX_DEPTH  4
#define RAPL_REFRESH_NS (1 * NSEC_PER_MSEC)

typedef struct RaplDir {
        char *path; /* resolved */
        char *name; /* the "name" file; NULL for directories that are no zone (control types) */
        bool mmio;
        dev_t dev;
        ino_t ino;
        int parent; /* index into the list of directories, -1 for top-level zones */
} RaplDir;

typedef struct RaplSpec {
        char *id;
        const char *name;
        EnergyDomain domain;
        int socket;
        const char *path;     /* preferred counter (MSR when there is one) */
        const char *alt_path; /* MMIO duplicate of an MSR zone, or NULL */
        bool mmio;
} RaplSpec;

typedef struct RaplZoneData {
        char *alt_path; /* fallback counter not used yet */
} RaplZoneData;

static void rapl_dir_free(gpointer p) {
        RaplDir *d = p;

        free(d->path);
        free(d->name);
        free(d);
}

static void rapl_zone_data_free(void *p) {
        RaplZoneData *d = p;

        if (!d)
                return;
        free(d->alt_path);
        free(d);
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static bool rapl_dir_seen(GPtrArray *dirs, const struct stat *st) {
        for (guint i = 0; i < dirs->len; i++) {
                const RaplDir *d = g_ptr_array_index(dirs, i);

                if (d->dev == st->st_dev && d->ino == st->st_ino)
                        return true;
        }
        return false;
}

static int rapl_add_dir(GPtrArray *dirs, const char *path, const char *entry, const struct stat *st) {
        _cleanup_free_ char *name_path = NULL, *resolved = NULL;
        RaplDir *d;
        int r;

        resolved = realpath(path, NULL);
        if (!resolved)
                return negative_errno();

        d = calloc(1, sizeof(RaplDir));
        if (!d)
                return -ENOMEM;
        g_ptr_array_add(dirs, d);
        d->path = TAKE_PTR(resolved);
        d->dev = st->st_dev;
        d->ino = st->st_ino;
        d->parent = -1;
        d->mmio = startswith(entry, "intel-rapl-mmio");

        if (asprintf(&name_path, "%s/name", path) < 0)
                return -ENOMEM;
        r = sysfs_read_string(name_path, &d->name);
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && isempty(d->name)) {
                free(d->name);
                d->name = NULL;
        }
        return 0;
}

static int rapl_scan(GPtrArray *dirs, const char *dir, unsigned depth) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                return log_debug_errno(negative_errno(), "Failed to open %s, ignoring: %m", dir);
        }

        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                struct stat st;

                if (!startswith(de->d_name, "intel-rapl"))
                        continue;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                if (rapl_dir_seen(dirs, &st))
                        continue;

                r = rapl_add_dir(dirs, path, de->d_name, &st);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_debug_errno(r, "Failed to resolve %s, ignoring: %m", path);
                        continue;
                }
                if (depth < RAPL_MAX_DEPTH) {
                        r = rapl_scan(dirs, path, depth + 1);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static void rapl_link_parents(GPtrArray *dirs) {
        for (guint i = 0; i < dirs->len; i++) {
                RaplDir *d = g_ptr_array_index(dirs, i);
                const char *slash = strrchr(d->path, '/');
                size_t len = slash ? (size_t) (slash - d->path) : 0;

                for (guint j = 0; j < dirs->len; j++) {
                        const RaplDir *p = g_ptr_array_index(dirs, j);

                        if (p->name && strlen(p->path) == len && strncmp(p->path, d->path, len) == 0) {
                                d->parent = (int) j;
                                break;
                        }
                }
        }
}

static EnergyDomain rapl_domain_from_name(const char *name) {
        if (startswith(name, "package"))
                return ENERGY_DOMAIN_PACKAGE;
        if (streq(name, "core"))
                return ENERGY_DOMAIN_CORE;
        if (streq(name, "uncore"))
                return ENERGY_DOMAIN_UNCORE;
        if (streq(name, "dram"))
                return ENERGY_DOMAIN_DRAM;
        if (streq(name, "psys"))
                return ENERGY_DOMAIN_PSYS;
        return ENERGY_DOMAIN_OTHER;
}

/* "package-1" and "package-1-die-0" → 1. */
static int rapl_package_socket(const char *name) {
        const char *p;
        char *end;
        long v;

        if (!startswith(name, "package-"))
                return -1;
        p = name + strlen("package-");
        if (*p < '0' || *p > '9')
                return -1;
        errno = 0;
        v = strtol(p, &end, 10);
        if (errno != 0 || v > INT_MAX || (*end != '\0' && *end != '-'))
                return -1;
        return (int) v;
}

static int rapl_spec_init(RaplSpec *spec, GPtrArray *dirs, const RaplDir *d) {
        const RaplDir *parent = d->parent >= 0 ? g_ptr_array_index(dirs, d->parent) : NULL;
        int r;

        spec->name = d->name;
        spec->path = d->path;
        spec->mmio = d->mmio;
        spec->domain = rapl_domain_from_name(d->name);

        if (!parent) {
                spec->socket = rapl_package_socket(d->name);
                r = asprintf(&spec->id, RAPL_SOURCE ":%s", d->name);
        } else {
                /* A sub-zone is named after its parent: dram of "package-1" is "dram-1", core of
                 * "package-0-die-1" is "core-0-die-1". */
                const char *suffix = startswith(parent->name, "package-") ? parent->name + strlen("package-")
                                                                          : parent->name;

                spec->socket = rapl_package_socket(parent->name);
                r = asprintf(&spec->id, RAPL_SOURCE ":%s-%s", d->name, suffix);
        }
        if (r < 0)
                return -ENOMEM;
        return 0;
}

static RaplSpec *rapl_spec_find(GArray *specs, const char *id) {
        for (guint i = 0; i < specs->len; i++) {
                RaplSpec *s = &g_array_index(specs, RaplSpec, i);

                if (streq(s->id, id))
                        return s;
        }
        return NULL;
}

static void rapl_spec_clear(gpointer p) {
        RaplSpec *s = p;

        free(s->id);
}

/* Turns the directories into zone specs: MSR zones first, then MMIO zones, merged into the MSR zone
 * of the same id where there is one. */
static int rapl_build_specs(GPtrArray *dirs, GArray *specs) {
        int r;

        for (int pass = 0; pass < 2; pass++)
                for (guint i = 0; i < dirs->len; i++) {
                        const RaplDir *d = g_ptr_array_index(dirs, i);
                        RaplSpec spec = {}, *dup;

                        if (!d->name || d->mmio != (pass == 1))
                                continue;

                        r = rapl_spec_init(&spec, dirs, d);
                        if (r < 0)
                                return r;

                        dup = rapl_spec_find(specs, spec.id);
                        if (dup && d->mmio && !dup->mmio && !dup->alt_path) {
                                log_debug("RAPL: %s is a duplicate of %s, merged.", d->path, dup->path);
                                dup->alt_path = d->path;
                                free(spec.id);
                                continue;
                        }
                        if (dup) {
                                /* Two different zones that would get the same id: keep both, tell
                                 * them apart by their directory. */
                                const char *base = strrchr(d->path, '/');

                                free(spec.id);
                                if (asprintf(&spec.id, "%s@%s", dup->id, base ? base + 1 : d->path) < 0)
                                        return -ENOMEM;
                        }
                        g_array_append_val(specs, spec);
                }
        return 0;
}

static int rapl_spec_compare(gconstpointer a, gconstpointer b) {
        const RaplSpec *x = a, *y = b;
        unsigned sx = x->socket < 0 ? UINT_MAX : (unsigned) x->socket;
        unsigned sy = y->socket < 0 ? UINT_MAX : (unsigned) y->socket;

        if (sx != sy)
                return sx < sy ? -1 : 1;
        if (x->domain != y->domain)
                return x->domain < y->domain ? -1 : 1;
        return strcmp(x->id, y->id);
}

/* Opens the counter of the zone in @dir and reads it once. On failure returns < 0 and, unless
 * out of memory, a reason in *ret_reason. */
static int rapl_open_counter(const char *dir, int *ret_fd, uint64_t *ret_modulus, char **ret_reason) {
        _cleanup_free_ char *energy = NULL, *range = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint64_t max, v;
        int r;

        if (asprintf(&energy, "%s/energy_uj", dir) < 0 ||
            asprintf(&range, "%s/max_energy_range_uj", dir) < 0)
                return -ENOMEM;

        fd = open(energy, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                r = negative_errno();
        else
                r = sysfs_pread_u64(fd, &v);
        if (r < 0) {
                *ret_reason = sysfs_error_reason(r);
                return log_debug_errno(r, "RAPL: cannot read %s: %m", energy);
        }

        r = sysfs_read_u64(range, &max);
        if (r >= 0 && (max == 0 || max == UINT64_MAX))
                r = -EINVAL;
        if (r < 0) {
                _cleanup_free_ char *why = sysfs_error_reason(r);

                if (!why || asprintf(ret_reason, "max_energy_range_uj: %s", why) < 0)
                        *ret_reason = NULL;
                return log_debug_errno(r, "RAPL: cannot use %s: %m", range);
        }

        *ret_fd = TAKE_FD(fd);
        *ret_modulus = max + 1;
        return 0;
}

static int rapl_zone_attach(EnergyZone *z, const char *path, int fd, uint64_t modulus) {
        char *p;

        p = strdup(path);
        if (!p) {
                safe_close(fd);
                return -ENOMEM;
        }
        free(z->path);
        z->path = p;
        safe_close(z->fd);
        z->fd = fd;
        z->max_range_uj = modulus;
        z->poll_period_ns = energy_counter_poll_period_ns(modulus);
        z->available = true;
        return energy_zone_set_reason(z, NULL);
}

/* Tries the preferred counter, then the duplicate. A zone that can be read by neither is kept,
 * unavailable, with the preferred counter's reason. */
static int rapl_zone_open(EnergyZone *z, const RaplSpec *spec) {
        _cleanup_free_ char *reason = NULL, *alt_reason = NULL;
        RaplZoneData *data;
        uint64_t modulus;
        int fd, r;

        r = rapl_open_counter(spec->path, &fd, &modulus, &reason);
        if (r >= 0) {
                if (spec->alt_path) {
                        data = calloc(1, sizeof(RaplZoneData));
                        if (!data)
                                return -ENOMEM;
                        z->data = data;
                        z->free_data = rapl_zone_data_free;
                        data->alt_path = strdup(spec->alt_path);
                        if (!data->alt_path)
                                return -ENOMEM;
                }
                return rapl_zone_attach(z, spec->path, fd, modulus);
        }
        if (r == -ENOMEM)
                return r;

        if (spec->alt_path) {
                r = rapl_open_counter(spec->alt_path, &fd, &modulus, &alt_reason);
                if (r >= 0) {
                        log_debug("RAPL: %s unreadable (%s), using %s.", spec->path, strna(reason),
                                  spec->alt_path);
                        return rapl_zone_attach(z, spec->alt_path, fd, modulus);
                }
                if (r == -ENOMEM)
                        return r;
        }

        z->path = strdup(spec->path);
        if (!z->path)
                return -ENOMEM;
        z->available = false;
        return energy_zone_set_reason(z, reason ?: "unreadable");
}

static int rapl_add_zone(EnergySource *s, const RaplSpec *spec) {
        _cleanup_(energy_zone_freep) EnergyZone *z = NULL;
        int r;

        r = energy_zone_new(RAPL_SOURCE, spec->id, spec->name, &z);
        if (r < 0)
                return r;
        z->domain = spec->domain;
        z->socket = spec->socket;
        z->kind = ENERGY_ZONE_COUNTER;
        z->summed = z->domain == ENERGY_DOMAIN_PACKAGE || z->domain == ENERGY_DOMAIN_DRAM;
        /* energy_uj is in µJ; the hardware updates the counter about every millisecond. */
        z->resolution = 1;
        z->refresh_ns = RAPL_REFRESH_NS;

        r = rapl_zone_open(z, spec);
        if (r < 0)
                return r;

        log_debug("RAPL: zone %s (%s, socket %d, %s) at %s: %s%s", z->id, energy_domain_to_string(z->domain),
                  z->socket, z->summed ? "summed" : "not summed", z->path,
                  z->available ? "available" : "unavailable: ", strempty(z->reason));
        return energy_source_add_zone(s, TAKE_PTR(z));
}

static int rapl_probe(EnergySource *s, const char *sysfs_root) {
        g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func(rapl_dir_free);
        g_autoptr(GArray) specs = g_array_new(false, true, sizeof(RaplSpec));
        _cleanup_free_ char *base = NULL;
        int r;

        g_array_set_clear_func(specs, rapl_spec_clear);

        r = sysfs_path(sysfs_root, "class/powercap", &base);
        if (r < 0)
                return r;

        r = rapl_scan(dirs, base, 0);
        if (r < 0)
                return r;
        rapl_link_parents(dirs);

        r = rapl_build_specs(dirs, specs);
        if (r < 0)
                return r;
        g_array_sort(specs, rapl_spec_compare);

        for (guint i = 0; i < specs->len; i++) {
                r = rapl_add_zone(s, &g_array_index(specs, RaplSpec, i));
                if (r < 0)
                        return r;
        }
        return (int) specs->len;
}

/* Switches @z to its MMIO duplicate once its MSR counter failed. */
static int rapl_zone_fall_back(EnergyZone *z) {
        RaplZoneData *data = z->data;
        _cleanup_free_ char *reason = NULL, *alt = NULL;
        uint64_t modulus;
        int fd, r;

        if (!data || !data->alt_path)
                return -ENOENT;
        alt = TAKE_PTR(data->alt_path);

        r = rapl_open_counter(alt, &fd, &modulus, &reason);
        if (r < 0)
                return r;
        return rapl_zone_attach(z, alt, fd, modulus);
}

static int rapl_read(EnergySource *s, uint64_t t_ns, EnergyReading *ret) {
        for (size_t i = 0; i < s->n_zones; i++) {
                EnergyZone *z = s->zones[i];
                uint64_t v;
                int r;

                if (!z->available)
                        continue;

                r = sysfs_pread_u64(z->fd, &v);
                if (r >= 0) {
                        ret[i] = (EnergyReading){.value = v};
                        continue;
                }
                if (rapl_zone_fall_back(z) >= 0 && sysfs_pread_u64(z->fd, &v) >= 0) {
                        ret[i] = (EnergyReading){.value = v, .rebase = true};
                        continue;
                }
                ret[i] = (EnergyReading){.error = r};
        }
        return 0;
}

const EnergySourceOps energy_rapl_ops = {
        .name = RAPL_SOURCE,
        .probe = rapl_probe,
        .read = rapl_read,
};
