/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "lab-error.h"

/* Registers the org.llmlab.Lab1.Error.* ↔ errno map with sd-bus (idempotent). */
int bus_errors_register(void);

/* Fills @ret from @e and returns the negative errno equivalent. */
int bus_error_set_lab(sd_bus_error *ret, const LabError *e);

/* Sets @ret to the named llmlab error with a formatted message; returns the negative errno. */
int bus_error_setf_lab(sd_bus_error *ret, LabErrorCode code, const char *format, ...) _printf_(3, 4);
