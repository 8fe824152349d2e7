/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "energy-source.h"
#include "sysfs.h"

/* RAPL first: the CPU zones keep their indices whatever else is found. */
const EnergySourceOps *const energy_source_builtin[] = {
        &energy_rapl_ops,
        &energy_nvml_ops,
        &energy_hwmon_ops,
        &energy_battery_ops,
};
const size_t energy_source_builtin_count = ELEMENTSOF(energy_source_builtin);

static const char *const energy_domain_table[_ENERGY_DOMAIN_MAX] = {
        [ENERGY_DOMAIN_PACKAGE] = "package", [ENERGY_DOMAIN_CORE] = "core",
        [ENERGY_DOMAIN_UNCORE] = "uncore",   [ENERGY_DOMAIN_DRAM] = "dram",
        [ENERGY_DOMAIN_PSYS] = "psys",       [ENERGY_DOMAIN_GPU] = "gpu",
        [ENERGY_DOMAIN_BATTERY] = "battery", [ENERGY_DOMAIN_OTHER] = "other",
};

static const char *const energy_zone_kind_table[_ENERGY_ZONE_KIND_MAX] = {
        [ENERGY_ZONE_COUNTER] = "counter",
        [ENERGY_ZONE_INTEGRATED_POWER] = "integrated-power",
};

const char *energy_domain_to_string(EnergyDomain d) {
        if (d < 0 || d >= _ENERGY_DOMAIN_MAX)
                return NULL;
        return energy_domain_table[d];
}

EnergyDomain energy_domain_from_string(const char *s) {
        if (!s)
                return _ENERGY_DOMAIN_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(energy_domain_table); i++)
                if (streq(energy_domain_table[i], s))
                        return (EnergyDomain) i;
        return _ENERGY_DOMAIN_INVALID;
}

const char *energy_zone_kind_to_string(EnergyZoneKind k) {
        if (k < 0 || k >= _ENERGY_ZONE_KIND_MAX)
                return NULL;
        return energy_zone_kind_table[k];
}

EnergyZoneKind energy_zone_kind_from_string(const char *s) {
        if (!s)
                return _ENERGY_ZONE_KIND_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(energy_zone_kind_table); i++)
                if (streq(energy_zone_kind_table[i], s))
                        return (EnergyZoneKind) i;
        return _ENERGY_ZONE_KIND_INVALID;
}

int energy_zone_new(const char *source, const char *id, const char *name, EnergyZone **ret) {
        _cleanup_(energy_zone_freep) EnergyZone *z = NULL;

        assert(source && id && name && ret);

        z = calloc(1, sizeof(EnergyZone));
        if (!z)
                return -ENOMEM;
        z->fd = -EBADF;
        z->socket = -1;
        z->device = -1;
        z->source = source;
        z->domain = ENERGY_DOMAIN_OTHER;
        z->kind = ENERGY_ZONE_COUNTER;
        z->poll_period_ns = ENERGY_POLL_MAX_NS;

        z->id = strdup(id);
        z->name = strdup(name);
        if (!z->id || !z->name)
                return -ENOMEM;

        *ret = TAKE_PTR(z);
        return 0;
}

EnergyZone *energy_zone_free(EnergyZone *z) {
        if (!z)
                return NULL;

        if (z->free_data)
                z->free_data(z->data);
        safe_close(z->fd);
        free(z->id);
        free(z->name);
        free(z->path);
        free(z->reason);
        json_decref(z->info);
        free(z);
        return NULL;
}

int energy_zone_set_reason(EnergyZone *z, const char *reason) {
        char *s = NULL;

        if (reason) {
                s = strdup(reason);
                if (!s)
                        return -ENOMEM;
        }
        free(z->reason);
        z->reason = s;
        return 0;
}

int energy_zone_set_unavailable(EnergyZone *z, int error) {
        char *s;

        s = sysfs_error_reason(error);
        if (!s)
                return -ENOMEM;

        free(z->reason);
        z->reason = s;
        z->available = false;
        return 0;
}

int energy_zone_set_unavailablef(EnergyZone *z, const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        z->available = false;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;

        free(z->reason);
        z->reason = s;
        return 0;
}

int energy_zone_set_info(EnergyZone *z, const char *key, json_t *v) {
        if (!v)
                return -ENOMEM;
        if (!z->info) {
                z->info = json_object();
                if (!z->info) {
                        json_decref(v);
                        return -ENOMEM;
                }
        }
        return json_object_set_new(z->info, key, v) < 0 ? -ENOMEM : 0;
}

uint64_t energy_counter_poll_period_ns(uint64_t max_range_uj) {
        uint64_t p;

        if (max_range_uj == 0)
                return ENERGY_POLL_MAX_NS;

        /* t[ns] = E[µJ] × 1000 / P[W]; a quarter of the range at ENERGY_POLL_DESIGN_W. */
        p = max_range_uj / (4 * ENERGY_POLL_DESIGN_W) * 1000;
        return CLAMP(p, ENERGY_POLL_MIN_NS, ENERGY_POLL_MAX_NS);
}

int energy_source_new(const EnergySourceOps *ops, EnergySource **ret) {
        EnergySource *s;

        assert(ops && ret);

        s = calloc(1, sizeof(EnergySource));
        if (!s)
                return -ENOMEM;
        s->ops = ops;

        *ret = s;
        return 0;
}

EnergySource *energy_source_free(EnergySource *s) {
        if (!s)
                return NULL;

        if (s->ops->free)
                s->ops->free(s);
        for (size_t i = 0; i < s->n_zones; i++)
                energy_zone_free(s->zones[i]);
        free(s->zones);
        free(s);
        return NULL;
}

int energy_source_add_zone(EnergySource *s, EnergyZone *z) {
        EnergyZone **a;

        a = reallocarray(s->zones, s->n_zones + 1, sizeof(EnergyZone *));
        if (!a) {
                energy_zone_free(z);
                return -ENOMEM;
        }
        s->zones = a;
        s->zones[s->n_zones++] = z;
        return 0;
}

int energy_source_probe(EnergySource *s, const char *sysfs_root) {
        return s->ops->probe(s, sysfs_root);
}

int energy_source_read(EnergySource *s, uint64_t t_ns, EnergyReading *ret) {
        for (size_t i = 0; i < s->n_zones; i++)
                ret[i] = (EnergyReading){.error = -ENODEV};
        return s->ops->read(s, t_ns, ret);
}

int energy_source_processes(EnergySource *s, size_t zone, EnergyProcess **ret) {
        assert(s && ret);

        *ret = NULL;
        if (!s->ops->processes || zone >= s->n_zones)
                return -EOPNOTSUPP;
        return s->ops->processes(s, zone, ret);
}

void energy_process_read_comm(EnergyProcess *p) {
        _cleanup_free_ char *path = NULL, *comm = NULL;

        p->comm[0] = '\0';
        if (asprintf(&path, "/proc/%" PRIu32 "/comm", p->pid) < 0)
                return;
        if (sysfs_read_string(path, &comm) < 0)
                return;
        snprintf(p->comm, sizeof(p->comm), "%s", comm);
}
