/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Grid emission factors: the table in data/grid-factors.json (format described in docs/metrics.md),
 * one average factor in g CO2e per kWh per ISO 3166-1 alpha-2 code, plus "GLOBAL" for the world
 * average. A factor of 0 is a real 0 (0 g of CO2), never "unknown". */

#include <jansson.h>
#include <stddef.h>

#include "lab-error.h"
#include "macro.h"

#define GRID_REGION_GLOBAL "GLOBAL"

typedef struct GridRegion {
        char *code;         /* "FR", "GLOBAL", … (upper case) */
        char *name;         /* "France" */
        double g_per_kwh;   /* ≥ 0 */
        unsigned year;      /* 0 when the source gives none */
        char *source;       /* source id, e.g. "cadi" */
        char *source_title; /* the source's title from the file's "sources", or NULL */
        char *note;         /* or NULL */
} GridRegion;

typedef struct GridTable GridTable;

/* Loads a grid factor file. A malformed or invalid file gives -EINVAL (-ENOENT etc. when it cannot
 * be read) and an error naming the file and, for JSON syntax errors, the line and column; the
 * plain variant logs it, the _full variant stores it in @err (if non-NULL) instead. */
int grid_table_load(const char *path, GridTable **ret);
int grid_table_load_full(const char *path, GridTable **ret, LabError *err);
GridTable *grid_table_free(GridTable *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(GridTable *, grid_table_free);

/* Case-insensitive lookup of an ISO code or "GLOBAL"; NULL if unknown (or @code is NULL). */
const GridRegion *grid_table_lookup(const GridTable *t, const char *code);
/* Regions in file order (GLOBAL first in the shipped file). */
size_t grid_table_size(const GridTable *t);
const GridRegion *grid_table_nth(const GridTable *t, size_t i);

/* {code, name, g_per_kwh, year (left out when unknown), source, source_title?, note?}; NULL on OOM. */
json_t *grid_region_to_json(const GridRegion *r);
/* Array of all regions in file order; NULL on OOM. */
json_t *grid_table_to_json(const GridTable *t);
