/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "json-util.h"
#include "metrics.h"

#include <glib.h>

/* Relative comparison for values computed along different (but exact in real arithmetic) paths. */
#define assert_close(a, b, rel) g_assert_cmpfloat_with_epsilon((a), (b), (rel) *MAX(fabs(b), 1e-300))

/* ---- unit helpers ---------------------------------------------------------------------------- */

static void test_wh_from_uj(void) {
        g_assert_cmpfloat(wh_from_uj(3.6e9), ==, 1.0);
        g_assert_cmpfloat(wh_from_uj(0), ==, 0.0);
        g_assert_cmpfloat(wh_from_uj(1.8e9), ==, 0.5);
        assert_close(wh_from_uj(123456789.0), 0.034293552500000, 1e-15);
}

static void test_wh_per_1000_tokens(void) {
        g_assert_cmpfloat(wh_per_1000_tokens(0.5, 250), ==, 2.0);
        g_assert_cmpfloat(wh_per_1000_tokens(0.0, 10), ==, 0.0);
        g_assert_true(isnan(wh_per_1000_tokens(0.5, 0)));
        g_assert_true(isnan(wh_per_1000_tokens(0.0, 0)));
        g_assert_cmpfloat(joules_per_token(1.0, 3600), ==, 1.0);
        g_assert_true(isnan(joules_per_token(1.0, 0)));
}

static void test_co2_grams(void) {
        g_assert_cmpfloat(co2_grams(1000.0, 445.0), ==, 445.0);
        g_assert_cmpfloat(co2_grams(2.0, 500.0), ==, 1.0);
        assert_close(co2_grams(2.0, 445.0), 0.89, 1e-15);
        /* A zero grid factor is a real 0 g, not "unknown" (the original showed 445 g instead). */
        g_assert_cmpfloat(co2_grams(2.0, 0.0), ==, 0.0);
        g_assert_false(signbit(co2_grams(2.0, 0.0)));
        g_assert_cmpfloat(co2_grams(0.0, 445.0), ==, 0.0);
}

static void test_estimate_wh(void) {
        g_assert_cmpfloat(estimate_wh(0.1, 2.0, 500, 250), ==, 0.55);
        g_assert_cmpfloat(estimate_wh(0.1, 2.0, 0, 0), ==, 0.0);
        g_assert_cmpfloat(estimate_wh(0.1, 2.0, 1000, 0), ==, 0.1);
        g_assert_cmpfloat(estimate_wh(0.1, 2.0, 0, 1000), ==, 2.0);
}

static void test_net_wh(void) {
        g_assert_cmpfloat(net_wh(1.0, 36.0, 50.0), ==, 0.5);
        g_assert_cmpfloat(net_wh(1.0, 0.0, 50.0), ==, 1.0);
        /* Not clamped: within the baseline's noise the net energy may be negative. */
        assert_close(net_wh(0.1, 36.0, 50.0), -0.4, 1e-15);
}

/* ---- timing ------------------------------------------------------------------------------------ */

static void test_run_timing(void) {
        RunTiming t;
        json_t *o;

        run_timing_compute(11, 200.0, 1000.0, 1200.0, &t);
        g_assert_cmpfloat(t.ttft_ms, ==, 200.0);
        g_assert_cmpfloat(t.e2e_ms, ==, 1200.0);
        g_assert_cmpfloat(t.tpot_ms, ==, 100.0); /* 1000 ms ÷ (11 − 1) */
        g_assert_cmpfloat(t.tokens_per_s, ==, 11.0);

        run_timing_compute(2, 50.0, 40.0, 90.0, &t);
        g_assert_cmpfloat(t.tpot_ms, ==, 40.0);
        g_assert_cmpfloat(t.tokens_per_s, ==, 50.0);

        /* One token: no time per output token after the first. */
        run_timing_compute(1, 50.0, 20.0, 70.0, &t);
        g_assert_true(isnan(t.tpot_ms));
        g_assert_cmpfloat(t.tokens_per_s, ==, 50.0);

        run_timing_compute(0, NAN, 0.0, 30.0, &t);
        g_assert_true(isnan(t.ttft_ms));
        g_assert_true(isnan(t.tpot_ms));
        g_assert_true(isnan(t.tokens_per_s));

        run_timing_compute(5, 10.0, -1.0, 30.0, &t);
        g_assert_true(isnan(t.tpot_ms));
        g_assert_true(isnan(t.tokens_per_s));

        run_timing_compute(1, 50.0, 20.0, 70.0, &t);
        o = run_timing_to_json(&t);
        g_assert_nonnull(o);
        g_assert_cmpuint(json_object_size(o), ==, 3);
        g_assert_null(json_object_get(o, "tpot_ms"));
        g_assert_cmpfloat(json_get_number(o, "tokens_per_s"), ==, 50.0);
        json_decref(o);
}

/* ---- Student t ------------------------------------------------------------------------------ */

static void test_student_t(void) {
        static const struct {
                unsigned df;
                double t;
        } textbook[] = {
                {1, 12.706}, {2, 4.303}, {5, 2.571}, {10, 2.228}, {30, 2.042}, {100, 1.984},
        };
        double prev = INFINITY;

        for (size_t i = 0; i < G_N_ELEMENTS(textbook); i++)
                g_assert_cmpfloat_with_epsilon(student_t_975(textbook[i].df), textbook[i].t, 0.0005);

        /* Full precision (R: qt(0.975, df)). */
        g_assert_cmpfloat(student_t_975(1), ==, 12.706204736);
        g_assert_cmpfloat(student_t_975(7), ==, 2.364624252);
        g_assert_cmpfloat(student_t_975(30), ==, 2.042272456);
        g_assert_cmpfloat_with_epsilon(student_t_975(31), 2.039513446, 5e-8);
        g_assert_cmpfloat_with_epsilon(student_t_975(40), 2.021075390, 2e-8);
        g_assert_cmpfloat_with_epsilon(student_t_975(60), 2.000297822, 1e-8);
        g_assert_cmpfloat_with_epsilon(student_t_975(100), 1.983971519, 1e-9);
        g_assert_cmpfloat_with_epsilon(student_t_975(1000), 1.962339081, 1e-9);
        g_assert_cmpfloat_with_epsilon(student_t_975(1000000), 1.959966357, 1e-9);
        g_assert_cmpfloat_with_epsilon(student_t_975(STUDENT_T_DF_INFINITY), 1.960, 0.0005);
        g_assert_cmpfloat(student_t_975(STUDENT_T_DF_INFINITY), ==, 1.959963984540054);
        g_assert_true(isnan(student_t_975(0)));

        /* Strictly decreasing towards the normal quantile, also across the table's end. */
        for (unsigned df = 1; df <= 2000; df++) {
                double t = student_t_975(df);

                g_assert_cmpfloat(t, <, prev);
                g_assert_cmpfloat(t, >, 1.959963984540054);
                prev = t;
        }
}

/* ---- percentiles and statistics ---------------------------------------------------------------- */

static void test_percentile_linear(void) {
        const double v[] = {1, 2, 4, 8};
        const double one[] = {7.5};

        g_assert_cmpfloat(percentile_linear(v, 4, 0.0), ==, 1.0);
        g_assert_cmpfloat(percentile_linear(v, 4, 1.0), ==, 8.0);
        g_assert_cmpfloat(percentile_linear(v, 4, 0.5), ==, 3.0);       /* rank 1.5 */
        g_assert_cmpfloat(percentile_linear(v, 4, 1.0 / 3.0), ==, 2.0); /* rank 1 */
        assert_close(percentile_linear(v, 4, 0.9), 6.8, 1e-15);         /* rank 2.7: 4 + 0.7 × 4 */
        g_assert_cmpfloat(percentile_linear(v, 4, -1.0), ==, 1.0);      /* clamped */
        g_assert_cmpfloat(percentile_linear(v, 4, 2.0), ==, 8.0);
        g_assert_cmpfloat(percentile_linear(one, 1, 0.05), ==, 7.5);
        g_assert_cmpfloat(percentile_linear(one, 1, 0.95), ==, 7.5);
        g_assert_true(isnan(percentile_linear(v, 0, 0.5)));
        g_assert_true(isnan(percentile_linear(v, 4, NAN)));
}

static void test_stats_n8(void) {
        /* Unsorted on purpose; sorted: 2 4 4 4 5 5 7 9. */
        const double v[] = {9, 4, 2, 5, 4, 7, 5, 4};
        const double copy[] = {9, 4, 2, 5, 4, 7, 5, 4};
        SampleStats s;

        g_assert_cmpint(sample_stats_compute(v, 8, &s), ==, 0);
        g_assert_cmpmem(v, sizeof v, copy, sizeof copy); /* input untouched */
        g_assert_cmpuint(s.n, ==, 8);
        g_assert_cmpfloat(s.mean, ==, 5.0);
        g_assert_cmpfloat(s.median, ==, 4.5);        /* even n: (4 + 5) ÷ 2 */
        assert_close(s.std, 2.1380899352994, 1e-13); /* √(32 ÷ 7) */
        assert_close(s.cv, 0.427617987059879, 1e-13);
        assert_close(s.p5, 2.7, 1e-15);  /* rank 0.35: 2 + 0.35 × 2 */
        assert_close(s.p95, 8.3, 1e-15); /* rank 6.65: 7 + 0.65 × 2 */
        g_assert_cmpfloat(s.min, ==, 2.0);
        g_assert_cmpfloat(s.max, ==, 9.0);
        /* t(0.975, 7) = 2.364624252; half width = t × std ÷ √8 */
        assert_close(s.ci95_low, 3.21251208145596, 1e-13);
        assert_close(s.ci95_high, 6.78748791854404, 1e-13);
}

static void test_stats_odd_median(void) {
        const double v[] = {5, 1, 3};
        SampleStats s;

        g_assert_cmpint(sample_stats_compute(v, 3, &s), ==, 0);
        g_assert_cmpfloat(s.median, ==, 3.0);
        g_assert_cmpfloat(s.mean, ==, 3.0);
        g_assert_cmpfloat(s.std, ==, 2.0);
        assert_close(s.p5, 1.2, 1e-15);  /* rank 0.1 */
        assert_close(s.p95, 4.8, 1e-15); /* rank 1.9 */
        /* t(0.975, 2) = 4.302652730; half = 4.302652730 × 2 ÷ √3 */
        assert_close(s.ci95_high - s.mean, 4.302652730 * 2.0 / sqrt(3.0), 1e-15);
}

static void test_stats_n1(void) {
        const double v[] = {3.5};
        SampleStats s;
        json_t *o;

        g_assert_cmpint(sample_stats_compute(v, 1, &s), ==, 0);
        g_assert_cmpuint(s.n, ==, 1);
        g_assert_cmpfloat(s.mean, ==, 3.5);
        g_assert_cmpfloat(s.median, ==, 3.5);
        g_assert_cmpfloat(s.p5, ==, 3.5);
        g_assert_cmpfloat(s.p95, ==, 3.5);
        g_assert_cmpfloat(s.min, ==, 3.5);
        g_assert_cmpfloat(s.max, ==, 3.5);
        g_assert_true(isnan(s.std));
        g_assert_true(isnan(s.cv));
        g_assert_true(isnan(s.ci95_low));
        g_assert_true(isnan(s.ci95_high));

        o = sample_stats_to_json(&s);
        g_assert_nonnull(o);
        g_assert_cmpuint(json_object_size(o), ==, 7); /* n mean median p5 p95 min max */
        g_assert_cmpint(json_integer_value(json_object_get(o, "n")), ==, 1);
        g_assert_cmpfloat(json_get_number(o, "mean"), ==, 3.5);
        g_assert_null(json_object_get(o, "std"));
        g_assert_null(json_object_get(o, "cv"));
        g_assert_null(json_object_get(o, "ci95_low"));
        g_assert_null(json_object_get(o, "ci95_high"));
        json_decref(o);
}

static void test_stats_n2(void) {
        const double v[] = {3, 1};
        SampleStats s;
        json_t *o;

        g_assert_cmpint(sample_stats_compute(v, 2, &s), ==, 0);
        g_assert_cmpfloat(s.mean, ==, 2.0);
        g_assert_cmpfloat(s.median, ==, 2.0);
        g_assert_cmpfloat(s.std, ==, sqrt(2.0));
        g_assert_cmpfloat(s.cv, ==, sqrt(2.0) / 2.0);
        assert_close(s.p5, 1.1, 1e-15);
        assert_close(s.p95, 2.9, 1e-15);
        /* t(0.975, 1) × √2 ÷ √2 = 12.706204736 */
        assert_close(s.ci95_low, 2.0 - 12.706204736, 1e-15);
        assert_close(s.ci95_high, 2.0 + 12.706204736, 1e-15);

        o = sample_stats_to_json(&s);
        g_assert_cmpuint(json_object_size(o), ==, 11);
        g_assert_cmpfloat(json_get_number(o, "std"), ==, sqrt(2.0));
        json_decref(o);
}

static void test_stats_edge(void) {
        const double zero_mean[] = {-1, 1};
        const double bad[] = {1, NAN};
        const double inf[] = {1, INFINITY};
        SampleStats s;

        g_assert_cmpint(sample_stats_compute(zero_mean, 2, &s), ==, 0);
        g_assert_cmpfloat(s.mean, ==, 0.0);
        g_assert_true(isnan(s.cv));
        g_assert_cmpfloat(s.std, ==, sqrt(2.0));

        g_assert_cmpint(sample_stats_compute(zero_mean, 0, &s), ==, -EINVAL);
        g_assert_cmpint(sample_stats_compute(bad, 2, &s), ==, -EINVAL);
        g_assert_cmpint(sample_stats_compute(inf, 2, &s), ==, -EINVAL);
}

/* ---- energy fit -------------------------------------------------------------------------------- */

static const double fit_in[] = {100, 200, 400, 800, 300, 50, 600, 150};
static const double fit_out[] = {50, 300, 100, 200, 400, 25, 80, 500};
static const double fit_noise[] = {0.01, -0.01, 0.02, -0.02, 0.01, -0.01, 0, 0};

static void test_fit_exact(void) {
        double y[8], y0[8];
        EnergyFit f;
        json_t *o;

        for (size_t i = 0; i < 8; i++) {
                y[i] = 0.002 * fit_in[i] + 0.01 * fit_out[i] + 0.5;
                y0[i] = 0.002 * fit_in[i] + 0.01 * fit_out[i];
        }

        g_assert_cmpint(energy_fit_compute(fit_in, fit_out, y, 8, true, &f), ==, 0);
        assert_close(f.a_wh_per_token_in, 0.002, 1e-12);
        assert_close(f.b_wh_per_token_out, 0.01, 1e-12);
        assert_close(f.c_wh, 0.5, 1e-12);
        g_assert_cmpfloat_with_epsilon(f.r2, 1.0, 1e-12);
        g_assert_cmpuint(f.n, ==, 8);
        g_assert_true(f.intercept);

        o = energy_fit_to_json(&f);
        assert_close(json_get_number(o, "wh_per_1000_input_tokens"), 2.0, 1e-12);
        assert_close(json_get_number(o, "wh_per_1000_output_tokens"), 10.0, 1e-12);
        assert_close(json_get_number(o, "intercept_wh"), 0.5, 1e-12);
        g_assert_true(json_is_true(json_object_get(o, "intercept")));
        json_decref(o);

        g_assert_cmpint(energy_fit_compute(fit_in, fit_out, y0, 8, false, &f), ==, 0);
        assert_close(f.a_wh_per_token_in, 0.002, 1e-12);
        assert_close(f.b_wh_per_token_out, 0.01, 1e-12);
        g_assert_cmpfloat(f.c_wh, ==, 0.0);
        g_assert_cmpfloat_with_epsilon(f.r2, 1.0, 1e-12);
        g_assert_false(f.intercept);

        /* Exactly determined: three runs, three parameters. */
        g_assert_cmpint(energy_fit_compute(fit_in, fit_out, y, 3, true, &f), ==, 0);
        assert_close(f.a_wh_per_token_in, 0.002, 1e-10);
        assert_close(f.b_wh_per_token_out, 0.01, 1e-10);
        assert_close(f.c_wh, 0.5, 1e-10);
}

static void test_fit_noise(void) {
        double y[8], y0[8];
        EnergyFit f;

        for (size_t i = 0; i < 8; i++) {
                y[i] = 0.002 * fit_in[i] + 0.01 * fit_out[i] + 0.5 + fit_noise[i];
                y0[i] = 0.002 * fit_in[i] + 0.01 * fit_out[i] + fit_noise[i];
        }

        /* Expected values: the exact least-squares solution in rational arithmetic. */
        g_assert_cmpint(energy_fit_compute(fit_in, fit_out, y, 8, true, &f), ==, 0);
        assert_close(f.c_wh, 0.50559578946954897, 1e-10);
        assert_close(f.a_wh_per_token_in, 0.0019861434284366508, 1e-10);
        assert_close(f.b_wh_per_token_out, 0.0099947194986757196, 1e-10);
        assert_close(f.r2, 0.99995073597100004, 1e-12);
        g_assert_cmpfloat(f.r2, <, 1.0);

        g_assert_cmpint(energy_fit_compute(fit_in, fit_out, y0, 8, false, &f), ==, 0);
        assert_close(f.a_wh_per_token_in, 0.001993247431041388, 1e-10);
        assert_close(f.b_wh_per_token_out, 0.01000480540769791, 1e-10);
        assert_close(f.r2, 0.99994834217509809, 1e-12);
        g_assert_cmpfloat(f.r2, <, 1.0);
}

static void test_fit_singular(void) {
        const double same_in[] = {500, 500, 500, 500};
        const double outs[] = {10, 20, 30, 40};
        const double twice[] = {20, 40, 60, 80};
        const double nearly[] = {20, 40, 60.00001, 80};
        const double y[] = {1, 2, 3, 4};
        const double bad[] = {1, NAN, 3, 4};
        EnergyFit f;

        /* All prompts of one length: a and c cannot be told apart. */
        g_assert_cmpint(energy_fit_compute(same_in, outs, y, 4, true, &f), ==, -EDOM);
        /* Input proportional to output. */
        g_assert_cmpint(energy_fit_compute(twice, outs, y, 4, true, &f), ==, -EDOM);
        g_assert_cmpint(energy_fit_compute(twice, outs, y, 4, false, &f), ==, -EDOM);
        /* Nearly proportional (agreeing to ~7 digits) is just as useless: refused, not fitted. */
        g_assert_cmpint(energy_fit_compute(nearly, outs, y, 4, true, &f), ==, -EDOM);
        /* Too few runs for the parameters. */
        g_assert_cmpint(energy_fit_compute(fit_in, fit_out, y, 2, true, &f), ==, -EDOM);
        g_assert_cmpint(energy_fit_compute(fit_in, fit_out, y, 1, false, &f), ==, -EDOM);
        g_assert_cmpint(energy_fit_compute(fit_in, fit_out, y, 0, false, &f), ==, -EDOM);
        /* Without an intercept equal prompt lengths are fine. */
        g_assert_cmpint(energy_fit_compute(same_in, outs, y, 4, false, &f), ==, 0);
        assert_close(f.b_wh_per_token_out, 0.1, 1e-12);
        g_assert_cmpfloat_with_epsilon(f.a_wh_per_token_in, 0.0, 1e-15);
        g_assert_cmpint(energy_fit_compute(fit_in, fit_out, bad, 4, false, &f), ==, -EINVAL);
}

static void test_fit_constant_energy(void) {
        const double y[] = {2, 2, 2, 2};
        EnergyFit f;

        /* SStot = 0: R² is undefined. */
        g_assert_cmpint(energy_fit_compute(fit_in, fit_out, y, 4, true, &f), ==, 0);
        g_assert_true(isnan(f.r2));
        g_assert_cmpfloat_with_epsilon(f.c_wh, 2.0, 1e-12);
        g_assert_cmpfloat_with_epsilon(f.a_wh_per_token_in, 0.0, 1e-15);
        g_assert_cmpfloat_with_epsilon(f.b_wh_per_token_out, 0.0, 1e-15);
}

/* ---- crossover --------------------------------------------------------------------------------- */

static void test_crossover(void) {
        const CrossoverStep steps[] = {
                {100, 0.1, 0.3},
                {300, 0.2, 0.3},
                {500, 0.4, 0.3},
                {700, 0.6, 0.3},
        };
        const CrossoverStep first[] = {{100, 0.5, 0.3}, {300, 0.6, 0.3}};
        const CrossoverStep never[] = {{100, 0.1, 0.3}, {300, 0.3, 0.3}}; /* equal is not crossed */
        const CrossoverStep touch[] = {{100, 0.3, 0.3}, {300, 0.5, 0.3}};
        const CrossoverStep bad[] = {{100, NAN, 0.3}};
        size_t idx = 99;
        double x = -1;

        /* d = −0.1 at 300 and +0.1 at 500: zero at 400. */
        g_assert_cmpint(crossover_find(steps, 4, &idx, &x), ==, 1);
        g_assert_cmpuint(idx, ==, 2);
        assert_close(x, 400.0, 1e-12);

        g_assert_cmpint(crossover_find(first, 2, &idx, &x), ==, 1);
        g_assert_cmpuint(idx, ==, 0);
        g_assert_cmpfloat(x, ==, 100.0);

        idx = 99;
        x = -1;
        g_assert_cmpint(crossover_find(never, 2, &idx, &x), ==, 0);
        g_assert_cmpuint(idx, ==, 99);
        g_assert_cmpfloat(x, ==, -1.0);
        g_assert_cmpint(crossover_find(NULL, 0, &idx, &x), ==, 0);

        /* Equal at the previous step: the crossing is that step's input count. */
        g_assert_cmpint(crossover_find(touch, 2, &idx, &x), ==, 1);
        g_assert_cmpuint(idx, ==, 1);
        g_assert_cmpfloat(x, ==, 100.0);

        g_assert_cmpint(crossover_find(steps, 4, NULL, NULL), ==, 1);
        g_assert_cmpint(crossover_find(bad, 1, &idx, &x), ==, -EINVAL);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/metrics/units/wh-from-uj", test_wh_from_uj);
        g_test_add_func("/metrics/units/wh-per-1000-tokens", test_wh_per_1000_tokens);
        g_test_add_func("/metrics/units/co2-grams", test_co2_grams);
        g_test_add_func("/metrics/units/estimate-wh", test_estimate_wh);
        g_test_add_func("/metrics/units/net-wh", test_net_wh);
        g_test_add_func("/metrics/timing", test_run_timing);
        g_test_add_func("/metrics/student-t", test_student_t);
        g_test_add_func("/metrics/percentile-linear", test_percentile_linear);
        g_test_add_func("/metrics/stats/n8", test_stats_n8);
        g_test_add_func("/metrics/stats/odd-median", test_stats_odd_median);
        g_test_add_func("/metrics/stats/n1", test_stats_n1);
        g_test_add_func("/metrics/stats/n2", test_stats_n2);
        g_test_add_func("/metrics/stats/edge", test_stats_edge);
        g_test_add_func("/metrics/fit/exact", test_fit_exact);
        g_test_add_func("/metrics/fit/noise", test_fit_noise);
        g_test_add_func("/metrics/fit/singular", test_fit_singular);
        g_test_add_func("/metrics/fit/constant-energy", test_fit_constant_energy);
        g_test_add_func("/metrics/crossover", test_crossover);

        return g_test_run();
}
