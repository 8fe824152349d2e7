/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* NVIDIA GPUs through NVML, loaded at run time.
 *
 * Loading. libnvidia-ml.so.1 (or the library $LLMLAB_NVML_LIBRARY names) is dlopen()ed by the probe;
 * llmlabd has no link-time dependency on it and looks every symbol up with dlsym(). NVML is tried
 * when $LLMLAB_NVML_LIBRARY names a library, or when the NVIDIA kernel module is loaded
 * (<sysfs>/module/nvidia exists); $LLMLAB_NVML_LIBRARY set to "" turns it off. So a machine without
 * an NVIDIA GPU does not pay for a dlopen(), and a daemon given a fake sysfs tree does not measure the
 * real GPUs of the machine it runs on.
 *
 * Failure. When the library cannot be loaded, lacks a symbol we need, or nvmlInit_v2() or
 * nvmlDeviceGetCount_v2() fails, one zone "nvml:gpu" is reported, unavailable, with the reason. A
 * device that cannot be read is reported unavailable with NVML's own error string.
 *
 * Zones. One per device: "nvml:gpu-<NVML index>", domain gpu, summed (a discrete GPU draws its own
 * power). The total energy counter (nvmlDeviceGetTotalEnergyConsumption, mJ since the driver was
 * loaded, Volta and newer) is used where the device supports it: a 64-bit counter that does not wrap
 * (a driver reload shows as a reset) and that the driver refreshes every 20–100 ms. Where it answers
 * NVML_ERROR_NOT_SUPPORTED, the power reading (nvmlDeviceGetPowerUsage, mW; a 1-s average on Ampere
 * and newer) is integrated instead, and the zone says so ("fallback"). The zone's facts: the GPU's
 * name, UUID, enforced power limit, NVML index and library.
 *
 * Processes. nvmlDeviceGetComputeRunningProcesses_v3 (or _v2, same structure: pid, used memory,
 * GPU and compute instance) tells which processes use a GPU; the monitor asks at the start and the
 * end of every recording, so a result can say whether the inference server had the GPU to itself. */

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "energy-source.h"
#include "log.h"
#include "sysfs.h"

#define NVML_SOURCE             "nvml"
#define NVML_LIBRARY            "libnvidia-ml.so.1"
#define NVML_MAX_DEVICES        64u
#define NVML_NAME_SIZE          96u /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define NVML_UUID_SIZE          96u /* NVML_DEVICE_UUID_V2_BUFFER_SIZE */
#define NVML_REASON_SIZE        192u
#define NVML_COUNTER_REFRESH_NS (100 * NSEC_PER_MSEC) /* documented 20–100 ms */
#define NVML_POWER_REFRESH_NS   (1 * NSEC_PER_SEC)    /* a 1-s moving average on Ampere and newer */

/* The few NVML definitions we use, from the documented ABI (nvml.h is not needed to build). */
typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;

enum {
        NVML_SUCCESS = 0,
        NVML_ERROR_UNINITIALIZED = 1,
        NVML_ERROR_INVALID_ARGUMENT = 2,
        NVML_ERROR_NOT_SUPPORTED = 3,
        NVML_ERROR_NO_PERMISSION = 4,
        NVML_ERROR_NOT_FOUND = 6,
        NVML_ERROR_INSUFFICIENT_SIZE = 7,
        NVML_ERROR_DRIVER_NOT_LOADED = 9,
        NVML_ERROR_TIMEOUT = 10,
        NVML_ERROR_GPU_IS_LOST = 15,
};

typedef struct NvmlProcessInfo { /* nvmlProcessInfo_v2_t, also taken by the _v3 call */
        unsigned int pid;
        unsigned long long usedGpuMemory; /* NVML_VALUE_NOT_AVAILABLE = ~0ULL */
        unsigned int gpuInstanceId;
        unsigned int computeInstanceId;
} NvmlProcessInfo;

typedef struct Nvml {
        void *dl;
        bool initialized;

        nvmlReturn_t (*init)(void);
        nvmlReturn_t (*shutdown)(void);
        const char *(*error_string)(nvmlReturn_t);
        nvmlReturn_t (*get_count)(unsigned int *);
        nvmlReturn_t (*get_handle)(unsigned int, nvmlDevice_t *);
        nvmlReturn_t (*get_name)(nvmlDevice_t, char *, unsigned int);
        nvmlReturn_t (*get_energy)(nvmlDevice_t, unsigned long long *);
        nvmlReturn_t (*get_power)(nvmlDevice_t, unsigned int *);
        /* Optional. */
        nvmlReturn_t (*get_uuid)(nvmlDevice_t, char *, unsigned int);
        nvmlReturn_t (*get_power_limit)(nvmlDevice_t, unsigned int *);
        nvmlReturn_t (*get_processes)(nvmlDevice_t, unsigned int *, NvmlProcessInfo *);
} Nvml;

typedef struct NvmlSymbol {
        const char *name;
        size_t offset;
        bool required;
} NvmlSymbol;

#define SYM(field, name, required) \
        { name, offsetof(Nvml, field), required }

/* Alternatives for the same field follow each other; the first one found wins. */
static const NvmlSymbol nvml_symbols[] = {
        SYM(init, "nvmlInit_v2", true),
        SYM(shutdown, "nvmlShutdown", true),
        SYM(error_string, "nvmlErrorString", true),
        SYM(get_count, "nvmlDeviceGetCount_v2", true),
        SYM(get_handle, "nvmlDeviceGetHandleByIndex_v2", true),
        SYM(get_name, "nvmlDeviceGetName", true),
        SYM(get_energy, "nvmlDeviceGetTotalEnergyConsumption", true),
        SYM(get_power, "nvmlDeviceGetPowerUsage", true),
        SYM(get_uuid, "nvmlDeviceGetUUID", false),
        SYM(get_power_limit, "nvmlDeviceGetEnforcedPowerLimit", false),
        SYM(get_processes, "nvmlDeviceGetComputeRunningProcesses_v3", false),
        SYM(get_processes, "nvmlDeviceGetComputeRunningProcesses_v2", false),
};

typedef struct NvmlZone {
        nvmlDevice_t handle;
        char reason[NVML_REASON_SIZE]; /* of the last failed read */
} NvmlZone;

static const char *nvml_strerror(const Nvml *n, nvmlReturn_t rc) {
        const char *s = n->error_string ? n->error_string(rc) : NULL;

        return isempty(s) ? "unknown error" : s;
}

static int nvml_errno(nvmlReturn_t rc) {
        switch (rc) {
        case NVML_SUCCESS: return 0;
        case NVML_ERROR_NOT_SUPPORTED: return -EOPNOTSUPP;
        case NVML_ERROR_NO_PERMISSION: return -EACCES;
        case NVML_ERROR_NOT_FOUND: return -ENOENT;
        case NVML_ERROR_GPU_IS_LOST: return -ENODEV;
        case NVML_ERROR_TIMEOUT: return -ETIMEDOUT;
        case NVML_ERROR_INSUFFICIENT_SIZE: return -ENOBUFS;
        case NVML_ERROR_INVALID_ARGUMENT: return -EINVAL;
        case NVML_ERROR_UNINITIALIZED:
        case NVML_ERROR_DRIVER_NOT_LOADED: return -ENXIO;
        default: return -EIO;
        }
}

/* Whether NVML should be tried without being asked for: the NVIDIA kernel module is loaded. */
static bool nvml_driver_loaded(const char *sysfs_root) {
        _cleanup_free_ char *p = NULL;

        if (sysfs_path(sysfs_root, "module/nvidia", &p) < 0)
                return false;
        return access(p, F_OK) >= 0;
}

/* Resolves the symbols; returns the name of the first required one missing, NULL when all are there. */
static const char *nvml_resolve(Nvml *n) {
        for (size_t i = 0; i < ELEMENTSOF(nvml_symbols); i++) {
                const NvmlSymbol *sym = &nvml_symbols[i];
                void *slot = (char *) n + sym->offset, *current, *p;

                memcpy(&current, slot, sizeof(current));
                if (current)
                        continue; /* an earlier alternative was found */

                p = dlsym(n->dl, sym->name);
                if (p)
                        memcpy(slot, &p, sizeof(p));
                else if (sym->required)
                        return sym->name;
        }
        return NULL;
}

/* The placeholder zone when NVML as a whole cannot be used. */
static int nvml_add_failure(EnergySource *s, const char *reason) {
        _cleanup_(energy_zone_freep) EnergyZone *z = NULL;
        int r;

        r = energy_zone_new(NVML_SOURCE, NVML_SOURCE ":gpu", "NVIDIA GPUs", &z);
        if (r < 0)
                return r;
        z->domain = ENERGY_DOMAIN_GPU;
        z->summed = true;
        z->path = strdup(NVML_LIBRARY);
        if (!z->path)
                return -ENOMEM;
        r = energy_zone_set_unavailablef(z, "NVML not available: %s", reason);
        if (r < 0)
                return r;

        log_info("NVML: not available: %s", reason);
        r = energy_source_add_zone(s, TAKE_PTR(z));
        return r < 0 ? r : 1;
}

static int nvml_zone_info(EnergyZone *z, const Nvml *n, nvmlDevice_t h, unsigned index,
                          const char *library) {
        char uuid[NVML_UUID_SIZE] = "";
        unsigned limit_mw;
        int r = 0;

        r |= energy_zone_set_info(z, "index", json_integer(index));
        r |= energy_zone_set_info(z, "library", json_string(library));
        if (n->get_uuid && n->get_uuid(h, uuid, sizeof(uuid)) == NVML_SUCCESS && !isempty(uuid)) {
                uuid[sizeof(uuid) - 1] = '\0';
                r |= energy_zone_set_info(z, "uuid", json_string(uuid));
        }
        if (n->get_power_limit && n->get_power_limit(h, &limit_mw) == NVML_SUCCESS)
                r |= energy_zone_set_info(z, "power_limit_w", json_real(limit_mw / 1000.0));
        return r != 0 ? -ENOMEM : 0;
}

/* Chooses between the energy counter and integrated power, or makes the zone unavailable. */
static int nvml_zone_choose(EnergyZone *z, const Nvml *n, nvmlDevice_t h) {
        unsigned long long mj;
        unsigned mw;
        nvmlReturn_t rc, rc_power;

        rc = n->get_energy(h, &mj);
        if (rc == NVML_SUCCESS) {
                z->kind = ENERGY_ZONE_COUNTER;
                z->resolution = 1000; /* 1 mJ */
                z->refresh_ns = NVML_COUNTER_REFRESH_NS;
                z->available = true;
                return 0;
        }
        if (rc != NVML_ERROR_NOT_SUPPORTED)
                return energy_zone_set_unavailablef(z, "nvmlDeviceGetTotalEnergyConsumption: %s",
                                                    nvml_strerror(n, rc));

        rc_power = n->get_power(h, &mw);
        if (rc_power != NVML_SUCCESS)
                return energy_zone_set_unavailablef(z,
                                                    "no energy counter (%s) and nvmlDeviceGetPowerUsage: %s",
                                                    nvml_strerror(n, rc), nvml_strerror(n, rc_power));

        z->kind = ENERGY_ZONE_INTEGRATED_POWER;
        z->resolution = 1000; /* 1 mW */
        z->refresh_ns = NVML_POWER_REFRESH_NS;
        z->available = true;
        return energy_zone_set_info(
                z, "fallback", json_sprintf("energy counter: %s; power integrated", nvml_strerror(n, rc)));
}

static int nvml_add_device(EnergySource *s, const Nvml *n, unsigned index, const char *library) {
        _cleanup_(energy_zone_freep) EnergyZone *z = NULL;
        _cleanup_free_ char *id = NULL, *path = NULL;
        char name[NVML_NAME_SIZE] = "";
        NvmlZone *data;
        nvmlDevice_t h = NULL;
        nvmlReturn_t rc;
        int r;

        if (asprintf(&id, NVML_SOURCE ":gpu-%u", index) < 0 || asprintf(&path, "%s#%u", library, index) < 0)
                return -ENOMEM;

        rc = n->get_handle(index, &h);
        if (rc == NVML_SUCCESS && n->get_name(h, name, sizeof(name)) == NVML_SUCCESS)
                name[sizeof(name) - 1] = '\0';
        if (isempty(name))
                snprintf(name, sizeof(name), "NVIDIA GPU %u", index);

        r = energy_zone_new(NVML_SOURCE, id, name, &z);
        if (r < 0)
                return r;
        z->domain = ENERGY_DOMAIN_GPU;
        z->device = (int) index;
        z->summed = true;
        z->path = TAKE_PTR(path);

        data = calloc(1, sizeof(NvmlZone));
        if (!data)
                return -ENOMEM;
        data->handle = h;
        z->data = data;
        z->free_data = free;

        if (rc != NVML_SUCCESS)
                r = energy_zone_set_unavailablef(z, "nvmlDeviceGetHandleByIndex_v2: %s",
                                                 nvml_strerror(n, rc));
        else {
                r = nvml_zone_info(z, n, h, index, library);
                if (r >= 0)
                        r = nvml_zone_choose(z, n, h);
        }
        if (r < 0)
                return r;

        log_debug("NVML: %s (%s): %s%s%s", z->id, z->name,
                  z->available ? energy_zone_kind_to_string(z->kind) : "unavailable",
                  z->available ? "" : ": ", strempty(z->reason));
        return energy_source_add_zone(s, TAKE_PTR(z));
}

static int nvml_probe(EnergySource *s, const char *sysfs_root) {
        const char *library = getenv("LLMLAB_NVML_LIBRARY"), *missing;
        _cleanup_free_ char *reason = NULL;
        unsigned count = 0;
        nvmlReturn_t rc;
        Nvml *n;
        int r;

        if (library && isempty(library)) {
                log_debug("NVML: turned off (LLMLAB_NVML_LIBRARY is empty).");
                return 0;
        }
        if (!library) {
                if (!nvml_driver_loaded(sysfs_root)) {
                        log_debug("NVML: no NVIDIA kernel module, not tried.");
                        return 0;
                }
                library = NVML_LIBRARY;
        }

        n = calloc(1, sizeof(Nvml));
        if (!n)
                return -ENOMEM;
        s->data = n;

        n->dl = dlopen(library, RTLD_NOW | RTLD_LOCAL);
        if (!n->dl) {
                const char *e = dlerror();

                if (asprintf(&reason, "cannot load %s: %s", library, e ?: "unknown error") < 0)
                        return -ENOMEM;
                return nvml_add_failure(s, reason);
        }

        missing = nvml_resolve(n);
        if (missing) {
                if (asprintf(&reason, "%s has no %s", library, missing) < 0)
                        return -ENOMEM;
                return nvml_add_failure(s, reason);
        }

        rc = n->init();
        if (rc != NVML_SUCCESS) {
                if (asprintf(&reason, "nvmlInit_v2: %s", nvml_strerror(n, rc)) < 0)
                        return -ENOMEM;
                return nvml_add_failure(s, reason);
        }
        n->initialized = true;

        rc = n->get_count(&count);
        if (rc != NVML_SUCCESS) {
                if (asprintf(&reason, "nvmlDeviceGetCount_v2: %s", nvml_strerror(n, rc)) < 0)
                        return -ENOMEM;
                return nvml_add_failure(s, reason);
        }
        if (count > NVML_MAX_DEVICES) {
                log_warning("NVML: %u devices, only the first %u are measured.", count, NVML_MAX_DEVICES);
                count = NVML_MAX_DEVICES;
        }

        for (unsigned i = 0; i < count; i++) {
                r = nvml_add_device(s, n, i, library);
                if (r < 0)
                        return r;
        }
        log_debug("NVML: %s loaded, %u device(s).", library, count);
        return (int) count;
}

static int nvml_read(EnergySource *s, uint64_t t_ns, EnergyReading *ret) {
        const Nvml *n = s->data;

        if (!n || !n->initialized)
                return 0;

        for (size_t i = 0; i < s->n_zones; i++) {
                EnergyZone *z = s->zones[i];
                NvmlZone *d = z->data;
                unsigned long long mj;
                unsigned mw;
                nvmlReturn_t rc;

                if (!z->available || !d)
                        continue;

                if (z->kind == ENERGY_ZONE_COUNTER) {
                        rc = n->get_energy(d->handle, &mj);
                        if (rc == NVML_SUCCESS && mj <= UINT64_MAX / 1000) {
                                ret[i] = (EnergyReading){.value = (uint64_t) mj * 1000};
                                continue;
                        }
                        if (rc == NVML_SUCCESS) {
                                snprintf(d->reason, sizeof(d->reason),
                                         "energy counter out of range: %llu mJ", mj);
                                ret[i] = (EnergyReading){.error = -ERANGE, .reason = d->reason};
                                continue;
                        }
                        snprintf(d->reason, sizeof(d->reason), "nvmlDeviceGetTotalEnergyConsumption: %s",
                                 nvml_strerror(n, rc));
                } else {
                        rc = n->get_power(d->handle, &mw);
                        if (rc == NVML_SUCCESS) {
                                ret[i] = (EnergyReading){.value = (uint64_t) mw * 1000};
                                continue;
                        }
                        snprintf(d->reason, sizeof(d->reason), "nvmlDeviceGetPowerUsage: %s",
                                 nvml_strerror(n, rc));
                }
                ret[i] = (EnergyReading){.error = nvml_errno(rc), .reason = d->reason};
        }
        return 0;
}

static int nvml_processes(EnergySource *s, size_t zone, EnergyProcess **ret) {
        const Nvml *n = s->data;
        _cleanup_free_ NvmlProcessInfo *infos = NULL;
        _cleanup_free_ EnergyProcess *list = NULL;
        const NvmlZone *d = s->zones[zone]->data;
        unsigned size = 16, count = 0;
        nvmlReturn_t rc = NVML_ERROR_INSUFFICIENT_SIZE;

        if (!n || !n->initialized || !n->get_processes || !d)
                return -EOPNOTSUPP;

        /* The list may grow between the calls: retry a few times with what NVML says it needs. */
        for (unsigned attempt = 0; attempt < 4 && rc == NVML_ERROR_INSUFFICIENT_SIZE; attempt++) {
                free(infos);
                infos = calloc(size, sizeof(NvmlProcessInfo));
                if (!infos)
                        return -ENOMEM;
                count = size;
                rc = n->get_processes(d->handle, &count, infos);
                if (rc == NVML_ERROR_INSUFFICIENT_SIZE)
                        size = MAX(count, size) + 8;
        }
        if (rc != NVML_SUCCESS)
                return log_debug_errno(nvml_errno(rc), "NVML: processes of %s: %s", s->zones[zone]->id,
                                       nvml_strerror(n, rc));

        count = MIN(count, size);
        if (count > 0) {
                list = calloc(count, sizeof(EnergyProcess));
                if (!list)
                        return -ENOMEM;
        }
        for (unsigned i = 0; i < count; i++) {
                list[i].pid = infos[i].pid;
                list[i].used_memory_bytes = infos[i].usedGpuMemory;
                energy_process_read_comm(&list[i]);
        }

        *ret = TAKE_PTR(list);
        return (int) count;
}

static void nvml_free(EnergySource *s) {
        Nvml *n = s->data;

        if (!n)
                return;
        if (n->initialized && n->shutdown)
                (void) n->shutdown();
        if (n->dl)
                (void) dlclose(n->dl);
        free(n);
        s->data = NULL;
}

const EnergySourceOps energy_nvml_ops = {
        .name = NVML_SOURCE,
        .probe = nvml_probe,
        .read = nvml_read,
        .free = nvml_free,
        .processes = nvml_processes,
};
