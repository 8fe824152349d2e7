/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Parsing of option values for llmlabctl. Pure: no I/O, no logging; errors are negative errno
 * values (-EINVAL for syntax, -ERANGE for values out of range). */

#include <stdbool.h>
#include <stddef.h>
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

/* One pane of `llmlabctl compare`. Strings are allocated; unset values are NULL, NAN or -1. */
typedef struct PaneSpec {
        char *model;
        char *alias;
        char *backend;
        char *system_prompt;
        char *preset;
        double temperature;
        int64_t max_tokens;
        int64_t seed;
        bool seed_set;
} PaneSpec;

void pane_spec_init(PaneSpec *p);
void pane_spec_done(PaneSpec *p);

/* -m MODEL[@ALIAS][:TEMP]. The text after the last ':' is a temperature when it is a decimal number
 * (then in [0, 2], else -ERANGE), so "qwen3:0.6b" is a model with its tag and "qwen3:0.6b:0.7" the
 * same model at temperature 0.7; the alias is what follows the last '@'. Empty parts are -EINVAL. */
int parse_pane_compact(const char *s, PaneSpec *ret);

/* --pane KEY=VALUE[,KEY=VALUE…] with the keys model (required), alias, backend, temperature (or t),
 * max-tokens (or n), seed, system and preset. A ',' separates pairs only when a known key and '='
 * follow it, so that a system prompt or an alias may contain commas (model, backend and preset
 * values may not: there a ',' is a mistyped key). On error *ret_bad (when
 * @ret_bad is not NULL) points at the offending pair in @s, its length in *ret_bad_len, or is
 * NULL when the model is missing. */
int parse_pane_pairs(const char *s, PaneSpec *ret, const char **ret_bad, size_t *ret_bad_len);
