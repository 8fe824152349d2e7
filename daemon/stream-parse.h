/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Pure framing of streamed LLM responses: Ollama NDJSON and OpenAI-style server-sent events.
 *
 * Bytes are fed as they arrive, cut at arbitrary points; complete lines are turned into events and
 * handed to a callback. No I/O, no JSON: the backend decides what the data means (including
 * "[DONE]"). Line terminators are LF, CRLF and a lone CR in both formats (a CR at the end of one
 * feed and an LF at the start of the next are one terminator). A UTF-8 BOM at the very start of
 * the stream is dropped. Work is amortised O(n): only new bytes are ever searched, a line is
 * copied once. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef enum StreamFormat {
        STREAM_FORMAT_NDJSON,
        STREAM_FORMAT_SSE,
        _STREAM_FORMAT_MAX,
        _STREAM_FORMAT_INVALID = -EINVAL,
} StreamFormat;

typedef enum StreamEventKind {
        /* NDJSON: one non-empty line, without its terminator.
         * SSE: a dispatched event's data: its data lines joined with "\n" (no final "\n"). An event
         * is dispatched when it had at least one "data" field, so "data:" alone gives size 0. */
        STREAM_EVENT_DATA,
        /* SSE comment line (": ping", ":"): proves liveness, is not an event. data is the text after
         * the ':' with one leading space removed, for logging only. */
        STREAM_EVENT_COMMENT,
        /* SSE non-standard "error: {json}" line (llama.cpp before late 2025), reported when the line
         * is read; data is the field value. */
        STREAM_EVENT_ERROR_FIELD,
        _STREAM_EVENT_KIND_MAX,
        _STREAM_EVENT_KIND_INVALID = -EINVAL,
} StreamEventKind;

typedef struct StreamEvent {
        StreamEventKind kind;
        /* Always NUL-terminated, but may contain NUL bytes if the wire had them: size is
         * authoritative. Valid only during the handler call. */
        const char *data;
        size_t size;
        /* SSE: the value of the event's last "event:" field, NULL if none (or empty). Always NULL
         * for NDJSON and for comment/error lines. */
        const char *event_type;
} StreamEvent;

/* Returning < 0 aborts stream_parser_feed()/stream_parser_finish() with that value. */
typedef int (*StreamEventHandler)(const StreamEvent *ev, void *userdata);

/* Hard cap on one line (and one SSE event's data) when 0 is passed as max_line. */
#define STREAM_PARSER_MAX_LINE_DEFAULT ((size_t) 64U * 1024U * 1024U)

typedef struct StreamParser StreamParser;

/* max_line: longest accepted line in bytes, terminator excluded (0 = the default above). For SSE the
 * joined data of one event is bounded by the same number. */
int stream_parser_new(StreamFormat format, size_t max_line, StreamEventHandler handler, void *userdata,
                      StreamParser **ret);
StreamParser *stream_parser_free(StreamParser *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(StreamParser *, stream_parser_free);
#define _cleanup_stream_parser_free_ _cleanup_(stream_parser_freep)

/* Returns 0, the handler's negative value, -E2BIG when a line (or SSE event data) exceeds max_line,
 * or -ESTALE after stream_parser_finish(). Errors are sticky: the parser is dead afterwards and
 * returns the same error from every later feed()/finish(). */
int stream_parser_feed(StreamParser *p, const void *data, size_t size);

/* Call at EOF. NDJSON: an unterminated last line is delivered; returns 1 if that happened, else 0.
 * SSE: an unterminated line and an undispatched event are discarded (as the spec says); returns 1 if
 * any such bytes were discarded (the caller treats it as truncation), else 0. Returns the sticky
 * error, or the handler's negative value. Calling it again returns 0. */
int stream_parser_finish(StreamParser *p);

/* Total bytes passed to stream_parser_feed(). */
uint64_t stream_parser_bytes(StreamParser *p);

const char *stream_format_to_string(StreamFormat f) _const_;
StreamFormat stream_format_from_string(const char *s) _pure_;
const char *stream_event_kind_to_string(StreamEventKind k) _const_;
