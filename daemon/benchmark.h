/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Benchmarks: energy coefficients for estimates, a = Wh per 1000 input tokens and b = Wh per 1000
 * output tokens, so that estimate = in ÷ 1000 × a + out ÷ 1000 × b (+ intercept_wh of a calibrated
 * one). Built-in benchmarks come from the JSON files in data/benchmarks/ (converted from published figures,
 * see docs/metrics.md); custom ones are added by admins; calibration fits a and b from measured runs.
 *
 * The registry keeps them by id, in insertion order. Built-ins can be neither replaced nor
 * removed. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lab-error.h"
#include "macro.h"

#include <glib.h> /* after macro.h, whose CLAMP() glib's replaces */

/* The benchmark used for estimates when neither the request nor [Energy] DefaultBenchmark= names
 * one: AI Energy Score's Llama 3.1 8B, a measured figure for a model of the size people run locally
 * (see docs/metrics.md, "Default benchmark"). */
#define BENCHMARK_DEFAULT_ID "aes:meta-llama-3.1-8b"

#define BENCHMARK_ID_MAX       128
#define BENCHMARK_REGISTRY_MAX 4096

typedef struct Benchmark {
        char *id;          /* letters, digits and ._:- , 1…128 characters, no leading '.' */
        char *name;        /* display name (the published model name for built-ins); never NULL */
        char *source;      /* or NULL */
        char *description; /* or NULL */
        char *hardware;    /* or NULL */
        char *url;         /* or NULL */
        double wh_per_1000_input_tokens;  /* a, ≥ 0 */
        double wh_per_1000_output_tokens; /* b, ≥ 0 */
        bool builtin;

        /* calibration (fitted from measured runs) */
        bool calibrated;
        double r2;           /* NaN when unknown */
        double intercept_wh; /* per-request constant of the fit; 0 otherwise */
        unsigned n;          /* runs in the fit */
} Benchmark;

/* A custom benchmark with name = id. -EINVAL for an invalid id or a coefficient that is negative or
 * not finite, -ENOMEM. */
int benchmark_new(const char *id, double wh_per_1000_in, double wh_per_1000_out, Benchmark **ret);
Benchmark *benchmark_free(Benchmark *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Benchmark *, benchmark_free);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Benchmark, benchmark_free)

bool benchmark_id_is_valid(const char *id) _pure_;
/* A valid id made from @s: every other character becomes '-', leading '.' are dropped, at most 128
 * characters. NULL when nothing is left (or on OOM). Free with free(). */
char *benchmark_id_sanitize(const char *s);

/* Wh for @in input and @out output tokens: in ÷ 1000 × a + out ÷ 1000 × b + intercept_wh. */
double benchmark_estimate_wh(const Benchmark *b, uint64_t in, uint64_t out) _pure_;

/* {id, name, source?, description?, hardware?, url?, wh_per_1000_input_tokens,
 * wh_per_1000_output_tokens, builtin, calibrated, and when calibrated r2?, intercept_wh, n};
 * NULL on OOM. */
json_t *benchmark_to_json(const Benchmark *b);
/* Strict: the keys above (builtin only as false), id and both coefficients required; an unknown key,
 * a wrong type or an invalid value gives -EINVAL and a LabError (InvalidArgument) naming the key. */
int benchmark_from_json(json_t *o, Benchmark **ret, LabError *err);

typedef struct BenchmarkRegistry BenchmarkRegistry;

BenchmarkRegistry *benchmark_registry_new(void);
BenchmarkRegistry *benchmark_registry_free(BenchmarkRegistry *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(BenchmarkRegistry *, benchmark_registry_free);

/* Loads every *.json in @dir (sorted by name) as built-in benchmarks; errors are logged. Returns the
 * number of benchmarks added, or the first error (a failing file adds nothing). */
int benchmark_registry_load_builtin_dir(BenchmarkRegistry *r, const char *dir);
/* Loads one built-in benchmark file (format in docs/metrics.md); all of it or nothing. Returns the
 * number added. Errors name the file, and the line and column of JSON syntax errors. */
int benchmark_registry_load_builtin_file(BenchmarkRegistry *r, const char *path, LabError *err);

/* Always takes ownership of @take (it is freed on failure). An existing id is an error unless
 * @replace; built-in ids can never be replaced (InvalidArgument), nor can more than
 * BENCHMARK_REGISTRY_MAX benchmarks be held. A replaced benchmark keeps its position. */
int benchmark_registry_add(BenchmarkRegistry *r, Benchmark *take, bool replace, LabError *err);
/* NoSuchBenchmark when unknown, InvalidArgument for a built-in. */
int benchmark_registry_remove(BenchmarkRegistry *r, const char *id, LabError *err);
/* NULL when unknown or @id is NULL. */
const Benchmark *benchmark_registry_get(const BenchmarkRegistry *r, const char *id);

size_t benchmark_registry_size(const BenchmarkRegistry *r);
/* In insertion order (built-ins first, as loaded). */
const Benchmark *benchmark_registry_nth(const BenchmarkRegistry *r, size_t i);

/* Array of benchmark_to_json() objects, each with "default": (id == @default_id); NULL on OOM. */
json_t *benchmark_registry_to_json(const BenchmarkRegistry *r, const char *default_id);
