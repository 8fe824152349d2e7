/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Pure helpers: reading values out of the daemon's a{sv} results and formatting them for people.
 * No I/O, no widgets. */

#include <glib.h>

/* Look up "a.b.c" in nested a{sv} dictionaries. Numbers of any D-Bus integer or double type are
 * returned as double. FALSE when a step is missing or has another type. */
gboolean lab_variant_lookup_double(GVariant *dict, const char *path, double *ret);
gboolean lab_variant_lookup_bool(GVariant *dict, const char *path, gboolean *ret);
/* A new string, or NULL. */
char *lab_variant_lookup_string(GVariant *dict, const char *path);
/* A new reference to the value (any type), or NULL. */
GVariant *lab_variant_lookup_value(GVariant *dict, const char *path);

/* TRUE for NULL, "" and white space only. */
gboolean lab_is_blank(const char *s);

/* Energy with an SI prefix and four significant digits: "3.247 mWh", "1.250 Wh", "812.0 µWh". */
char *lab_format_energy(double wh);
/* Power: "42.50 W". */
char *lab_format_power(double w);
/* CO2-equivalent mass: "1.445 mg", "2.100 g", "1.200 kg". */
char *lab_format_co2(double grams);
/* A duration: "91.6 ms", "1.25 s", "2 min 05 s". */
char *lab_format_duration_ms(double ms);
/* An intensity figure (Wh per 1000 tokens and the like) with four significant digits. */
char *lab_format_figure(double v);
/* A count with thousands separators: "40,960". */
char *lab_format_count(double n);
/* A percentage: "12.5 %". */
char *lab_format_percent(double fraction);
/* Local time of a µs-since-epoch timestamp: "14:03:27" today, "2025-11-02 14:03" otherwise. */
char *lab_format_timestamp(gint64 usec, gint64 now_usec);
