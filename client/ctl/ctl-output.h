/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Output conventions of llmlabctl, without any D-Bus: numbers with units, tables that fit the
 * terminal width, colour only on a terminal and never with NO_COLOR, and --json=pretty|short|off.
 * Everything here is pure (it formats into buffers or a FILE given by the caller), apart from
 * terminal_columns() and colors_enabled(), which look at the environment and stdout. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

/* --- numbers with units ------------------------------------------------------------------------ */

/* Large enough for every format_*() result. */
#define FORMAT_MAX 64

/* Every format_*() writes into @buf (FORMAT_MAX bytes) and returns it. A value that is not
 * applicable (NaN, or a negative count/size) is written as "-". Reals get three significant
 * digits and a decimal prefix chosen so that the mantissa is in [1, 1000). */

/* Energy in Wh: "740 µWh", "17.3 mWh", "1.50 Wh", "2.00 kWh". */
char *format_energy_wh(char *buf, double wh);
/* Energy in J: "970 mJ", "1.20 J", "3.60 kJ". */
char *format_energy_j(char *buf, double j);
/* Power in W: "750 mW", "8.00 W", "1.20 kW". */
char *format_power_w(char *buf, double w);
/* CO2-equivalent mass in grams: "7.70 mg CO2", "1.23 g CO2", "4.56 kg CO2". */
char *format_co2_g(char *buf, double g);
/* Duration in ms: "512 µs", "41.2 ms", "380 ms", "1.65 s", "2 min 03 s", "1 h 02 min". */
char *format_duration_ms(char *buf, double ms);
/* Throughput: "168.4 tok/s". */
char *format_rate(char *buf, double tokens_per_s);
/* Byte size with decimal prefixes: "512 B", "523 MB", "1.20 GB". */
char *format_bytes(char *buf, int64_t bytes);
/* A count: "42", or "-" when negative (unknown). */
char *format_count(char *buf, int64_t n);
/* A plain real with three significant digits and no unit, e.g. "445", "0.0410". */
char *format_real(char *buf, double v);
/* Local date and time of µs since the epoch: "2026-03-02 10:15"; "-" for 0. */
char *format_timestamp_us(char *buf, uint64_t usec);

/* Generic helper: @v with three significant digits, a decimal prefix between 10^min_exp and
 * 10^max_exp (multiples of 3, from -6 to 12), and @unit. */
char *format_si(char *buf, size_t size, double v, const char *unit, int min_exp, int max_exp);

/* Appends a formatted piece to *s (allocated, or NULL for empty), preceded by @separator unless *s
 * was NULL. */
int string_append(char **s, const char *separator, const char *format, ...) _printf_(3, 4);

/* --- terminal ---------------------------------------------------------------------------------- */

/* Whether colour may be used, given whether the output is a terminal and the values of $NO_COLOR
 * and $TERM (NULL when unset). Pure. */
bool colors_enabled_for(bool tty, const char *no_color, const char *term);
/* colors_enabled_for() for stdout and the real environment (cached). */
bool colors_enabled(void);
/* The same for stderr (used for progress lines). */
bool colors_enabled_stderr(void);

const char *ansi_dim(void);
const char *ansi_bold(void);
const char *ansi_red(void);
const char *ansi_green(void);
const char *ansi_normal(void);

/* Width available for tables: $COLUMNS when set and valid, the terminal's width when stdout is a
 * terminal, otherwise SIZE_MAX (no limit: piped output is never ellipsized). */
size_t terminal_columns(void);

/* Height of the terminal: $LINES when set and valid, the terminal's height when stdout is a
 * terminal, otherwise 24. */
size_t terminal_lines(void);

/* Whether @s (@n bytes) is valid UTF-8 without NUL bytes (what a D-Bus string may hold). */
bool utf8_is_valid(const char *s, size_t n);
/* Display width of UTF-8 text (code points; control characters count as one each). */
size_t utf8_width(const char *s);
/* Copy of @s (of @n bytes) that is safe to print on a terminal: C0/C1 control characters other
 * than newline and tab, and invalid UTF-8, become U+FFFD. */
char *terminal_sanitize(const char *s, size_t n);

/* --- tables ------------------------------------------------------------------------------------ */

typedef struct Table Table;

/* A table with the given column headers (NULL-terminated). */
Table *table_new(const char *first_header, ...) __attribute__((sentinel));
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);
#define _cleanup_table_ _cleanup_(table_freep)

/* Right-align a column (numbers); this also turns its ellipsizing off. */
void table_set_align_right(Table *t, size_t column, bool right);
/* Whether a column may be shortened with "…" to fit the width (default: yes). */
void table_set_ellipsize(Table *t, size_t column, bool ellipsize);

/* Appends one cell, filling rows left to right. NULL is shown as "-". The text is copied and
 * sanitized for the terminal. */
int table_add_cell(Table *t, const char *text);
int table_add_cellf(Table *t, const char *format, ...) _printf_(2, 3);
/* Appends a whole row of n_columns cells. */
int table_add_row(Table *t, ...);

size_t table_get_rows(const Table *t);
size_t table_get_columns(const Table *t);

/* The width the table needs without shortening anything (with the header line unless !legend). */
size_t table_natural_width(const Table *t, bool legend);

/* Prints the table to @f within @width columns (SIZE_MAX: no limit), with the header line unless
 * !legend. Columns are separated by two spaces; the widest ellipsizable columns are shortened
 * first, never below the width of "x…" or their header; trailing spaces are never printed. */
int table_print(Table *t, FILE *f, size_t width, bool legend);

/* --- key/value blocks (hostnamectl style) ------------------------------------------------------ */

/* "<key>: <value>" lines with the keys right-aligned to the longest one. A value with newlines
 * continues on aligned lines. */
typedef struct KvBlock KvBlock;

KvBlock *kv_new(void);
KvBlock *kv_free(KvBlock *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(KvBlock *, kv_free);
#define _cleanup_kv_ _cleanup_(kv_freep)

/* Adds a line; the strings are copied, a NULL value is shown as "-". */
int kv_add(KvBlock *b, const char *key, const char *value);
int kv_addf(KvBlock *b, const char *key, const char *format, ...) _printf_(3, 4);
size_t kv_size(const KvBlock *b);
int kv_print(KvBlock *b, FILE *f);

/* --- JSON -------------------------------------------------------------------------------------- */

typedef enum JsonFormat {
        JSON_OFF,
        JSON_PRETTY,
        JSON_SHORT,
        _JSON_FORMAT_MAX,
        _JSON_FORMAT_INVALID = -EINVAL,
} JsonFormat;

JsonFormat json_format_from_string(const char *s) _pure_;

/* A copy of object @v whose keys are converted from D-Bus property names to JSON style
 * ("EnergySources" → "energy_sources", "SampleIntervalMs" → "sample_interval_ms"); values are
 * shared. NULL on allocation failure or when @v is not an object. */
json_t *json_object_snake_keys(json_t *v);
/* "SampleIntervalMs" → "sample_interval_ms" (newly allocated). */
char *camel_to_snake(const char *s);

/* Prints @v followed by a newline: indented by 2 for JSON_PRETTY, compact for JSON_SHORT. */
int json_print(FILE *f, json_t *v, JsonFormat format);
