/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <math.h>
#include <string.h>

#include "lab-format.h"

GVariant *lab_variant_lookup_value(GVariant *dict, const char *path) {
        g_auto(GStrv) parts = NULL;
        g_autoptr(GVariant) cur = NULL;

        if (!dict || !path || !g_variant_is_of_type(dict, G_VARIANT_TYPE_VARDICT))
                return NULL;
        parts = g_strsplit(path, ".", -1);
        cur = g_variant_ref(dict);
        for (char **p = parts; *p; p++) {
                g_autoptr(GVariant) next = NULL;

                if (!g_variant_is_of_type(cur, G_VARIANT_TYPE_VARDICT))
                        return NULL;
                next = g_variant_lookup_value(cur, *p, NULL);
                if (!next)
                        return NULL;
                g_clear_pointer(&cur, g_variant_unref);
                cur = g_steal_pointer(&next);
        }
        return g_steal_pointer(&cur);
}

gboolean lab_variant_lookup_double(GVariant *dict, const char *path, double *ret) {
        g_autoptr(GVariant) v = lab_variant_lookup_value(dict, path);
        double d;

        if (!v)
                return FALSE;
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_DOUBLE))
                d = g_variant_get_double(v);
        else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
                d = (double) g_variant_get_uint64(v);
        else if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT64))
                d = (double) g_variant_get_int64(v);
        else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
                d = (double) g_variant_get_uint32(v);
        else if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT32))
                d = (double) g_variant_get_int32(v);
        else
                return FALSE;
        if (ret)
                *ret = d;
        return TRUE;
}

gboolean lab_variant_lookup_bool(GVariant *dict, const char *path, gboolean *ret) {
        g_autoptr(GVariant) v = lab_variant_lookup_value(dict, path);

        if (!v || !g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN))
                return FALSE;
        if (ret)
                *ret = g_variant_get_boolean(v);
        return TRUE;
}

char *lab_variant_lookup_string(GVariant *dict, const char *path) {
        g_autoptr(GVariant) v = lab_variant_lookup_value(dict, path);

        if (!v || !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
                return NULL;
        return g_variant_dup_string(v, NULL);
}

gboolean lab_is_blank(const char *s) {
        for (; s && *s; s++)
                if (!g_ascii_isspace(*s))
                        return FALSE;
        return TRUE;
}

/* Four significant digits, never in exponent notation: 1234, 123.4, 12.34, 1.234, 0.1234,
 * 0.0001234 (at most 9 decimals). */
static char *format_sig4(double v) {
        double a = fabs(v);
        int decimals;

        if (a == 0.0)
                decimals = 3;
        else if (a >= 1000.0)
                decimals = 0;
        else if (a >= 100.0)
                decimals = 1;
        else if (a >= 10.0)
                decimals = 2;
        else
                decimals = CLAMP(3 - (int) floor(log10(a)), 3, 9);
        return g_strdup_printf("%.*f", decimals, v);
}

static char *format_scaled(double v, const char *const units[3], double base) {
        g_autofree char *num = NULL;
        double a = fabs(v);
        int i;

        /* units[0] = base/1e6, units[1] = base/1e3, units[2] = base; above base*1e3 too. */
        if (a != 0.0 && a < base * 1e-3)
                i = 0;
        else if (a != 0.0 && a < base)
                i = 1;
        else
                i = 2;
        num = format_sig4(v * (i == 0 ? 1e6 : i == 1 ? 1e3 : 1.0) / base);
        return g_strdup_printf("%s %s", num, units[i]);
}

char *lab_format_energy(double wh) {
        static const char *const units[3] = {"µWh", "mWh", "Wh"};

        if (!isfinite(wh))
                return g_strdup("—");
        if (fabs(wh) >= 1000.0)
                return g_strdup_printf("%.3f kWh", wh / 1000.0);
        return format_scaled(wh, units, 1.0);
}

char *lab_format_power(double w) {
        if (!isfinite(w))
                return g_strdup("—");
        return g_strdup_printf("%.2f W", w);
}

char *lab_format_co2(double grams) {
        static const char *const units[3] = {"µg", "mg", "g"};

        if (!isfinite(grams))
                return g_strdup("—");
        if (fabs(grams) >= 1000.0)
                return g_strdup_printf("%.3f kg", grams / 1000.0);
        return format_scaled(grams, units, 1.0);
}

char *lab_format_duration_ms(double ms) {
        if (!isfinite(ms))
                return g_strdup("—");
        if (ms < 1000.0)
                return g_strdup_printf("%.1f ms", ms);
        if (ms < 60000.0)
                return g_strdup_printf("%.2f s", ms / 1000.0);
        return g_strdup_printf("%d min %02d s", (int) (ms / 60000.0), (int) fmod(ms / 1000.0, 60.0));
}

char *lab_format_figure(double v) {
        if (!isfinite(v))
                return g_strdup("—");
        return format_sig4(v);
}

char *lab_format_count(double n) {
        g_autoptr(GString) s = NULL;
        g_autofree char *digits = NULL;
        size_t len, lead;

        if (!isfinite(n))
                return g_strdup("—");
        digits = g_strdup_printf("%.0f", fabs(n));
        len = strlen(digits);
        s = g_string_new(n < 0 ? "-" : "");
        lead = len % 3 == 0 ? 3 : len % 3;
        g_string_append_len(s, digits, (gssize) lead);
        for (size_t i = lead; i < len; i += 3) {
                g_string_append_c(s, ',');
                g_string_append_len(s, digits + i, 3);
        }
        return g_string_free(g_steal_pointer(&s), FALSE);
}

char *lab_format_percent(double fraction) {
        if (!isfinite(fraction))
                return g_strdup("—");
        return g_strdup_printf("%.1f %%", fraction * 100.0);
}

char *lab_format_timestamp(gint64 usec, gint64 now_usec) {
        g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(usec / G_USEC_PER_SEC);
        g_autoptr(GDateTime) now = g_date_time_new_from_unix_local(now_usec / G_USEC_PER_SEC);

        if (!t || !now)
                return g_strdup("—");
        if (g_date_time_get_year(t) == g_date_time_get_year(now) &&
            g_date_time_get_day_of_year(t) == g_date_time_get_day_of_year(now))
                return g_date_time_format(t, "%H:%M:%S");
        return g_date_time_format(t, "%Y-%m-%d %H:%M");
}
