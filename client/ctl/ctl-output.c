/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <sys/ioctl.h>

#include "ctl-output.h"

/* --- numbers with units ------------------------------------------------------------------------ */

static const char *si_prefix(int exp) {
        switch (exp) {
        case -6: return "µ";
        case -3: return "m";
        case 0: return "";
        case 3: return "k";
        case 6: return "M";
        case 9: return "G";
        case 12: return "T";
        default: return NULL;
        }
}

static char *not_applicable(char *buf, size_t size) {
        (void) snprintf(buf, size, "-");
        return buf;
}

/* Formats @m (the mantissa, ideally in [1, 1000)) with three significant digits. Returns the
 * number of decimals used, or -1 when rounding reached 1000 (so the caller moves up a prefix). */
static int format_mantissa(char *buf, size_t size, double m, bool may_overflow) {
        double a = fabs(m);
        int digits, decimals;

        /* Digits before the point, or for |m| < 1 (only below the smallest prefix) minus the
         * number of zeros after it. */
        digits = a > 0 ? (int) floor(log10(a)) + 1 : 1;
        decimals = CLAMP(3 - digits, 0, 9);
        (void) snprintf(buf, size, "%.*f", decimals, m);
        /* Rounding may add a digit (9.996 → "10.00"): keep three significant digits. */
        if (decimals > 0 && fabs(strtod(buf, NULL)) >= pow(10, digits))
                (void) snprintf(buf, size, "%.*f", --decimals, m);
        if (may_overflow && fabs(strtod(buf, NULL)) >= 1000)
                return -1;
        return decimals;
}

char *format_si(char *buf, size_t size, double v, const char *unit, int min_exp, int max_exp) {
        char num[48];
        int exp;

        if (!isfinite(v))
                return not_applicable(buf, size);
        if (v == 0) {
                (void) snprintf(buf, size, "0 %s", unit);
                return buf;
        }

        exp = (int) floor(log10(fabs(v)) / 3) * 3;
        exp = CLAMP(exp, min_exp, max_exp);
        for (;;) {
                bool top = exp + 3 > max_exp;

                if (format_mantissa(num, sizeof(num), v / pow(10, exp), !top) >= 0)
                        break;
                exp += 3;
        }
        (void) snprintf(buf, size, "%s %s%s", num, strempty(si_prefix(exp)), unit);
        return buf;
}

char *format_energy_wh(char *buf, double wh) {
        return format_si(buf, FORMAT_MAX, wh, "Wh", -6, 6);
}

char *format_energy_j(char *buf, double j) {
        return format_si(buf, FORMAT_MAX, j, "J", -6, 6);
}

char *format_power_w(char *buf, double w) {
        return format_si(buf, FORMAT_MAX, w, "W", -3, 6);
}

char *format_co2_g(char *buf, double g) {
        return format_si(buf, FORMAT_MAX, g, "g CO2", -6, 6);
}

char *format_real(char *buf, double v) {
        char num[48];

        if (!isfinite(v))
                return not_applicable(buf, FORMAT_MAX);
        if (v == 0) {
                (void) snprintf(buf, FORMAT_MAX, "0");
                return buf;
        }
        (void) format_mantissa(num, sizeof(num), v, false);
        (void) snprintf(buf, FORMAT_MAX, "%s", num);
        return buf;
}

char *format_duration_ms(char *buf, double ms) {
        if (!isfinite(ms) || ms < 0)
                return not_applicable(buf, FORMAT_MAX);
        /* Thresholds where rounding would print "1000 µs", "1000 ms" or "60.0 s". */
        if (ms > 0 && ms < 0.9995)
                return format_si(buf, FORMAT_MAX, ms * 1000, "µs", 0, 0);
        if (ms < 999.5)
                return format_si(buf, FORMAT_MAX, ms, "ms", 0, 0);
        if (ms < 59950) {
                char num[48];

                (void) format_mantissa(num, sizeof(num), ms / 1000, false);
                (void) snprintf(buf, FORMAT_MAX, "%s s", num);
                return buf;
        }

        uint64_t s = (uint64_t) llround(ms / 1000);
        if (s < 3600)
                (void) snprintf(buf, FORMAT_MAX, "%" PRIu64 " min %02" PRIu64 " s", s / 60, s % 60);
        else
                (void) snprintf(buf, FORMAT_MAX, "%" PRIu64 " h %02" PRIu64 " min", s / 3600,
                                (s % 3600) / 60);
        return buf;
}

char *format_rate(char *buf, double tokens_per_s) {
        if (!isfinite(tokens_per_s) || tokens_per_s < 0)
                return not_applicable(buf, FORMAT_MAX);
        (void) snprintf(buf, FORMAT_MAX, "%.1f tok/s", tokens_per_s);
        return buf;
}

char *format_bytes(char *buf, int64_t bytes) {
        if (bytes < 0)
                return not_applicable(buf, FORMAT_MAX);
        if (bytes < 1000) {
                (void) snprintf(buf, FORMAT_MAX, "%" PRIi64 " B", bytes);
                return buf;
        }
        return format_si(buf, FORMAT_MAX, (double) bytes, "B", 3, 12);
}

char *format_count(char *buf, int64_t n) {
        if (n < 0)
                return not_applicable(buf, FORMAT_MAX);
        (void) snprintf(buf, FORMAT_MAX, "%" PRIi64, n);
        return buf;
}

char *format_timestamp_us(char *buf, uint64_t usec) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (usec == 0 || !localtime_r(&t, &tm) || strftime(buf, FORMAT_MAX, "%Y-%m-%d %H:%M", &tm) == 0)
                return not_applicable(buf, FORMAT_MAX);
        return buf;
}

int string_append(char **s, const char *separator, const char *format, ...) {
        _cleanup_free_ char *piece = NULL;
        va_list ap;
        char *n;
        int r;

        va_start(ap, format);
        r = vasprintf(&piece, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        if (asprintf(&n, "%s%s%s", strempty(*s), *s ? strempty(separator) : "", piece) < 0)
                return -ENOMEM;
        free(*s);
        *s = n;
        return 0;
}

/* --- terminal ---------------------------------------------------------------------------------- */

bool colors_enabled_for(bool tty, const char *no_color, const char *term) {
        /* https://no-color.org: any non-empty value disables colour. */
        if (!isempty(no_color))
                return false;
        if (streq_ptr(term, "dumb"))
                return false;
        return tty;
}

bool colors_enabled(void) {
        static int cached = -1;

        if (cached < 0)
                cached = colors_enabled_for(isatty(STDOUT_FILENO), getenv("NO_COLOR"), getenv("TERM"));
        return cached;
}

bool colors_enabled_stderr(void) {
        static int cached = -1;

        if (cached < 0)
                cached = colors_enabled_for(isatty(STDERR_FILENO), getenv("NO_COLOR"), getenv("TERM"));
        return cached;
}

const char *ansi_dim(void) {
        return colors_enabled() ? "\x1b[2m" : "";
}

const char *ansi_bold(void) {
        return colors_enabled() ? "\x1b[1m" : "";
}

const char *ansi_red(void) {
        return colors_enabled() ? "\x1b[31m" : "";
}

const char *ansi_green(void) {
        return colors_enabled() ? "\x1b[32m" : "";
}

const char *ansi_normal(void) {
        return colors_enabled() ? "\x1b[0m" : "";
}

/* $COLUMNS or $LINES when set to a sane number, else the size of the terminal on stdout, else
 * @fallback. */
static size_t terminal_dimension(const char *variable, bool columns, size_t fallback) {
        const char *e = getenv(variable);
        struct winsize ws = {};

        if (e) {
                char *end;
                unsigned long v;

                errno = 0;
                v = strtoul(e, &end, 10);
                if (errno == 0 && end != e && *end == '\0' && v > 0 && v < 100000)
                        return v;
        }
        if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0) {
                unsigned short v = columns ? ws.ws_col : ws.ws_row;

                if (v > 0)
                        return v;
        }
        return fallback;
}

size_t terminal_columns(void) {
        return terminal_dimension("COLUMNS", true, SIZE_MAX);
}

size_t terminal_lines(void) {
        return terminal_dimension("LINES", false, 24);
}

/* Length of the UTF-8 sequence at @s (at most @n bytes), or 0 when it is invalid. */
static size_t utf8_sequence_length(const unsigned char *s, size_t n) {
        size_t len;
        uint32_t cp;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2, cp = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                len = 3, cp = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                len = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

bool utf8_is_valid(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s;

        for (size_t i = 0, len; i < n; i += len) {
                if (p[i] == '\0')
                        return false;
                len = utf8_sequence_length(p + i, n - i);
                if (len == 0)
                        return false;
        }
        return true;
}

size_t utf8_width(const char *s) {
        size_t w = 0;

        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if ((*p & 0xc0) != 0x80)
                        w++;
        return w;
}

char *terminal_sanitize(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s;
        char *out, *o;

        /* Each input byte becomes at most three output bytes (U+FFFD). */
        out = malloc(n * 3 + 1);
        if (!out)
                return NULL;
        o = out;
        for (size_t i = 0; i < n;) {
                size_t len = utf8_sequence_length(p + i, n - i);
                bool control = len == 1 ? (p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] == 0x7f
                                        : len == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0;

                if (len == 0 || control) {
                        memcpy(o, "\xef\xbf\xbd", 3);
                        o += 3;
                        i += MAX(len, (size_t) 1);
                        continue;
                }
                memcpy(o, p + i, len);
                o += len;
                i += len;
        }
        *o = '\0';
        return out;
}

/* --- tables ------------------------------------------------------------------------------------ */

typedef struct TableColumn {
        char *header;
        bool align_right;
        bool ellipsize;
        size_t width; /* computed by table_print() */
} TableColumn;

struct Table {
        TableColumn *columns;
        size_t n_columns;
        char **cells; /* row-major */
        size_t n_cells;
        size_t allocated;
};

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_columns; i++)
                free(t->columns[i].header);
        free(t->columns);
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}

Table *table_new(const char *first_header, ...) {
        _cleanup_table_ Table *t = NULL;
        va_list ap;
        size_t n = 0;

        va_start(ap, first_header);
        for (const char *h = first_header; h; h = va_arg(ap, const char *))
                n++;
        va_end(ap);
        if (n == 0)
                return NULL;

        t = calloc(1, sizeof(Table));
        if (!t)
                return NULL;
        t->columns = calloc(n, sizeof(TableColumn));
        if (!t->columns)
                return NULL;

        va_start(ap, first_header);
        for (const char *h = first_header; h; h = va_arg(ap, const char *)) {
                TableColumn *c = &t->columns[t->n_columns++];

                c->header = strdup(h);
                c->ellipsize = true;
                if (!c->header) {
                        va_end(ap);
                        return NULL;
                }
        }
        va_end(ap);
        return TAKE_PTR(t);
}

void table_set_align_right(Table *t, size_t column, bool right) {
        if (t && column < t->n_columns) {
                t->columns[column].align_right = right;
                /* Right-aligned columns hold numbers, which are never shortened. */
                t->columns[column].ellipsize = !right;
        }
}

void table_set_ellipsize(Table *t, size_t column, bool ellipsize) {
        if (t && column < t->n_columns)
                t->columns[column].ellipsize = ellipsize;
}

int table_add_cell(Table *t, const char *text) {
        char *s;

        if (!t)
                return -EINVAL;
        if (t->n_cells == t->allocated) {
                size_t a = MAX(t->allocated * 2, (size_t) 16);
                char **c = reallocarray(t->cells, a, sizeof(char *));

                if (!c)
                        return -ENOMEM;
                t->cells = c;
                t->allocated = a;
        }
        text = text ?: "-";
        s = terminal_sanitize(text, strlen(text));
        if (!s)
                return -ENOMEM;
        /* A cell is one line. */
        for (char *p = s; *p; p++)
                if (*p == '\n' || *p == '\t')
                        *p = ' ';
        t->cells[t->n_cells++] = s;
        return 0;
}

int table_add_cellf(Table *t, const char *format, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return table_add_cell(t, s);
}

int table_add_row(Table *t, ...) {
        va_list ap;
        int r = 0;

        if (!t)
                return -EINVAL;
        va_start(ap, t);
        for (size_t i = 0; i < t->n_columns && r >= 0; i++)
                r = table_add_cell(t, va_arg(ap, const char *));
        va_end(ap);
        return r;
}

size_t table_get_rows(const Table *t) {
        return t ? (t->n_cells + t->n_columns - 1) / t->n_columns : 0;
}

size_t table_get_columns(const Table *t) {
        return t ? t->n_columns : 0;
}

static size_t column_min_width(const TableColumn *c, size_t natural, bool legend) {
        size_t m = 2; /* "x…" */

        if (legend)
                m = MAX(m, utf8_width(c->header));
        return MIN(m, natural);
}

/* Shrinks the widest ellipsizable column by one until the table fits or nothing can shrink. */
static void table_fit(Table *t, size_t width, bool legend, const size_t *natural) {
        size_t total = 2 * (t->n_columns - 1);

        for (size_t i = 0; i < t->n_columns; i++)
                total += t->columns[i].width;

        while (total > width) {
                TableColumn *widest = NULL;

                for (size_t i = 0; i < t->n_columns; i++) {
                        TableColumn *c = &t->columns[i];

                        if (!c->ellipsize || c->width <= column_min_width(c, natural[i], legend))
                                continue;
                        if (!widest || c->width > widest->width)
                                widest = c;
                }
                if (!widest)
                        return;
                widest->width--;
                total--;
        }
}

/* Prints @s in @width columns: shortened with "…" when longer, padded unless @last. */
static void print_cell(FILE *f, const char *s, const TableColumn *c, bool last) {
        size_t w = utf8_width(s), pad;

        if (w > c->width) {
                size_t keep = c->width > 0 ? c->width - 1 : 0, n = 0;
                const char *p = s;

                /* Copy @keep code points. */
                for (; *p; p++) {
                        if ((*p & 0xc0) != 0x80) {
                                if (n == keep)
                                        break;
                                n++;
                        }
                }
                fwrite(s, 1, p - s, f);
                if (c->width > 0)
                        fputs("…", f);
                return;
        }

        pad = c->width - w;
        if (c->align_right)
                fprintf(f, "%*s%s", (int) pad, "", s);
        else if (last)
                fputs(s, f);
        else
                fprintf(f, "%s%*s", s, (int) pad, "");
}

static void print_line(FILE *f, Table *t, char *const *cells, size_t n) {
        size_t last = n;

        /* Trailing empty left-aligned cells would only print spaces. */
        while (last > 0 && !t->columns[last - 1].align_right && isempty(cells[last - 1]))
                last--;
        for (size_t i = 0; i < last; i++) {
                if (i > 0)
                        fputs("  ", f);
                print_cell(f, cells[i], &t->columns[i], i + 1 == last);
        }
        fputc('\n', f);
}

size_t table_natural_width(const Table *t, bool legend) {
        size_t total = 0;

        if (!t)
                return 0;
        for (size_t c = 0; c < t->n_columns; c++) {
                size_t w = legend ? utf8_width(t->columns[c].header) : 0;

                for (size_t i = c; i < t->n_cells; i += t->n_columns)
                        w = MAX(w, utf8_width(t->cells[i]));
                total += w + (c > 0 ? 2 : 0);
        }
        return total;
}

int table_print(Table *t, FILE *f, size_t width, bool legend) {
        _cleanup_free_ size_t *natural = NULL;
        _cleanup_free_ char **headers = NULL;
        size_t rows;

        if (!t || !f)
                return -EINVAL;
        if (t->n_cells % t->n_columns != 0)
                return -EINVAL; /* incomplete last row: a programming error */

        natural = calloc(t->n_columns, sizeof(size_t));
        headers = calloc(t->n_columns, sizeof(char *));
        if (!natural || !headers)
                return -ENOMEM;

        for (size_t i = 0; i < t->n_columns; i++) {
                natural[i] = legend ? utf8_width(t->columns[i].header) : 0;
                headers[i] = t->columns[i].header;
        }
        for (size_t i = 0; i < t->n_cells; i++)
                natural[i % t->n_columns] = MAX(natural[i % t->n_columns], utf8_width(t->cells[i]));
        for (size_t i = 0; i < t->n_columns; i++)
                t->columns[i].width = natural[i];

        table_fit(t, width, legend, natural);

        if (legend)
                print_line(f, t, headers, t->n_columns);
        rows = table_get_rows(t);
        for (size_t r = 0; r < rows; r++)
                print_line(f, t, t->cells + r * t->n_columns, t->n_columns);
        return ferror(f) ? -EIO : 0;
}

/* --- key/value blocks -------------------------------------------------------------------------- */

struct KvBlock {
        char **keys;
        char **values;
        size_t n;
};

KvBlock *kv_new(void) {
        return calloc(1, sizeof(KvBlock));
}

KvBlock *kv_free(KvBlock *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n; i++) {
                free(b->keys[i]);
                free(b->values[i]);
        }
        free(b->keys);
        free(b->values);
        free(b);
        return NULL;
}

int kv_add(KvBlock *b, const char *key, const char *value) {
        _cleanup_free_ char *k = NULL, *v = NULL;
        char **keys, **values;

        if (!b || !key)
                return -EINVAL;
        value = value ?: "-";
        k = strdup(key);
        v = terminal_sanitize(value, strlen(value));
        if (!k || !v)
                return -ENOMEM;
        keys = reallocarray(b->keys, b->n + 1, sizeof(char *));
        if (!keys)
                return -ENOMEM;
        b->keys = keys;
        values = reallocarray(b->values, b->n + 1, sizeof(char *));
        if (!values)
                return -ENOMEM;
        b->values = values;
        b->keys[b->n] = TAKE_PTR(k);
        b->values[b->n++] = TAKE_PTR(v);
        return 0;
}

int kv_addf(KvBlock *b, const char *key, const char *format, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return kv_add(b, key, s);
}

size_t kv_size(const KvBlock *b) {
        return b ? b->n : 0;
}

int kv_print(KvBlock *b, FILE *f) {
        size_t width = 0;

        if (!b || !f)
                return -EINVAL;
        for (size_t i = 0; i < b->n; i++)
                width = MAX(width, utf8_width(b->keys[i]));

        for (size_t i = 0; i < b->n; i++) {
                bool first = true;

                for (char *line = b->values[i], *next; line; line = next, first = false) {
                        size_t len;

                        next = strchr(line, '\n');
                        len = next ? (size_t) (next - line) : strlen(line);
                        if (next)
                                next++;
                        if (first)
                                fprintf(f, "%*s%s: %.*s\n", (int) (width - utf8_width(b->keys[i])), "",
                                        b->keys[i], (int) len, line);
                        else
                                fprintf(f, "%*s  %.*s\n", (int) width, "", (int) len, line);
                }
        }
        return ferror(f) ? -EIO : 0;
}

/* --- JSON -------------------------------------------------------------------------------------- */

JsonFormat json_format_from_string(const char *s) {
        if (!s)
                return _JSON_FORMAT_INVALID;
        if (streq(s, "off"))
                return JSON_OFF;
        if (streq(s, "pretty"))
                return JSON_PRETTY;
        if (streq(s, "short"))
                return JSON_SHORT;
        return _JSON_FORMAT_INVALID;
}

char *camel_to_snake(const char *s) {
        char *out, *o;

        out = malloc(strlen(s) * 2 + 1);
        if (!out)
                return NULL;
        o = out;
        for (const char *p = s; *p; p++) {
                bool upper = *p >= 'A' && *p <= 'Z';

                if (upper && p != s && !(p[-1] >= 'A' && p[-1] <= 'Z'))
                        *o++ = '_';
                *o++ = upper ? (char) (*p - 'A' + 'a') : *p;
        }
        *o = '\0';
        return out;
}

json_t *json_object_snake_keys(json_t *v) {
        json_t *o, *value;
        const char *key;

        if (!json_is_object(v))
                return NULL;
        o = json_object();
        if (!o)
                return NULL;
        json_object_foreach (v, key, value) {
                _cleanup_free_ char *k = camel_to_snake(key);

                if (!k || json_object_set(o, k, value) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

int json_print(FILE *f, json_t *v, JsonFormat format) {
        /* 15 significant digits: 0.469227, not 0.46922700000000001. */
        size_t flags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15);

        if (!v || format == JSON_OFF)
                return -EINVAL;
        flags |= format == JSON_PRETTY ? JSON_INDENT(2) : JSON_COMPACT;
        if (json_dumpf(v, f, flags) < 0)
                return -EIO;
        fputc('\n', f);
        return ferror(f) ? -EIO : 0;
}
