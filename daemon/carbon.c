/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "carbon.h"
#include "json-util.h"
#include "log.h"

#include <glib.h>

#define GRID_FORMAT 1
#define GRID_UNIT   "gCO2e/kWh"
#define CODE_MAX    16

struct GridTable {
        GPtrArray *regions;  /* GridRegion*, owned, file order */
        GHashTable *by_code; /* upper-case code → GridRegion* (borrowed) */
};

static void grid_region_free(GridRegion *r) {
        if (!r)
                return;
        free(r->code);
        free(r->name);
        free(r->source);
        free(r->source_title);
        free(r->note);
        free(r);
}

GridTable *grid_table_free(GridTable *t) {
        if (!t)
                return NULL;
        if (t->by_code)
                g_hash_table_unref(t->by_code);
        if (t->regions)
                g_ptr_array_unref(t->regions);
        free(t);
        return NULL;
}

static bool code_is_valid(const char *code) {
        if (streq(code, GRID_REGION_GLOBAL))
                return true;
        return strlen(code) == 2 && g_ascii_isupper(code[0]) && g_ascii_isupper(code[1]);
}

/* Fails with the first member of @o whose key is not in @allowed. */
static int check_keys(json_t *o, const char *const *allowed, const char *path, const char *where,
                      LabError *err) {
        const char *key;
        json_t *v;

        json_object_foreach (o, key, v) {
                bool found = false;

                for (const char *const *a = allowed; *a; a++)
                        if (streq(*a, key)) {
                                found = true;
                                break;
                        }
                if (!found)
                        return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: %s: unknown key \"%s\"",
                                             path, where, key);
        }
        return 0;
}

/* Optional string member: NULL when absent, -EINVAL when present and not a string. */
static int get_opt_string(json_t *o, const char *key, const char *path, const char *where, char **ret,
                          LabError *err) {
        json_t *v = json_object_get(o, key);

        if (!v) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: %s: \"%s\" must be a string",
                                     path, where, key);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

static int parse_region(json_t *o, json_t *sources, const char *path, size_t idx, GridRegion **ret,
                        LabError *err) {
        static const char *const keys[] = {"code", "name", "g_per_kwh", "year", "source", "note", NULL};
        GridRegion *r = NULL;
        char where[64];
        json_t *v;
        int rr;

        snprintf(where, sizeof where, "regions[%zu]", idx);
        if (!json_is_object(o))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: %s must be an object", path,
                                     where);
        rr = check_keys(o, keys, path, where, err);
        if (rr < 0)
                return rr;

        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;

        v = json_object_get(o, "code");
        if (!json_is_string(v) || !code_is_valid(json_string_value(v))) {
                rr = lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                   "%s: %s: \"code\" must be \"GLOBAL\" or two upper-case letters", path,
                                   where);
                goto fail;
        }
        r->code = strdup(json_string_value(v));

        v = json_object_get(o, "name");
        if (!json_is_string(v)) {
                rr = lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: %s: \"name\" must be a string",
                                   path, where);
                goto fail;
        }
        r->name = strdup(json_string_value(v));

        v = json_object_get(o, "g_per_kwh");
        if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0) {
                rr = lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                   "%s: %s: \"g_per_kwh\" must be a number ≥ 0", path, where);
                goto fail;
        }
        r->g_per_kwh = json_number_value(v);

        v = json_object_get(o, "year");
        if (v && !json_is_null(v)) {
                if (!json_is_integer(v) || json_integer_value(v) < 1900 || json_integer_value(v) > 9999) {
                        rr = lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                           "%s: %s: \"year\" must be a year or null", path, where);
                        goto fail;
                }
                r->year = (unsigned) json_integer_value(v);
        }

        rr = get_opt_string(o, "source", path, where, &r->source, err);
        if (rr < 0)
                goto fail;
        if (r->source && sources) {
                json_t *s = json_object_get(sources, r->source);

                if (!s) {
                        rr = lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: %s: unknown source \"%s\"",
                                           path, where, r->source);
                        goto fail;
                }
                r->source_title = strdup(json_get_string(s, "title"));
                if (!r->source_title) {
                        rr = -ENOMEM;
                        goto fail;
                }
        }
        rr = get_opt_string(o, "note", path, where, &r->note, err);
        if (rr < 0)
                goto fail;

        if (!r->code || !r->name) {
                rr = -ENOMEM;
                goto fail;
        }
        *ret = r;
        return 0;

fail:
        grid_region_free(r);
        return rr;
}

static int parse_sources(json_t *sources, const char *path, LabError *err) {
        static const char *const keys[] = {"title", "url", "note", NULL};
        const char *id;
        json_t *s;
        int r;

        if (!json_is_object(sources))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: \"sources\" must be an object",
                                     path);
        json_object_foreach (sources, id, s) {
                if (!json_is_object(s) || !json_is_string(json_object_get(s, "title")))
                        return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                             "%s: sources.%s must be an object with a \"title\"", path, id);
                r = check_keys(s, keys, path, "sources", err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_header(json_t *root, const char *path, LabError *err) {
        static const char *const keys[] = {"format", "unit", "description", "sources", "regions", NULL};
        json_t *v;
        int r;

        if (!json_is_object(root))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: not a JSON object", path);
        r = check_keys(root, keys, path, "top level", err);
        if (r < 0)
                return r;
        v = json_object_get(root, "format");
        if (!json_is_integer(v) || json_integer_value(v) != GRID_FORMAT)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: \"format\" must be %d", path,
                                     GRID_FORMAT);
        if (!streq_ptr(json_get_string(root, "unit"), GRID_UNIT))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: \"unit\" must be \"%s\"", path,
                                     GRID_UNIT);
        v = json_object_get(root, "description");
        if (v && !json_is_string(v))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: \"description\" must be a string",
                                     path);
        v = json_object_get(root, "sources");
        if (v) {
                r = parse_sources(v, path, err);
                if (r < 0)
                        return r;
        }
        if (!json_is_array(json_object_get(root, "regions")))
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: \"regions\" must be an array",
                                     path);
        return 0;
}

/* Reads and parses @path; syntax errors name the line and column. */
static int load_json_file(const char *path, json_t **ret, LabError *err) {
        _cleanup_fclose_ FILE *f = NULL;
        json_error_t jerr;
        json_t *root;
        int r;

        f = fopen(path, "re");
        if (!f) {
                r = negative_errno();
                (void) lab_error_set(err, LAB_ERROR_FAILED, "Failed to open %s: %s", path, strerror(-r));
                return r;
        }
        root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s:%d:%d: %s", path, jerr.line,
                                     jerr.column, jerr.text);
        *ret = root;
        return 0;
}

int grid_table_load_full(const char *path, GridTable **ret, LabError *err) {
        _cleanup_(grid_table_freep) GridTable *t = NULL;
        _cleanup_json_ json_t *root = NULL;
        json_t *regions, *sources, *e;
        size_t i;
        int r;

        r = load_json_file(path, &root, err);
        if (r < 0)
                return r;
        r = parse_header(root, path, err);
        if (r < 0)
                return r;
        regions = json_object_get(root, "regions");
        sources = json_object_get(root, "sources");

        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->regions = g_ptr_array_new_with_free_func((GDestroyNotify) grid_region_free);
        t->by_code = g_hash_table_new(g_str_hash, g_str_equal);

        json_array_foreach (regions, i, e) {
                GridRegion *region = NULL;

                r = parse_region(e, sources, path, i, &region, err);
                if (r < 0)
                        return r;
                g_ptr_array_add(t->regions, region);
                if (g_hash_table_contains(t->by_code, region->code))
                        return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT,
                                             "%s: regions[%zu]: duplicate code %s", path, i, region->code);
                g_hash_table_insert(t->by_code, region->code, region);
        }
        if (t->regions->len == 0)
                return lab_error_set(err, LAB_ERROR_INVALID_ARGUMENT, "%s: no regions", path);

        *ret = TAKE_PTR(t);
        return 0;
}

int grid_table_load(const char *path, GridTable **ret) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        int r;

        r = grid_table_load_full(path, ret, &err);
        if (r < 0)
                return log_error_errno(r, "%s", err.message ?: "Failed to load grid emission factors.");
        log_debug("Loaded %zu grid regions from %s.", grid_table_size(*ret), path);
        return 0;
}

const GridRegion *grid_table_lookup(const GridTable *t, const char *code) {
        char buf[CODE_MAX];
        size_t len;

        if (!t || !code)
                return NULL;
        len = strlen(code);
        if (len == 0 || len >= sizeof buf)
                return NULL;
        for (size_t i = 0; i <= len; i++)
                buf[i] = g_ascii_toupper(code[i]);
        return g_hash_table_lookup(t->by_code, buf);
}

size_t grid_table_size(const GridTable *t) {
        return t ? t->regions->len : 0;
}

const GridRegion *grid_table_nth(const GridTable *t, size_t i) {
        if (!t || i >= t->regions->len)
                return NULL;
        return g_ptr_array_index(t->regions, i);
}

json_t *grid_region_to_json(const GridRegion *r) {
        json_t *o = json_object();

        if (!o)
                return NULL;
        json_set_string(o, "code", r->code);
        json_set_string(o, "name", r->name);
        json_object_set_new(o, "g_per_kwh", json_real(r->g_per_kwh));
        if (r->year > 0)
                json_set_int(o, "year", r->year);
        json_set_string(o, "source", r->source);
        json_set_string(o, "source_title", r->source_title);
        json_set_string(o, "note", r->note);
        return o;
}

json_t *grid_table_to_json(const GridTable *t) {
        _cleanup_json_ json_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t i = 0; i < grid_table_size(t); i++) {
                json_t *o = grid_region_to_json(grid_table_nth(t, i));

                if (!o || json_array_append_new(a, o) < 0)
                        return NULL;
        }
        return TAKE_PTR(a);
}
