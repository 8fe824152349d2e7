/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Parsing of option values for llmlabctl. Pure: no I/O, no logging; errors are negative errno
 * values (-EINVAL for syntax, -ERANGE for values out of range). */

#include <stdbool.h>
#include <stdint.h>

/* A finite real in [min, max]. */
int parse_double_range(const char *s, double min, double max, double *ret);
/* A decimal integer in [min, max]. */
int parse_int64_range(const char *s, int64_t min, int64_t max, int64_t *ret);

/* --since: "-7d", "-12h", "-30m", "-45s", "-2w" relative to @now_usec, or a local date
 * "YYYY-MM-DD" or date and time "YYYY-MM-DD HH:MM[:SS]" (also with a 'T'), or "@SECONDS" since
 * the epoch. Returns µs since the epoch. */
int parse_since(const char *s, uint64_t now_usec, uint64_t *ret_usec);

/* --inject DESC=TEXT or DESC=@FILE: splits at the first '='. DESC must not be empty.
 * *ret_is_file tells whether the value names a file (the '@' is removed). Returned strings are
 * newly allocated. */
int parse_injection(const char *s, char **ret_description, char **ret_value, bool *ret_is_file);
