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

/* --- compare panes ----------------------------------------------------------------------------- */

void pane_spec_init(PaneSpec *p) {
        *p = (PaneSpec){
                .temperature = NAN,
                .max_tokens = -1,
        };
}

void pane_spec_done(PaneSpec *p) {
        free(p->model);
        free(p->alias);
        free(p->backend);
        free(p->system_prompt);
        free(p->preset);
        pane_spec_init(p);
}

/* Digits with at most one '.', and at least one digit. */
static bool is_decimal(const char *s) {
        bool dot = false, digit = false;

        for (; *s; s++) {
                if (*s >= '0' && *s <= '9')
                        digit = true;
                else if (*s == '.' && !dot)
                        dot = true;
                else
                        return false;
        }
        return digit;
}

int parse_pane_compact(const char *s, PaneSpec *ret) {
        _cleanup_free_ char *copy = NULL;
        PaneSpec p;
        char *colon, *at;
        int r;

        if (isempty(s))
                return -EINVAL;
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        pane_spec_init(&p);

        colon = strrchr(copy, ':');
        if (colon && is_decimal(colon + 1)) {
                r = parse_double_range(colon + 1, 0, 2, &p.temperature);
                if (r < 0)
                        return r;
                *colon = '\0';
        }
        at = strrchr(copy, '@');
        if (at) {
                if (isempty(at + 1))
                        return -EINVAL;
                p.alias = strdup(at + 1);
                if (!p.alias)
                        return -ENOMEM;
                *at = '\0';
        }
        if (isempty(copy)) {
                pane_spec_done(&p);
                return -EINVAL;
        }
        p.model = TAKE_PTR(copy);
        *ret = p;
        return 0;
}

static const char *const pane_keys[] = {
        "model", "alias", "backend", "temperature", "t", "max-tokens", "n", "seed", "system", "preset",
};

/* The length of the known key at @s followed by '=', or 0. */
static size_t known_key_at(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(pane_keys); i++) {
                size_t n = strlen(pane_keys[i]);

                if (strncmp(s, pane_keys[i], n) == 0 && s[n] == '=')
                        return n;
        }
        return 0;
}

static int pane_set(PaneSpec *p, const char *key, const char *value) {
        char **target = NULL;
        int r;

        if (streq(key, "temperature") || streq(key, "t"))
                return parse_double_range(value, 0, 2, &p->temperature);
        if (streq(key, "max-tokens") || streq(key, "n"))
                return parse_int64_range(value, 1, 32768, &p->max_tokens);
        if (streq(key, "seed")) {
                r = parse_int64_range(value, INT64_MIN, INT64_MAX, &p->seed);
                p->seed_set = r >= 0;
                return r;
        }
        if (streq(key, "model"))
                target = &p->model;
        else if (streq(key, "alias"))
                target = &p->alias;
        else if (streq(key, "backend"))
                target = &p->backend;
        else if (streq(key, "system"))
                target = &p->system_prompt;
        else if (streq(key, "preset"))
                target = &p->preset;
        if (!target)
                return -EINVAL;
        if (isempty(value) && !streq(key, "system"))
                return -EINVAL;
        /* Names never hold a ',': one here is a mistyped key ("model=m,colour=red"). */
        if (strchr(value, ',') && target != &p->alias && target != &p->system_prompt)
                return -EINVAL;
        free(*target);
        *target = strdup(value);
        return *target ? 0 : -ENOMEM;
}

int parse_pane_pairs(const char *s, PaneSpec *ret, const char **ret_bad, size_t *ret_bad_len) {
        PaneSpec p;
        const char *pos = s;
        int r = 0;

        if (ret_bad) {
                *ret_bad = s;
                *ret_bad_len = strlen(strempty(s));
        }
        if (isempty(s))
                return -EINVAL;
        pane_spec_init(&p);

        while (r >= 0 && *pos) {
                size_t key_len = known_key_at(pos), value_len;
                _cleanup_free_ char *key = NULL, *value = NULL;
                const char *value_start, *end;

                if (key_len == 0) {
                        const char *eq = strchr(pos, '=');

                        if (ret_bad) {
                                *ret_bad = pos;
                                *ret_bad_len = eq ? (size_t) (eq - pos) : strlen(pos);
                        }
                        r = -EINVAL;
                        break;
                }
                value_start = pos + key_len + 1;
                /* The value ends at the next ",KEY=". */
                for (end = value_start; *end && !(*end == ',' && known_key_at(end + 1) > 0); end++)
                        ;
                value_len = (size_t) (end - value_start);
                key = strndup(pos, key_len);
                value = strndup(value_start, value_len);
                if (!key || !value) {
                        r = -ENOMEM;
                        break;
                }
                r = pane_set(&p, key, value);
                if (r < 0 && ret_bad) {
                        *ret_bad = pos;
                        *ret_bad_len = (size_t) (end - pos);
                }
                pos = *end ? end + 1 : end;
        }
        if (r >= 0 && isempty(p.model)) {
                r = -EINVAL;
                if (ret_bad) {
                        *ret_bad = NULL; /* nothing wrong, something missing */
                        *ret_bad_len = 0;
                }
        }
        if (r < 0) {
                pane_spec_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}
