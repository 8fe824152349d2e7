/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "ctl-parse.h"
#include "macro.h"

int parse_double_range(const char *s, double min, double max, double *ret) {
        char *end;
        double v;

        if (isempty(s))
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_int64_range(const char *s, int64_t min, int64_t max, int64_t *ret) {
        char *end;
        long long v;

        if (isempty(s))
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == s || *end != '\0')
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int parse_relative(const char *s, uint64_t now_usec, uint64_t *ret_usec) {
        static const struct {
                char suffix;
                uint64_t usec;
        } units[] = {
                {'s', USEC_PER_SEC},
                {'m', 60 * USEC_PER_SEC},
                {'h', 3600 * USEC_PER_SEC},
                {'d', 24 * 3600 * USEC_PER_SEC},
                {'w', 7 * 24 * 3600 * USEC_PER_SEC},
        };
        size_t n = strlen(s);
        _cleanup_free_ char *num = NULL;
        int64_t v;
        int r;

        if (n < 2)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (s[n - 1] != units[i].suffix)
                        continue;
                num = strndup(s, n - 1);
                if (!num)
                        return -ENOMEM;
                r = parse_int64_range(num, 0, INT64_MAX, &v);
                if (r < 0)
                        return r;
                if ((uint64_t) v > now_usec / units[i].usec)
                        return -ERANGE;
                *ret_usec = now_usec - (uint64_t) v * units[i].usec;
                return 0;
        }
        return -EINVAL;
}

static int parse_absolute(const char *s, uint64_t *ret_usec) {
        static const char *const formats[] = {
                "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
        };

        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                struct tm tm = {.tm_isdst = -1};
                const char *end = strptime(s, formats[i], &tm);
                time_t t;

                if (!end || *end != '\0')
                        continue;
                t = mktime(&tm);
                if (t == (time_t) -1 || t < 0)
                        return -ERANGE;
                *ret_usec = (uint64_t) t * USEC_PER_SEC;
                return 0;
        }
        return -EINVAL;
}

int parse_since(const char *s, uint64_t now_usec, uint64_t *ret_usec) {
        int64_t v;
        int r;

        if (isempty(s))
                return -EINVAL;
        if (s[0] == '-')
                return parse_relative(s + 1, now_usec, ret_usec);
        if (s[0] == '@') {
                r = parse_int64_range(s + 1, 0, INT64_MAX / (int64_t) USEC_PER_SEC, &v);
                if (r < 0)
                        return r;
                *ret_usec = (uint64_t) v * USEC_PER_SEC;
                return 0;
        }
        return parse_absolute(s, ret_usec);
}

int parse_injection(const char *s, char **ret_description, char **ret_value, bool *ret_is_file) {
        _cleanup_free_ char *d = NULL, *v = NULL;
        const char *eq;
        bool file;

        if (!s)
                return -EINVAL;
        eq = strchr(s, '=');
        if (!eq || eq == s)
                return -EINVAL;
        file = eq[1] == '@';
        if (file && eq[2] == '\0')
                return -EINVAL;
        d = strndup(s, eq - s);
        v = strdup(eq + 1 + file);
        if (!d || !v)
                return -ENOMEM;
        *ret_description = TAKE_PTR(d);
        *ret_value = TAKE_PTR(v);
        *ret_is_file = file;
        return 0;
}
