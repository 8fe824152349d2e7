/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>

#include "bus-errors.h"

static const sd_bus_error_map lab_bus_error_map[] = {
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "InvalidArgument", EINVAL),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "NoSuchModel", ENOENT),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "NoSuchPrompt", ENOENT),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "NoSuchBenchmark", ENOENT),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "NoSuchRun", ENXIO),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "BackendUnavailable", EHOSTDOWN),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "BackendError", EPROTO),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "EnergyUnavailable", ENODEV),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "QueueFull", EBUSY),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "TooManyRuns", EUSERS),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "NotOwner", EPERM),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "Cancelled", ECANCELED),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "PermissionDenied", EACCES),
        SD_BUS_ERROR_MAP(LAB_ERROR_PREFIX "Failed", EIO),
        SD_BUS_ERROR_MAP_END,
};

int bus_errors_register(void) {
        static bool done = false;
        int r;

        if (done)
                return 0;
        r = sd_bus_error_add_map(lab_bus_error_map);
        if (r < 0)
                return r;
        done = true;
        return 0;
}

int bus_error_set_lab(sd_bus_error *ret, const LabError *e) {
        if (!lab_error_is_set(e))
                return sd_bus_error_set(ret, LAB_ERROR_PREFIX "Failed", "Unknown error");
        return sd_bus_error_set(ret, lab_error_code_to_bus_name(e->code), strempty(e->message));
}

int bus_error_setf_lab(sd_bus_error *ret, LabErrorCode code, const char *format, ...) {
        _cleanup_lab_error_ LabError e = LAB_ERROR_INIT;
        va_list ap;

        va_start(ap, format);
        (void) lab_error_setv(&e, code, format, ap);
        va_end(ap);
        return bus_error_set_lab(ret, &e);
}
