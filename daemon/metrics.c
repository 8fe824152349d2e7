/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "json-util.h"
#include "macro.h"
#include "metrics.h"

#define UJ_PER_WH 3.6e9

/* ---- unit helpers ---------------------------------------------------------------------------- */

double wh_from_uj(double uj) {
        return uj / UJ_PER_WH;
}

double wh_per_1000_tokens(double wh, uint64_t tokens) {
        if (tokens == 0)
                return NAN;
        return wh * 1000.0 / (double) tokens;
}

double joules_per_token(double wh, uint64_t tokens) {
        if (tokens == 0)
                return NAN;
        return wh * 3600.0 / (double) tokens;
}

double co2_grams(double wh, double g_per_kwh) {
        return wh / 1000.0 * g_per_kwh;
}

double estimate_wh(double wh_per_1000_in, double wh_per_1000_out, uint64_t in_tokens, uint64_t out_tokens) {
        return (double) in_tokens / 1000.0 * wh_per_1000_in + (double) out_tokens / 1000.0 * wh_per_1000_out;
}

double net_wh(double gross_wh, double idle_w, double seconds) {
        return gross_wh - idle_w * seconds / 3600.0;
}

/* ---- per-run timing ---------------------------------------------------------------------------- */

void run_timing_compute(uint64_t output_tokens, double ttft_ms, double decode_ms, double e2e_ms,
                        RunTiming *ret) {
        bool have_decode = isfinite(decode_ms) && decode_ms > 0;

        *ret = (RunTiming){
                .ttft_ms = ttft_ms,
                .e2e_ms = e2e_ms,
                .tpot_ms =
                        have_decode && output_tokens >= 2 ? decode_ms / (double) (output_tokens - 1) : NAN,
                .tokens_per_s = have_decode ? (double) output_tokens / (decode_ms / 1000.0) : NAN,
        };
}

json_t *run_timing_to_json(const RunTiming *t) {
        json_t *o = json_object();

        if (!o)
                return NULL;
        json_set_real(o, "ttft_ms", t->ttft_ms);
        json_set_real(o, "tpot_ms", t->tpot_ms);
        json_set_real(o, "e2e_ms", t->e2e_ms);
        json_set_real(o, "tokens_per_s", t->tokens_per_s);
        return o;
}

/* ---- sample statistics ------------------------------------------------------------------------- */

/* t(0.975, df) for df = 1…30, to 9 decimals (the regularised incomplete beta function inverted by
 * bisection; they agree with R's qt(0.975, df)). Index 0 is unused. */
static const double t975_table[] = {
        NAN,         12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851,
        2.364624252, 2.306004135,  2.262157163, 2.228138852, 2.200985160, 2.178812830, 2.160368656,
        2.144786688, 2.131449546,  2.119905299, 2.109815578, 2.100922040, 2.093024054, 2.085963447,
        2.079613845, 2.073873068,  2.068657610, 2.063898562, 2.059538553, 2.055529439, 2.051830516,
        2.048407142, 2.045229642,  2.042272456,
};

#define Z975 1.959963984540054

double student_t_975(unsigned df) {
        double z = Z975, z2 = z * z, v, g1, g2, g3, g4;

        if (df < ELEMENTSOF(t975_table))
                return t975_table[df];
        if (df == STUDENT_T_DF_INFINITY)
                return Z975;

        /* Cornish–Fisher expansion of the t quantile in powers of 1/df (Abramowitz & Stegun
         * 26.7.5); at df = 31 the error is 3e-8 and it shrinks as 1/df⁵. */
        v = (double) df;
        g1 = z * (z2 + 1) / 4;
        g2 = z * ((5 * z2 + 16) * z2 + 3) / 96;
        g3 = z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384;
        g4 = z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / 92160;
        return z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v);
}

double percentile_linear(const double *sorted, size_t n, double p) {
        double rank, frac;
        size_t lo, hi;

        if (n == 0 || isnan(p))
                return NAN;
        p = CLAMP(p, 0.0, 1.0);
        rank = (double) (n - 1) * p;
        lo = (size_t) floor(rank);
        hi = MIN(lo + 1, n - 1);
        frac = rank - (double) lo;
        if (frac == 0)
                return sorted[lo];
        return sorted[lo] + frac * (sorted[hi] - sorted[lo]);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

int sample_stats_compute(const double *values, size_t n, SampleStats *ret) {
        _cleanup_free_ double *sorted = NULL;
        double sum = 0, mean, ss = 0, std, half;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!isfinite(values[i]))
                        return -EINVAL;
        if (n > SIZE_MAX / sizeof(double))
                return -ENOMEM;

        sorted = malloc(n * sizeof(double));
        if (!sorted)
                return -ENOMEM;
        memcpy(sorted, values, n * sizeof(double));
        qsort(sorted, n, sizeof(double), cmp_double);

        /* Two passes: the mean, then squared deviations from it (no catastrophic cancellation). */
        for (size_t i = 0; i < n; i++)
                sum += sorted[i];
        mean = sum / (double) n;
        for (size_t i = 0; i < n; i++)
                ss += (sorted[i] - mean) * (sorted[i] - mean);

        std = n >= 2 ? sqrt(ss / (double) (n - 1)) : NAN;
        half = n >= 2 ? student_t_975((unsigned) MIN(n - 1, (size_t) UINT_MAX - 1)) * std / sqrt((double) n)
                      : NAN;

        *ret = (SampleStats){
                .n = n,
                .mean = mean,
                .median = percentile_linear(sorted, n, 0.5),
                .std = std,
                .cv = mean != 0 ? std / mean : NAN,
                .ci95_low = mean - half,
                .ci95_high = mean + half,
                .p5 = percentile_linear(sorted, n, 0.05),
                .p95 = percentile_linear(sorted, n, 0.95),
                .min = sorted[0],
                .max = sorted[n - 1],
        };
        return 0;
}

json_t *sample_stats_to_json(const SampleStats *s) {
        json_t *o = json_object();

        if (!o)
                return NULL;
        json_set_int(o, "n", (int64_t) s->n);
        json_set_real(o, "mean", s->mean);
        json_set_real(o, "median", s->median);
        json_set_real(o, "std", s->std);
        json_set_real(o, "cv", s->cv);
        json_set_real(o, "ci95_low", s->ci95_low);
        json_set_real(o, "ci95_high", s->ci95_high);
        json_set_real(o, "p5", s->p5);
        json_set_real(o, "p95", s->p95);
        json_set_real(o, "min", s->min);
        json_set_real(o, "max", s->max);
        return o;
}

/* ---- least squares ----------------------------------------------------------------------------- */

/* 1 − r² below which two columns count as collinear: r² = 1 − 1e-12 means the columns agree to
 * about 6 significant digits, far beyond what token counts and energies can resolve. */
#define COLLINEAR_EPS 1e-12

static bool all_finite(const double *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!isfinite(v[i]))
                        return false;
        return true;
}

static double mean_of(const double *v, size_t n) {
        double s = 0;

        for (size_t i = 0; i < n; i++)
                s += v[i];
        return s / (double) n;
}

int energy_fit_compute(const double *in_tokens, const double *out_tokens, const double *energy_wh, size_t n,
                       bool intercept, EnergyFit *ret) {
        double m1 = 0, m2 = 0, my, s11 = 0, s12 = 0, s22 = 0, s1y = 0, s2y = 0, det, a, b, c, ssres = 0,
               sstot = 0;

        if (!all_finite(in_tokens, n) || !all_finite(out_tokens, n) || !all_finite(energy_wh, n))
                return -EINVAL;
        if (n < (intercept ? 3u : 2u))
                return -EDOM;

        /* With an intercept, centring the columns removes it from the normal equations (and with it
         * most of their ill-conditioning); c follows from the means. Without one, the raw columns are
         * used. Either way a 2 × 2 system remains, solved by Cramer's rule after a collinearity test
         * that is independent of the columns' scale. */
        my = mean_of(energy_wh, n);
        if (intercept) {
                m1 = mean_of(in_tokens, n);
                m2 = mean_of(out_tokens, n);
        }
        for (size_t i = 0; i < n; i++) {
                double x1 = in_tokens[i] - m1, x2 = out_tokens[i] - m2,
                       y = energy_wh[i] - (intercept ? my : 0);

                s11 += x1 * x1;
                s12 += x1 * x2;
                s22 += x2 * x2;
                s1y += x1 * y;
                s2y += x2 * y;
        }
        if (s11 <= 0 || s22 <= 0)
                return -EDOM;
        det = s11 * s22 - s12 * s12;
        if (det <= COLLINEAR_EPS * s11 * s22)
                return -EDOM;

        a = (s1y * s22 - s2y * s12) / det;
        b = (s2y * s11 - s1y * s12) / det;
        c = intercept ? my - a * m1 - b * m2 : 0;

        for (size_t i = 0; i < n; i++) {
                double r = energy_wh[i] - (a * in_tokens[i] + b * out_tokens[i] + c);

                ssres += r * r;
                sstot += (energy_wh[i] - my) * (energy_wh[i] - my);
        }

        *ret = (EnergyFit){
                .a_wh_per_token_in = a,
                .b_wh_per_token_out = b,
                .c_wh = c,
                .r2 = sstot > 0 ? 1 - ssres / sstot : NAN,
                .n = n,
                .intercept = intercept,
        };
        return 0;
}

json_t *energy_fit_to_json(const EnergyFit *f) {
        json_t *o = json_object();

        if (!o)
                return NULL;
        json_set_real(o, "wh_per_1000_input_tokens", f->a_wh_per_token_in * 1000);
        json_set_real(o, "wh_per_1000_output_tokens", f->b_wh_per_token_out * 1000);
        json_set_real(o, "intercept_wh", f->c_wh);
        json_set_real(o, "r2", f->r2);
        json_set_int(o, "n", (int64_t) f->n);
        json_object_set_new(o, "intercept", json_boolean(f->intercept));
        return o;
}

/* ---- crossover --------------------------------------------------------------------------------- */

int crossover_find(const CrossoverStep *steps, size_t n, size_t *ret_index, double *ret_input_tokens) {
        for (size_t i = 0; i < n; i++)
                if (!isfinite(steps[i].input_tokens) || !isfinite(steps[i].prefill_wh) ||
                    !isfinite(steps[i].decode_wh))
                        return -EINVAL;

        for (size_t i = 0; i < n; i++) {
                double d0, d1, x;

                if (!(steps[i].prefill_wh > steps[i].decode_wh))
                        continue;

                if (i == 0)
                        x = steps[0].input_tokens;
                else {
                        /* d0 ≤ 0 < d1: the zero of the line through (x0, d0) and (x1, d1). */
                        d0 = steps[i - 1].prefill_wh - steps[i - 1].decode_wh;
                        d1 = steps[i].prefill_wh - steps[i].decode_wh;
                        x = steps[i - 1].input_tokens +
                            (steps[i].input_tokens - steps[i - 1].input_tokens) * (-d0 / (d1 - d0));
                }
                if (ret_index)
                        *ret_index = i;
                if (ret_input_tokens)
                        *ret_input_tokens = x;
                return 1;
        }
        return 0;
}
