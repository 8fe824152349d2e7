/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>

/* before glib.h: macro.h does not #undef CLAMP, glib.h does */
#include "stream-parse.h"

#include <glib.h>

/* GByteArray lengths are guint; stay well below. */
#define STREAM_PARSER_MAX_LINE_LIMIT ((size_t) 1024U * 1024U * 1024U)

/* Buffers that grew beyond this for one huge line are given back instead of kept for the next. */
#define BUFFER_KEEP_MAX ((guint) 1024U * 1024U)

static const uint8_t utf8_bom[] = {0xEF, 0xBB, 0xBF};

struct StreamParser {
        StreamFormat format;
        size_t max_line;
        StreamEventHandler handler;
        void *userdata;

        /* The current line, not yet terminated. It never holds CR or LF, so bytes once appended are
         * never searched again: only new input is scanned for terminators. */
        GByteArray *line;
        /* SSE: the data buffer of the event being built (each data line appended with "\n"), and its
         * event type buffer (NULL when empty). */
        GByteArray *data;
        char *event_type;

        unsigned bom_matched; /* leading bytes that matched the BOM so far */
        bool bom_done;        /* past the point where a BOM could start */
        bool skip_lf;         /* the last line ended with CR: an LF right after belongs to it */
        bool finished;
        int error; /* sticky, < 0 once the parser failed */
        uint64_t bytes;
};

static const char *const stream_format_table[_STREAM_FORMAT_MAX] = {
        [STREAM_FORMAT_NDJSON] = "ndjson",
        [STREAM_FORMAT_SSE] = "sse",
};

static const char *const stream_event_kind_table[_STREAM_EVENT_KIND_MAX] = {
        [STREAM_EVENT_DATA] = "data",
        [STREAM_EVENT_COMMENT] = "comment",
        [STREAM_EVENT_ERROR_FIELD] = "error-field",
};

const char *stream_format_to_string(StreamFormat f) {
        if (f < 0 || f >= _STREAM_FORMAT_MAX)
                return NULL;
        return stream_format_table[f];
}

StreamFormat stream_format_from_string(const char *s) {
        if (!s)
                return _STREAM_FORMAT_INVALID;
        for (StreamFormat f = 0; f < _STREAM_FORMAT_MAX; f++)
                if (streq(stream_format_table[f], s))
                        return f;
        return _STREAM_FORMAT_INVALID;
}

const char *stream_event_kind_to_string(StreamEventKind k) {
        if (k < 0 || k >= _STREAM_EVENT_KIND_MAX)
                return NULL;
        return stream_event_kind_table[k];
}

int stream_parser_new(StreamFormat format, size_t max_line, StreamEventHandler handler, void *userdata,
                      StreamParser **ret) {
        StreamParser *p;

        if (format < 0 || format >= _STREAM_FORMAT_MAX || !handler || !ret)
                return -EINVAL;
        if (max_line > STREAM_PARSER_MAX_LINE_LIMIT)
                return -ERANGE;

        p = g_new0(StreamParser, 1);
        *p = (StreamParser){
                .format = format,
                .max_line = max_line > 0 ? max_line : STREAM_PARSER_MAX_LINE_DEFAULT,
                .handler = handler,
                .userdata = userdata,
                .line = g_byte_array_new(),
                .data = g_byte_array_new(),
        };

        *ret = p;
        return 0;
}

StreamParser *stream_parser_free(StreamParser *p) {
        if (!p)
                return NULL;

        g_byte_array_unref(p->line);
        g_byte_array_unref(p->data);
        g_free(p->event_type);
        g_free(p);
        return NULL;
}

uint64_t stream_parser_bytes(StreamParser *p) {
        assert(p);
        return p->bytes;
}

/* Empties a buffer; one that grew huge is replaced, so that a single giant line does not pin
 * megabytes for the rest of the stream. */
static void buffer_reset(GByteArray **b) {
        if ((*b)->len > BUFFER_KEEP_MAX) {
                g_byte_array_unref(*b);
                *b = g_byte_array_new();
        } else
                g_byte_array_set_size(*b, 0);
}

/* NUL-terminates the buffer without counting the NUL, and returns its contents. */
static const char *buffer_string(GByteArray *b) {
        g_byte_array_append(b, (const guint8 *) "", 1);
        b->len--;
        return (const char *) b->data;
}

static int parser_fail(StreamParser *p, int error) {
        assert(error < 0);
        p->error = error;
        return error;
}

static int parser_emit(StreamParser *p, StreamEventKind kind, const char *data, size_t size,
                       const char *type) {
        StreamEvent ev = {
                .kind = kind,
                .data = data,
                .size = size,
                .event_type = type,
        };
        int r;

        r = p->handler(&ev, p->userdata);
        return MIN(r, 0);
}

static int line_append(StreamParser *p, const void *data, size_t size) {
        if (size == 0)
                return 0;
        if (size > p->max_line - p->line->len)
                return -E2BIG;

        g_byte_array_append(p->line, data, (guint) size);
        return 0;
}

static bool field_is(const char *name, size_t len, const char *field) {
        return len == strlen(field) && memcmp(name, field, len) == 0;
}

static int sse_dispatch(StreamParser *p) {
        g_autofree char *type = g_steal_pointer(&p->event_type);
        const char *s;
        size_t len;
        int r;

        /* No data field since the last dispatch: nothing to dispatch (the event type is reset). */
        if (p->data->len == 0)
                return 0;

        len = p->data->len - 1; /* without the "\n" that followed the last data line */
        g_byte_array_set_size(p->data, (guint) len);
        s = buffer_string(p->data);

        r = parser_emit(p, STREAM_EVENT_DATA, s, len, type);
        buffer_reset(&p->data);
        return r;
}

static int sse_append_data(StreamParser *p, const char *value, size_t len) {
        /* The joined data (previous lines plus their "\n" separators) is bounded like a line. */
        if (len > p->max_line - p->data->len)
                return -E2BIG;

        g_byte_array_append(p->data, (const guint8 *) value, (guint) len);
        g_byte_array_append(p->data, (const guint8 *) "\n", 1);
        return 0;
}

static void sse_set_event_type(StreamParser *p, const char *value, size_t len) {
        /* A C string: cut at a NUL byte, and one that ends up empty is no event type. */
        len = strnlen(value, len);

        g_free(p->event_type);
        p->event_type = len > 0 ? g_strndup(value, len) : NULL;
}

/* One SSE line as the WHATWG "event stream interpretation" rules say. @line is NUL-terminated at
 * @len, and so is every value taken from its tail. */
static int sse_process_line(StreamParser *p, const char *line, size_t len) {
        const char *colon, *value;
        size_t name_len, value_len;

        if (len == 0)
                return sse_dispatch(p);

        colon = memchr(line, ':', len);
        if (colon) {
                name_len = (size_t) (colon - line);
                value = colon + 1;
                value_len = len - name_len - 1;
                if (value_len > 0 && value[0] == ' ') {
                        value++;
                        value_len--;
                }
        } else {
                /* A line without ':' is a field with an empty value. */
                name_len = len;
                value = line + len;
                value_len = 0;
        }

        if (name_len == 0)
                return parser_emit(p, STREAM_EVENT_COMMENT, value, value_len, NULL);
        if (field_is(line, name_len, "data"))
                return sse_append_data(p, value, value_len);
        if (field_is(line, name_len, "event")) {
                sse_set_event_type(p, value, value_len);
                return 0;
        }
        /* Not in the spec: old llama.cpp reports mid-stream errors as an "error:" line. */
        if (field_is(line, name_len, "error"))
                return parser_emit(p, STREAM_EVENT_ERROR_FIELD, value, value_len, NULL);

        /* "id", "retry" and unknown fields do not matter to us. */
        return 0;
}

static int parser_line_done(StreamParser *p) {
        const char *s = buffer_string(p->line);
        size_t len = p->line->len;
        int r;

        if (p->format == STREAM_FORMAT_SSE)
                r = sse_process_line(p, s, len);
        else
                r = len > 0 ? parser_emit(p, STREAM_EVENT_DATA, s, len, NULL) : 0; /* skip empty lines */

        buffer_reset(&p->line);
        return r;
}

/* Swallows a UTF-8 BOM at the very start of the stream, which may arrive split over feeds. A
 * partial match followed by something else was data after all. */
static int parser_eat_bom(StreamParser *p, const uint8_t **data, size_t *size) {
        while (!p->bom_done && *size > 0) {
                if (**data != utf8_bom[p->bom_matched]) {
                        p->bom_done = true;
                        return line_append(p, utf8_bom, p->bom_matched);
                }

                (*data)++;
                (*size)--;
                if (++p->bom_matched == sizeof(utf8_bom))
                        p->bom_done = true;
        }

        return 0;
}

static size_t find_byte(const uint8_t *d, size_t from, size_t size, uint8_t c) {
        const uint8_t *q = memchr(d + from, c, size - from);
        return q ? (size_t) (q - d) : size;
}

/* Splits new input into lines. The next LF and next CR positions are remembered, so each byte is
 * searched at most once per terminator kind, whatever mix of line endings arrives. */
static int parser_split(StreamParser *p, const uint8_t *d, size_t size) {
        size_t i = 0, lf = SIZE_MAX, cr = SIZE_MAX;
        int r;

        while (i < size) {
                size_t eol;

                if (p->skip_lf) {
                        p->skip_lf = false;
                        if (d[i] == '\n') {
                                i++;
                                continue;
                        }
                }

                if (lf == SIZE_MAX || lf < i)
                        lf = find_byte(d, i, size, '\n');
                if (cr == SIZE_MAX || cr < i)
                        cr = find_byte(d, i, size, '\r');
                eol = MIN(lf, cr);

                r = line_append(p, d + i, eol - i);
                if (r < 0)
                        return r;
                if (eol == size)
                        break;

                p->skip_lf = d[eol] == '\r';
                i = eol + 1;

                r = parser_line_done(p);
                if (r < 0)
                        return r;
        }

        return 0;
}

int stream_parser_feed(StreamParser *p, const void *data, size_t size) {
        const uint8_t *d = data;
        int r;

        assert(p);
        assert(data || size == 0);

        p->bytes += size;
        if (p->error < 0)
                return p->error;
        if (p->finished)
                return -ESTALE;

        r = parser_eat_bom(p, &d, &size);
        if (r < 0)
                return parser_fail(p, r);

        r = parser_split(p, d, size);
        if (r < 0)
                return parser_fail(p, r);

        return 0;
}

int stream_parser_finish(StreamParser *p) {
        bool pending;
        int r;

        assert(p);

        if (p->error < 0)
                return p->error;
        if (p->finished)
                return 0;
        p->finished = true;

        /* A stream that ended inside what looked like a BOM: those bytes were data. */
        if (!p->bom_done) {
                p->bom_done = true;
                r = line_append(p, utf8_bom, p->bom_matched);
                if (r < 0)
                        return parser_fail(p, r);
        }

        if (p->format == STREAM_FORMAT_NDJSON) {
                /* Ollama always terminates its lines; deliver an unterminated one but say so. */
                if (p->line->len == 0)
                        return 0;

                r = parser_line_done(p);
                if (r < 0)
                        return parser_fail(p, r);
                return 1;
        }

        /* SSE: an unterminated line and an undispatched event are discarded. */
        pending = p->line->len > 0 || p->data->len > 0;
        buffer_reset(&p->line);
        buffer_reset(&p->data);
        g_clear_pointer(&p->event_type, g_free);
        return pending;
}
