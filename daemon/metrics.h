/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Pure formulas and statistics behind every number llmlab reports: unit conversions, per-run
 * timing, batch statistics, the calibration fit and the crossover search. No I/O; nothing here
 * allocates except sample_stats_compute() (a sorted copy) and the *_to_json() helpers.
 *
 * "Not applicable" is NaN (for example Wh per 1000 tokens of a run without output tokens); the
 * JSON helpers leave NaN members out. Every definition, with units and edge cases, is in
 * docs/metrics.md. */

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- unit helpers ---------------------------------------------------------------------------- */

/* µJ → Wh (1 Wh = 3.6e9 µJ). */
double wh_from_uj(double uj);
/* Wh × 1000 ÷ tokens; NaN when tokens == 0 ("no output tokens"), never a division by zero. */
double wh_per_1000_tokens(double wh, uint64_t tokens);
/* Wh × 3600 ÷ tokens (J per token); NaN when tokens == 0. */
double joules_per_token(double wh, uint64_t tokens);
/* g CO2e = Wh ÷ 1000 × g/kWh. A factor of 0 gives 0 g: 0 means 0, never "unknown". */
double co2_grams(double wh, double g_per_kwh);
/* in ÷ 1000 × a + out ÷ 1000 × b, with a, b in Wh per 1000 input / output tokens. */
double estimate_wh(double wh_per_1000_in, double wh_per_1000_out, uint64_t in_tokens, uint64_t out_tokens);
/* gross − idle power × seconds ÷ 3600. Deliberately NOT clamped at 0: a run within the noise of the
 * baseline can come out slightly negative, and clamping would bias every mean over such runs
 * upwards. Callers display what they like; the stored number stays unbiased. */
double net_wh(double gross_wh, double idle_w, double seconds);

/* ---- per-run timing ---------------------------------------------------------------------------- */

typedef struct RunTiming {
        double ttft_ms;      /* time to first token (copied) */
        double tpot_ms;      /* time per output token after the first */
        double e2e_ms;       /* end-to-end latency (copied) */
        double tokens_per_s; /* output tokens ÷ decode seconds */
} RunTiming;

/* tpot = decode_ms ÷ (output_tokens − 1): the first token is excluded (it is timed by TTFT); NaN with
 * fewer than 2 tokens or when decode_ms ≤ 0 or not finite. tokens_per_s = output_tokens ÷ (decode_ms
 * ÷ 1000); NaN when decode_ms ≤ 0 or not finite. */
void run_timing_compute(uint64_t output_tokens, double ttft_ms, double decode_ms, double e2e_ms,
                        RunTiming *ret);
json_t *run_timing_to_json(const RunTiming *t);

/* ---- sample statistics ------------------------------------------------------------------------- */

typedef struct SampleStats {
        size_t n;
        double mean, median;
        double std; /* sample standard deviation (n − 1) */
        double cv;  /* std ÷ mean, a ratio (not percent) */
        double ci95_low, ci95_high;
        double p5, p95;
        double min, max;
} SampleStats;

/* -EINVAL for n == 0 or a non-finite value, -ENOMEM. With n == 1, std, cv and the CI are NaN. cv is
 * NaN when mean == 0. 95 % CI = mean ± t(0.975, n − 1) × std ÷ √n. Median, p5 and p95 by linear
 * interpolation at rank (n − 1) × p of the sorted values. @values is not modified. */
int sample_stats_compute(const double *values, size_t n, SampleStats *ret);
/* The members above (n as an integer); NaN members are left out. NULL on OOM. */
json_t *sample_stats_to_json(const SampleStats *s);

/* Two-sided 95 % critical value of Student's t with @df degrees of freedom, t(0.975, df). Exact
 * (9 decimals) for df ≤ 30, a Cornish–Fisher expansion beyond (error < 5e-8); df == 0 → NaN;
 * STUDENT_T_DF_INFINITY → the normal quantile 1.959963985. */
#define STUDENT_T_DF_INFINITY UINT_MAX
double student_t_975(unsigned df);

/* Linear interpolation at rank (n − 1) × p of @sorted (ascending, n ≥ 1); p is clamped to [0, 1].
 * NaN when n == 0. */
double percentile_linear(const double *sorted, size_t n, double p);

/* ---- least squares: energy_wh ≈ a × in_tokens + b × out_tokens (+ c) --------------------------- */

typedef struct EnergyFit {
        double a_wh_per_token_in;
        double b_wh_per_token_out;
        double c_wh; /* intercept; 0 without one */
        double r2; /* 1 − SSres ÷ SStot with SStot = Σ (y − ȳ)² for both models; NaN if SStot == 0 */
        size_t n;
        bool intercept;
} EnergyFit;

/* -EINVAL for a non-finite value, -EDOM when the design is singular (for example all prompts of the
 * same length with an intercept, or input proportional to output) or n is smaller than the number of
 * parameters. Coefficients are reported as fitted, negative ones included. The intercept model is
 * solved on centred data; see docs/metrics.md. */
int energy_fit_compute(const double *in_tokens, const double *out_tokens, const double *energy_wh, size_t n,
                       bool intercept, EnergyFit *ret);
/* wh_per_1000_input_tokens, wh_per_1000_output_tokens, intercept_wh, r2, n, intercept. */
json_t *energy_fit_to_json(const EnergyFit *f);

/* ---- prefill/decode crossover ------------------------------------------------------------------ */

typedef struct CrossoverStep {
        double input_tokens, prefill_wh, decode_wh;
} CrossoverStep;

/* Returns 1 and the first index i with prefill > decode, and the input-token count where
 * (prefill − decode) crosses 0, interpolated linearly between steps i − 1 and i
 * (steps[0].input_tokens if the first step already crossed); 0 when it never crossed (outputs
 * untouched); -EINVAL for a non-finite value. Both outputs may be NULL. */
int crossover_find(const CrossoverStep *steps, size_t n, size_t *ret_index, double *ret_input_tokens);
