/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "lab-error.h"

static const struct {
        const char *name;
        const char *bus_name;
        int error;
} table[_LAB_ERROR_MAX] = {
#define E(code, n, err) [code] = {n, LAB_ERROR_PREFIX n, err}
        E(LAB_ERROR_INVALID_ARGUMENT, "InvalidArgument", EINVAL),
        E(LAB_ERROR_NO_SUCH_MODEL, "NoSuchModel", ENOENT),
        E(LAB_ERROR_NO_SUCH_PROMPT, "NoSuchPrompt", ENOENT),
        E(LAB_ERROR_NO_SUCH_BENCHMARK, "NoSuchBenchmark", ENOENT),
        E(LAB_ERROR_NO_SUCH_RUN, "NoSuchRun", ENXIO),
        E(LAB_ERROR_BACKEND_UNAVAILABLE, "BackendUnavailable", EHOSTDOWN),
        E(LAB_ERROR_BACKEND_ERROR, "BackendError", EPROTO),
        E(LAB_ERROR_ENERGY_UNAVAILABLE, "EnergyUnavailable", ENODEV),
        E(LAB_ERROR_QUEUE_FULL, "QueueFull", EBUSY),
        E(LAB_ERROR_TOO_MANY_RUNS, "TooManyRuns", EUSERS),
        E(LAB_ERROR_NOT_OWNER, "NotOwner", EPERM),
        E(LAB_ERROR_CANCELLED, "Cancelled", ECANCELED),
        E(LAB_ERROR_PERMISSION_DENIED, "PermissionDenied", EACCES),
        E(LAB_ERROR_FAILED, "Failed", EIO),
#undef E
};

static bool code_valid(LabErrorCode code) {
        return code >= 0 && code < _LAB_ERROR_MAX;
}

const char *lab_error_code_to_string(LabErrorCode code) {
        return code_valid(code) ? table[code].name : NULL;
}

LabErrorCode lab_error_code_from_string(const char *s) {
        if (!s)
                return _LAB_ERROR_INVALID;
        for (int i = 0; i < _LAB_ERROR_MAX; i++)
                if (streq(table[i].name, s))
                        return (LabErrorCode) i;
        return _LAB_ERROR_INVALID;
}

const char *lab_error_code_to_bus_name(LabErrorCode code) {
        return code_valid(code) ? table[code].bus_name : NULL;
}

LabErrorCode lab_error_code_from_bus_name(const char *name) {
        if (!name || !startswith(name, LAB_ERROR_PREFIX))
                return _LAB_ERROR_INVALID;
        return lab_error_code_from_string(name + strlen(LAB_ERROR_PREFIX));
}

int lab_error_code_to_errno(LabErrorCode code) {
        return code_valid(code) ? table[code].error : EIO;
}

int lab_error_setv(LabError *e, LabErrorCode code, const char *format, va_list ap) {
        if (!code_valid(code))
                code = LAB_ERROR_FAILED;
        if (e && !lab_error_is_set(e)) {
                char *msg = NULL;

                if (vasprintf(&msg, format, ap) < 0)
                        msg = NULL;
                e->code = code;
                e->message = msg;
        }
        return -table[code].error;
}

int lab_error_set(LabError *e, LabErrorCode code, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = lab_error_setv(e, code, format, ap);
        va_end(ap);
        return r;
}

int lab_error_copy(LabError *dst, const LabError *src) {
        if (!lab_error_is_set(src))
                return lab_error_set(dst, LAB_ERROR_FAILED, "Unknown error");
        return lab_error_set(dst, src->code, "%s", strempty(src->message));
}

void lab_error_clear(LabError *e) {
        if (!e)
                return;
        free(e->message);
        *e = LAB_ERROR_INIT;
}
