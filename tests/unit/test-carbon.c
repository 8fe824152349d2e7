/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "carbon.h"
#include "json-util.h"
#include "metrics.h"

#include <glib.h>
#include <glib/gstdio.h>

static char *data_path(const char *name) {
        const char *root = g_getenv("LLMLAB_SOURCE_ROOT");

        g_assert_nonnull(root); /* set by tests/meson.build */
        return g_build_filename(root, "data", name, NULL);
}

static GridTable *load_shipped(void) {
        g_autofree char *path = data_path("grid-factors.json");
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        GridTable *t = NULL;

        g_assert_cmpint(grid_table_load_full(path, &t, &err), ==, 0);
        g_assert_null(err.message);
        g_assert_nonnull(t);
        return t;
}

static void test_shipped_file(void) {
        _cleanup_(grid_table_freep) GridTable *t = load_shipped();
        const GridRegion *r;
        size_t zeros = 0;

        /* 208 countries and territories plus the world average. */
        g_assert_cmpuint(grid_table_size(t), ==, 209);
        r = grid_table_nth(t, 0);
        g_assert_cmpstr(r->code, ==, "GLOBAL");
        g_assert_cmpfloat(r->g_per_kwh, ==, 445.0);
        g_assert_cmpuint(r->year, ==, 2025);
        g_assert_cmpstr(r->source, ==, "iea-electricity-2025");
        g_assert_nonnull(r->source_title);
        g_assert_null(grid_table_nth(t, 209));

        for (size_t i = 0; i < grid_table_size(t); i++) {
                const GridRegion *x = grid_table_nth(t, i);

                g_assert_true(grid_table_lookup(t, x->code) == x);
                g_assert_cmpfloat(x->g_per_kwh, >=, 0.0);
                g_assert_cmpfloat(x->g_per_kwh, <, 1000.0);
                if (x->g_per_kwh == 0) {
                        zeros++;
                        g_assert_nonnull(x->note);
                }
        }
        /* The 12 regions published as 0 stay 0 (AL BT CF CD ET IS XK LS NP SZ TL ZW). */
        g_assert_cmpuint(zeros, ==, 12);

        /* kg/kWh × 1000, exactly as published. */
        g_assert_cmpfloat(grid_table_lookup(t, "FR")->g_per_kwh, ==, 47.044192);
        g_assert_cmpfloat(grid_table_lookup(t, "NO")->g_per_kwh, ==, 9.263414);
        g_assert_cmpfloat(grid_table_lookup(t, "IN")->g_per_kwh, ==, 951.819469);
        g_assert_cmpfloat(grid_table_lookup(t, "US")->g_per_kwh, ==, 355.065029);
        g_assert_cmpfloat(grid_table_lookup(t, "PY")->g_per_kwh, ==, 0.178249);
        g_assert_cmpfloat(grid_table_lookup(t, "BW")->g_per_kwh, ==, 976.619492);
        g_assert_cmpstr(grid_table_lookup(t, "FR")->name, ==, "France");
        g_assert_cmpstr(grid_table_lookup(t, "XK")->name, ==, "Kosovo");
}

static void test_lookup(void) {
        _cleanup_(grid_table_freep) GridTable *t = load_shipped();
        const GridRegion *is, *zw;

        g_assert_true(grid_table_lookup(t, "global") == grid_table_lookup(t, "GLOBAL"));
        g_assert_true(grid_table_lookup(t, "fr") == grid_table_lookup(t, "FR"));
        g_assert_true(grid_table_lookup(t, "Fr") == grid_table_lookup(t, "FR"));
        g_assert_null(grid_table_lookup(t, "ZZ"));
        g_assert_null(grid_table_lookup(t, "FRA"));
        g_assert_null(grid_table_lookup(t, ""));
        g_assert_null(grid_table_lookup(t, NULL));
        g_assert_null(grid_table_lookup(t, "a-very-long-code-that-is-no-code"));
        g_assert_null(grid_table_lookup(NULL, "FR"));

        /* A zero factor is 0, not "missing": Iceland gives 0 g, never the global 445. */
        is = grid_table_lookup(t, "is");
        g_assert_nonnull(is);
        g_assert_cmpfloat(is->g_per_kwh, ==, 0.0);
        g_assert_cmpfloat(co2_grams(10.0, is->g_per_kwh), ==, 0.0);
        g_assert_cmpuint(is->year, ==, 2025);

        /* Published without a year. */
        zw = grid_table_lookup(t, "ZW");
        g_assert_cmpfloat(zw->g_per_kwh, ==, 0.0);
        g_assert_cmpuint(zw->year, ==, 0);

        g_assert_cmpfloat(co2_grams(1000.0, grid_table_lookup(t, "FR")->g_per_kwh), ==, 47.044192);
        g_assert_cmpfloat_with_epsilon(co2_grams(10.0, grid_table_lookup(t, "FR")->g_per_kwh), 0.47044192,
                                       1e-15);
}

static void test_to_json(void) {
        _cleanup_(grid_table_freep) GridTable *t = load_shipped();
        _cleanup_json_ json_t *fr = NULL, *zw = NULL, *all = NULL;

        fr = grid_region_to_json(grid_table_lookup(t, "FR"));
        g_assert_cmpstr(json_get_string(fr, "code"), ==, "FR");
        g_assert_cmpstr(json_get_string(fr, "name"), ==, "France");
        g_assert_cmpfloat(json_get_number(fr, "g_per_kwh"), ==, 47.044192);
        g_assert_cmpint(json_integer_value(json_object_get(fr, "year")), ==, 2025);
        g_assert_cmpstr(json_get_string(fr, "source"), ==, "cadi");
        g_assert_nonnull(json_get_string(fr, "source_title"));
        g_assert_null(json_object_get(fr, "note"));

        zw = grid_region_to_json(grid_table_lookup(t, "ZW"));
        g_assert_true(json_is_real(json_object_get(zw, "g_per_kwh")));
        g_assert_cmpfloat(json_get_number(zw, "g_per_kwh"), ==, 0.0);
        g_assert_null(json_object_get(zw, "year"));
        g_assert_nonnull(json_get_string(zw, "note"));

        all = grid_table_to_json(t);
        g_assert_cmpuint(json_array_size(all), ==, 209);
        g_assert_cmpstr(json_get_string(json_array_get(all, 0), "code"), ==, "GLOBAL");
}

/* Writes @contents to a temporary file and tries to load it. */
static int load_text(const char *contents, char **ret_message) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        g_autoptr(GError) gerr = NULL;
        g_autofree char *path = NULL;
        GridTable *t = NULL;
        int fd, r;

        fd = g_file_open_tmp("test-carbon-XXXXXX.json", &path, &gerr);
        g_assert_no_error(gerr);
        g_assert_true(g_file_set_contents(path, contents, -1, &gerr));
        g_assert_no_error(gerr);
        close(fd);

        r = grid_table_load_full(path, &t, &err);
        if (r >= 0) {
                g_assert_nonnull(t);
                grid_table_free(t);
        } else {
                g_assert_null(t);
                g_assert_nonnull(err.message);
                /* every error names the file */
                g_assert_nonnull(strstr(err.message, path));
        }
        *ret_message = g_steal_pointer(&err.message);
        g_unlink(path);
        return r;
}

#define HEADER "{\"format\": 1, \"unit\": \"gCO2e/kWh\", "

static void test_malformed(void) {
        char *msg = NULL;

        /* A syntax error: the message has file:line:column. */
        g_assert_cmpint(load_text(HEADER "\n\"regions\": [\n{\"code\": \"FR\",, }\n]}\n", &msg), ==,
                        -EINVAL);
        g_assert_nonnull(strstr(msg, ":3:"));
        g_free(msg);

        g_assert_cmpint(
                load_text(HEADER
                          "\"regions\": [{\"code\": \"FR\", \"name\": \"France\", \"g_per_kwh\": 0}]}",
                          &msg),
                ==, 0);
        g_free(msg);

        g_assert_cmpint(load_text(HEADER "\"regions\": [{\"code\": \"FR\", \"name\": \"France\", "
                                         "\"g_per_kwh\": -1}]}",
                                  &msg),
                        ==, -EINVAL);
        g_assert_nonnull(strstr(msg, "g_per_kwh"));
        g_free(msg);

        g_assert_cmpint(load_text(HEADER "\"regions\": [{\"code\": \"FR\", \"name\": \"France\", "
                                         "\"g_per_kwh\": \"47\"}]}",
                                  &msg),
                        ==, -EINVAL);
        g_free(msg);

        g_assert_cmpint(load_text(HEADER
                                  "\"regions\": [{\"code\": \"FR\", \"name\": \"France\", \"g_per_kwh\": 1, "
                                  "\"colour\": \"blue\"}]}",
                                  &msg),
                        ==, -EINVAL);
        g_assert_nonnull(strstr(msg, "colour"));
        g_free(msg);

        g_assert_cmpint(load_text(HEADER
                                  "\"regions\": [{\"code\": \"FR\", \"name\": \"A\", \"g_per_kwh\": 1}, "
                                  "{\"code\": \"FR\", \"name\": \"B\", \"g_per_kwh\": 2}]}",
                                  &msg),
                        ==, -EINVAL);
        g_assert_nonnull(strstr(msg, "duplicate"));
        g_free(msg);

        g_assert_cmpint(load_text(HEADER
                                  "\"regions\": [{\"code\": \"fr\", \"name\": \"A\", \"g_per_kwh\": 1}]}",
                                  &msg),
                        ==, -EINVAL);
        g_free(msg);

        g_assert_cmpint(load_text("{\"format\": 1, \"unit\": \"kgCO2e/kWh\", \"regions\": []}", &msg), ==,
                        -EINVAL);
        g_assert_nonnull(strstr(msg, "unit"));
        g_free(msg);

        g_assert_cmpint(load_text(HEADER "\"regions\": []}", &msg), ==, -EINVAL);
        g_free(msg);

        g_assert_cmpint(
                load_text(HEADER
                          "\"sources\": {\"x\": {\"title\": \"X\"}}, \"regions\": [{\"code\": \"FR\", "
                          "\"name\": \"A\", \"g_per_kwh\": 1, \"source\": \"y\"}]}",
                          &msg),
                ==, -EINVAL);
        g_assert_nonnull(strstr(msg, "unknown source"));
        g_free(msg);

        g_assert_cmpint(load_text("[]", &msg), ==, -EINVAL);
        g_free(msg);
}

static void test_missing_file(void) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        GridTable *t = NULL;

        g_assert_cmpint(grid_table_load_full("/nonexistent/grid-factors.json", &t, &err), ==, -ENOENT);
        g_assert_null(t);
        g_assert_nonnull(strstr(err.message, "/nonexistent/grid-factors.json"));
        g_assert_cmpint(grid_table_load("/nonexistent/grid-factors.json", &t), ==, -ENOENT);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/carbon/shipped-file", test_shipped_file);
        g_test_add_func("/carbon/lookup", test_lookup);
        g_test_add_func("/carbon/to-json", test_to_json);
        g_test_add_func("/carbon/malformed", test_malformed);
        g_test_add_func("/carbon/missing-file", test_missing_file);

        return g_test_run();
}
