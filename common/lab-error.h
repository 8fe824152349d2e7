/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The one table of llmlab's error conditions. The daemon's core reports user-facing errors as a
 * LabError (code + message); the bus layer turns the code into the D-Bus error name
 * org.llmlab.Lab1.Error.<Name>, and llmlabctl maps names back to hints. Each code also has an
 * errno equivalent, used as the negative return value of the function that set it. */

#include <stdarg.h>

#include "macro.h"

#define LAB_ERROR_PREFIX "org.llmlab.Lab1.Error."

typedef enum LabErrorCode {
        LAB_ERROR_INVALID_ARGUMENT,
        LAB_ERROR_NO_SUCH_MODEL,
        LAB_ERROR_NO_SUCH_PROMPT,
        LAB_ERROR_NO_SUCH_BENCHMARK,
        LAB_ERROR_NO_SUCH_RUN,
        LAB_ERROR_BACKEND_UNAVAILABLE,
        LAB_ERROR_BACKEND_ERROR,
        LAB_ERROR_ENERGY_UNAVAILABLE,
        LAB_ERROR_QUEUE_FULL,
        LAB_ERROR_TOO_MANY_RUNS,
        LAB_ERROR_NOT_OWNER,
        LAB_ERROR_CANCELLED,
        LAB_ERROR_PERMISSION_DENIED,
        LAB_ERROR_FAILED,
        _LAB_ERROR_MAX,
        _LAB_ERROR_INVALID = -EINVAL,
} LabErrorCode;

typedef struct LabError {
        LabErrorCode code; /* _LAB_ERROR_INVALID when unset */
        char *message;
} LabError;

#define LAB_ERROR_INIT ((LabError){.code = _LAB_ERROR_INVALID, .message = NULL})

/* Short name, e.g. "NoSuchModel". */
const char *lab_error_code_to_string(LabErrorCode code) _const_;
LabErrorCode lab_error_code_from_string(const char *s) _pure_;
/* Full D-Bus name, e.g. "org.llmlab.Lab1.Error.NoSuchModel". */
const char *lab_error_code_to_bus_name(LabErrorCode code) _const_;
LabErrorCode lab_error_code_from_bus_name(const char *name) _pure_;
int lab_error_code_to_errno(LabErrorCode code) _const_;

/* Sets @e (if non-NULL and not yet set) and returns the negative errno equivalent of @code. The
 * first error set wins, so callers deep in a call chain keep the most specific message. */
int lab_error_set(LabError *e, LabErrorCode code, const char *format, ...) _printf_(3, 4);
int lab_error_setv(LabError *e, LabErrorCode code, const char *format, va_list ap) _printf_(3, 0);
/* Copies @src into @dst (if @dst is unset); returns the errno equivalent. */
int lab_error_copy(LabError *dst, const LabError *src);

static inline bool lab_error_is_set(const LabError *e) {
        return e && e->code >= 0 && e->code < _LAB_ERROR_MAX;
}

void lab_error_clear(LabError *e);
#define _cleanup_lab_error_ _cleanup_(lab_error_clear)
