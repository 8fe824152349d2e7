/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* libFuzzer target for daemon/stream-parse.c.
 *
 * Input: one control byte, then the stream. The stream is parsed in both formats, once fed whole
 * and once fed in pieces whose sizes come from the stream bytes themselves; both must give exactly
 * the same events and return values, and every event must respect the documented invariants.
 * Anything else aborts.
 *
 * Control byte: bit 7 = small max_line (64); bit 6 = the handler fails on event number
 * 1 + (bits 0-2); bits 0-5 = s, where each piece is 1 + (next stream byte % (s + 1)) bytes long
 * (s = 0: one byte at a time), and a stream byte 0xFF also causes an empty feed first. */

#include "stream-parse.h"

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Trace {
        StreamFormat format;
        GByteArray *log; /* every event and return value, serialised */
        unsigned n_events;
        unsigned fail_at; /* 0 = never */
} Trace;

static void check(bool b) {
        if (!b)
                abort();
}

static void trace_append(Trace *t, const void *p, size_t n) {
        g_byte_array_append(t->log, p, (guint) n);
}

static void trace_append_int(Trace *t, int64_t v) {
        trace_append(t, &v, sizeof(v));
}

static int trace_event(const StreamEvent *ev, void *userdata) {
        Trace *t = userdata;
        bool ndjson = t->format == STREAM_FORMAT_NDJSON;

        check(ev->kind >= 0 && ev->kind < _STREAM_EVENT_KIND_MAX);
        check(ev->data && ev->data[ev->size] == '\0');
        check(!memchr(ev->data, '\r', ev->size));
        check(ev->kind == STREAM_EVENT_DATA || !ev->event_type);
        if (ndjson)
                check(ev->kind == STREAM_EVENT_DATA && ev->size > 0 && !ev->event_type);
        if (ndjson || ev->kind != STREAM_EVENT_DATA)
                check(!memchr(ev->data, '\n', ev->size));
        if (ev->event_type)
                check(*ev->event_type && !strpbrk(ev->event_type, "\r\n"));

        trace_append_int(t, ev->kind);
        trace_append_int(t, (int64_t) ev->size);
        trace_append(t, ev->data, ev->size);
        if (ev->event_type)
                trace_append(t, ev->event_type, strlen(ev->event_type) + 1);
        else
                trace_append(t, "\xff", 1);

        t->n_events++;
        if (t->fail_at > 0 && t->n_events == t->fail_at)
                return -ECANCELED;
        return 0;
}

/* Feeds @s whole (@stride < 0) or in pieces, then finishes; returns the trace. */
static GByteArray *run(StreamFormat format, uint8_t control, const uint8_t *s, size_t size, int stride) {
        _cleanup_stream_parser_free_ StreamParser *p = NULL;
        Trace t = {
                .format = format,
                .log = g_byte_array_new(),
                .fail_at = control & 0x40 ? 1 + (control & 0x07) : 0,
        };
        size_t max_line = control & 0x80 ? 64 : 0;
        int first_error = 0, r;

        check(stream_parser_new(format, max_line, trace_event, &t, &p) == 0);

        for (size_t i = 0;;) {
                size_t n = size - i;

                if (stride >= 0 && n > 0) {
                        if (s[i] == 0xFF)
                                check(stream_parser_feed(p, s + i, 0) == first_error);
                        n = MIN(n, 1 + (size_t) s[i] % ((size_t) stride + 1));
                }

                r = stream_parser_feed(p, s + i, n);
                check(r <= 0);
                if (first_error < 0)
                        check(r == first_error); /* sticky */
                else
                        first_error = r;

                i += n;
                if (i >= size)
                        break;
        }
        check(stream_parser_bytes(p) == size);

        r = stream_parser_finish(p);
        check(r >= -4095 && r <= 1);
        if (first_error < 0)
                check(r == first_error);
        else if (r >= 0) {
                check(stream_parser_feed(p, s, size) == -ESTALE);
                check(stream_parser_finish(p) == 0);
        }
        if (format == STREAM_FORMAT_SSE && r == 1)
                check(size > 0);

        trace_append_int(&t, first_error);
        trace_append_int(&t, r);
        return t.log;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t control;

        if (size < 1)
                return 0;
        control = data[0];
        data++;
        size--;

        for (StreamFormat f = 0; f < _STREAM_FORMAT_MAX; f++) {
                g_autoptr(GByteArray) whole = run(f, control, data, size, -1);
                g_autoptr(GByteArray) pieces = run(f, control, data, size, control & 0x3f);

                check(whole->len == pieces->len && memcmp(whole->data, pieces->data, whole->len) == 0);
        }

        return 0;
}
