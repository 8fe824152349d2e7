/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>

#include "run.h"

/* @breakdown is borrowed. Called exactly once, possibly before run_breakdown_start() returns. */
typedef void (*breakdown_cb)(Run *r, json_t *breakdown, void *userdata);

/* Computes the token breakdown of a finished run (see breakdown.c). -ENODATA when the run has no
 * prompt count from the server (then @cb is not called). */
int run_breakdown_start(Run *r, breakdown_cb cb, void *userdata);
