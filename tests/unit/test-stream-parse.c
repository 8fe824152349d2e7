/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Unit tests for daemon/stream-parse.c: the transcripts of research/backends.md §6 fed whole, one byte
 * at a time, cut at every point and at random points, in LF, CRLF and lone-CR flavours, with and
 * without a BOM; plus the framing rules one by one, huge lines, limits and errors. */

/* before glib.h: macro.h does not #undef CLAMP, glib.h does */
#include "stream-parse.h"

#include <glib.h>

typedef struct Expect {
        StreamEventKind kind;
        const char *type;
        const char *data;
        size_t size;
} Expect;

#define EXPECT(k, t, s) \
        { .kind = (k), .type = (t), .data = (s), .size = sizeof(s) - 1 }
#define DATA(s)         EXPECT(STREAM_EVENT_DATA, NULL, s)
#define DATA_TYPE(t, s) EXPECT(STREAM_EVENT_DATA, t, s)
#define COMMENT(s)      EXPECT(STREAM_EVENT_COMMENT, NULL, s)
#define ERROR_FIELD(s)  EXPECT(STREAM_EVENT_ERROR_FIELD, NULL, s)

/* Transcripts from research/backends.md §6, byte-exact. */
/* clang-format off */
#define T1_1 "{\"model\":\"qwen3:0.6b\",\"created_at\":\"2026-03-02T10:15:01.123456789Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Okay\"},\"done\":false}"
#define T1_2 "{\"model\":\"qwen3:0.6b\",\"created_at\":\"2026-03-02T10:15:01.131002Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\", the user asks for 17 \xc3\x97 23.\"},\"done\":false}"
#define T1_3 "{\"model\":\"qwen3:0.6b\",\"created_at\":\"2026-03-02T10:15:01.20411Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\" 17 \xc3\x97 20 = 340, 17 \xc3\x97 3 = 51, so 391.\"},\"done\":false}"
#define T1_4 "{\"model\":\"qwen3:0.6b\",\"created_at\":\"2026-03-02T10:15:01.3381Z\",\"message\":{\"role\":\"assistant\",\"content\":\"17 \xc3\x97 23\",\"thinking\":\"\\n\"},\"done\":false}"
#define T1_5 "{\"model\":\"qwen3:0.6b\",\"created_at\":\"2026-03-02T10:15:01.41907Z\",\"message\":{\"role\":\"assistant\",\"content\":\" = **391**\"},\"done\":false}"
#define T1_6 "{\"model\":\"qwen3:0.6b\",\"created_at\":\"2026-03-02T10:15:01.650432Z\",\"message\":{\"role\":\"assistant\",\"content\":\".\"},\"done\":true,\"done_reason\":\"stop\",\"total_duration\":1650432100,\"load_duration\":1203556700,\"prompt_eval_count\":18,\"prompt_eval_duration\":41230000,\"eval_count\":64,\"eval_duration\":380114000}"
static const char t1[] =
        T1_1 "\n"
        T1_2 "\n"
        T1_3 "\n"
        T1_4 "\n"
        T1_5 "\n"
        T1_6 "\n";
static const Expect t1_events[] = {
        DATA(T1_1),
        DATA(T1_2),
        DATA(T1_3),
        DATA(T1_4),
        DATA(T1_5),
        DATA(T1_6),
};

#define T2F_1 "{\"model\":\"llama3.2\",\"created_at\":\"2026-03-02T10:20:00.1Z\",\"message\":{\"role\":\"assistant\",\"content\":\"The\"},\"done\":false}"
#define T2F_2 "{\"model\":\"llama3.2\",\"created_at\":\"2026-03-02T10:20:00.112Z\",\"message\":{\"role\":\"assistant\",\"content\":\" sky\"},\"done\":false}"
#define T2F_3 "{\"error\":\"an error was encountered while running the model\"}"
static const char t2f[] =
        T2F_1 "\n"
        T2F_2 "\n"
        T2F_3 "\n";
static const Expect t2f_events[] = {
        DATA(T2F_1),
        DATA(T2F_2),
        DATA(T2F_3),
};

#define T3_1 "{\"id\":\"chatcmpl-8f3a1c\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"Qwen/Qwen3-0.6B\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}"
#define T3_2 "{\"id\":\"chatcmpl-8f3a1c\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"Qwen/Qwen3-0.6B\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"The user wants a greeting.\"},\"logprobs\":null,\"finish_reason\":null}]}"
#define T3_3 "{\"id\":\"chatcmpl-8f3a1c\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"Qwen/Qwen3-0.6B\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"logprobs\":null,\"finish_reason\":null}]}"
#define T3_4 "{\"id\":\"chatcmpl-8f3a1c\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"Qwen/Qwen3-0.6B\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there! \xf0\x9f\x91\x8b\"},\"logprobs\":null,\"finish_reason\":null}]}"
#define T3_5 "{\"id\":\"chatcmpl-8f3a1c\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"Qwen/Qwen3-0.6B\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"logprobs\":null,\"finish_reason\":\"stop\",\"stop_reason\":null}]}"
#define T3_6 "{\"id\":\"chatcmpl-8f3a1c\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"Qwen/Qwen3-0.6B\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":28,\"completion_tokens\":16}}"
static const char t3[] =
        "data: " T3_1 "\n"
        "\n"
        "data: " T3_2 "\n"
        "\n"
        "data: " T3_3 "\n"
        "\n"
        "data: " T3_4 "\n"
        "\n"
        "data: " T3_5 "\n"
        "\n"
        "data: " T3_6 "\n"
        "\n"
        "data: [DONE]\n"
        "\n";
static const Expect t3_events[] = {
        DATA(T3_1),
        DATA(T3_2),
        DATA(T3_3),
        DATA(T3_4),
        DATA(T3_5),
        DATA(T3_6),
        DATA("[DONE]"),
};

#define T4_1 "{\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}],\"created\":1780390177,\"id\":\"chatcmpl-uI7JNfldkYifvjYLehw5OnRid3v0JxBC\",\"model\":\"qwen3-0.6b-q8_0.gguf\",\"system_fingerprint\":\"b9480-23e6dab86\",\"object\":\"chat.completion.chunk\"}"
#define T4_2 "{\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"reasoning_content\":\"Simple arithmetic.\"}}],\"created\":1780390177,\"id\":\"chatcmpl-uI7JNfldkYifvjYLehw5OnRid3v0JxBC\",\"model\":\"qwen3-0.6b-q8_0.gguf\",\"system_fingerprint\":\"b9480-23e6dab86\",\"object\":\"chat.completion.chunk\"}"
#define T4_3 "{\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"391\"}}],\"created\":1780390177,\"id\":\"chatcmpl-uI7JNfldkYifvjYLehw5OnRid3v0JxBC\",\"model\":\"qwen3-0.6b-q8_0.gguf\",\"system_fingerprint\":\"b9480-23e6dab86\",\"object\":\"chat.completion.chunk\"}"
#define T4_4 "{\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"delta\":{}}],\"created\":1780390178,\"id\":\"chatcmpl-uI7JNfldkYifvjYLehw5OnRid3v0JxBC\",\"model\":\"qwen3-0.6b-q8_0.gguf\",\"system_fingerprint\":\"b9480-23e6dab86\",\"object\":\"chat.completion.chunk\"}"
#define T4_5 "{\"choices\":[],\"created\":1780390178,\"id\":\"chatcmpl-uI7JNfldkYifvjYLehw5OnRid3v0JxBC\",\"model\":\"qwen3-0.6b-q8_0.gguf\",\"system_fingerprint\":\"b9480-23e6dab86\",\"object\":\"chat.completion.chunk\",\"usage\":{\"completion_tokens\":35,\"prompt_tokens\":237,\"total_tokens\":272,\"prompt_tokens_details\":{\"cached_tokens\":236}},\"timings\":{\"cache_n\":236,\"prompt_n\":1,\"prompt_ms\":30.958,\"prompt_per_token_ms\":30.958,\"prompt_per_second\":32.301828283480845,\"predicted_n\":35,\"predicted_ms\":661.064,\"predicted_per_token_ms\":18.887542857142858,\"predicted_per_second\":52.94494935437416}}"
static const char t4[] =
        ":\n"
        "\n"
        ":\n"
        "\n"
        "data: " T4_1 "\n"
        "\n"
        "data: " T4_2 "\n"
        "\n"
        "data: " T4_3 "\n"
        "\n"
        "data: " T4_4 "\n"
        "\n"
        "data: " T4_5 "\n"
        "\n"
        "data: [DONE]\n"
        "\n";
static const Expect t4_events[] = {
        COMMENT(""),
        COMMENT(""),
        DATA(T4_1),
        DATA(T4_2),
        DATA(T4_3),
        DATA(T4_4),
        DATA(T4_5),
        DATA("[DONE]"),
};

#define T4B_1 "{\"choices\":[{\"finish_reason\":\"length\",\"index\":0,\"delta\":{}}],\"created\":1757141666,\"id\":\"chatcmpl-ecQULm0WqPrftUqjPZO1CFYeDjGZNbDu\",\"model\":\"gpt-3.5-turbo\",\"object\":\"chat.completion.chunk\",\"usage\":{\"completion_tokens\":48,\"prompt_tokens\":44,\"total_tokens\":92},\"timings\":{\"prompt_n\":44,\"prompt_ms\":120.5,\"prompt_per_token_ms\":2.7386363636363638,\"prompt_per_second\":365.14522821576764,\"predicted_n\":48,\"predicted_ms\":912,\"predicted_per_token_ms\":19,\"predicted_per_second\":52.63157894736842}}"
static const char t4b[] =
        "data: " T4B_1 "\n"
        "\n"
        "data: [DONE]\n"
        "\n";
static const Expect t4b_events[] = {
        DATA(T4B_1),
        DATA("[DONE]"),
};

#define T4C_1 "{\"index\":0,\"content\":\"Hello\",\"tokens\":[9707],\"stop\":false,\"id_slot\":0,\"tokens_predicted\":1,\"tokens_evaluated\":5}"
#define T4C_2 "{\"index\":0,\"content\":\" world\",\"tokens\":[1879],\"stop\":false,\"id_slot\":0,\"tokens_predicted\":2,\"tokens_evaluated\":5}"
#define T4C_3 "{\"index\":0,\"content\":\"\",\"tokens\":[],\"stop\":true,\"stop_type\":\"eos\",\"stopping_word\":\"\",\"tokens_cached\":6,\"tokens_evaluated\":5,\"truncated\":false,\"timings\":{\"cache_n\":0,\"prompt_n\":5,\"prompt_ms\":10.5,\"prompt_per_token_ms\":2.1,\"prompt_per_second\":476.1904761904762,\"predicted_n\":2,\"predicted_ms\":20.3,\"predicted_per_token_ms\":10.15,\"predicted_per_second\":98.52216748768473}}"
static const char t4c[] =
        "data: " T4C_1 "\n"
        "\n"
        "data: " T4C_2 "\n"
        "\n"
        "data: " T4C_3 "\n"
        "\n";
static const Expect t4c_events[] = {
        DATA(T4C_1),
        DATA(T4C_2),
        DATA(T4C_3),
};

#define T5C_1 "{\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}],\"created\":1780390200,\"id\":\"chatcmpl-a1\",\"model\":\"m.gguf\",\"object\":\"chat.completion.chunk\"}"
#define T5C_2 "{\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"Partial\"}}],\"created\":1780390200,\"id\":\"chatcmpl-a1\",\"model\":\"m.gguf\",\"object\":\"chat.completion.chunk\"}"
#define T5C_3 "{\"error\":{\"code\":500,\"message\":\"Failed to decode the batch\",\"type\":\"server_error\"}}"
static const char t5c[] =
        "data: " T5C_1 "\n"
        "\n"
        "data: " T5C_2 "\n"
        "\n"
        "data: " T5C_3 "\n"
        "\n";
static const Expect t5c_events[] = {
        DATA(T5C_1),
        DATA(T5C_2),
        DATA(T5C_3),
};

#define T5D_1 "{\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"Partial\"}}],\"created\":1740000000,\"id\":\"chatcmpl-a2\",\"model\":\"m.gguf\",\"object\":\"chat.completion.chunk\"}"
#define T5D_2 "{\"code\":500,\"message\":\"Failed to decode the batch\",\"type\":\"server_error\"}"
static const char t5d[] =
        "data: " T5D_1 "\n"
        "\n"
        "error: " T5D_2 "\n"
        "\n";
static const Expect t5d_events[] = {
        DATA(T5D_1),
        ERROR_FIELD(T5D_2),
};

#define T5E_1 "{\"id\":\"chatcmpl-77\",\"object\":\"chat.completion.chunk\",\"created\":1767225700,\"model\":\"Qwen/Qwen3-0.6B\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}"
#define T5E_2 "{\"error\":{\"message\":\"EngineCore encountered an issue. See stack trace (above) for the root cause.\",\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}"
static const char t5e[] =
        "data: " T5E_1 "\n"
        "\n"
        "data: " T5E_2 "\n"
        "\n"
        "data: [DONE]\n"
        "\n";
static const Expect t5e_events[] = {
        DATA(T5E_1),
        DATA(T5E_2),
        DATA("[DONE]"),
};

#define T6E_1 "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}"
#define T6E_2 "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}"
static const char t6e[] =
        ": keep-alive\n"
        "\n"
        "data:" T6E_1 "\n"
        "\n"
        ": ping\n"
        "event: message\n"
        "id: 7\n"
        "retry: 3000\n"
        "data: " T6E_2 "\n"
        "\n"
        "data: [DONE]\n"
        "\n";
static const Expect t6e_events[] = {
        COMMENT("keep-alive"),
        DATA(T6E_1),
        COMMENT("ping"),
        DATA_TYPE("message", T6E_2),
        DATA("[DONE]"),
};

#define T6F_1 "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
#define T6F_2 "\"created\":1,\"model\":\"m\",\"choices\":[]}"
static const char t6f[] =
        "data: " T6F_1 "\n"
        "data: " T6F_2 "\n"
        "\n";
static const Expect t6f_events[] = {
        DATA("{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\n\"created\":1,\"model\":\"m\",\"choices\":[]}"),
};
/* clang-format on */

typedef struct Transcript {
        const char *name;
        StreamFormat format;
        const char *wire;
        size_t size;
        const Expect *events;
        size_t n_events;
} Transcript;

#define TRANSCRIPT(n, f) \
        { #n, f, n, sizeof(n) - 1, n##_events, G_N_ELEMENTS(n##_events) }

static const Transcript transcripts[] = {
        TRANSCRIPT(t1, STREAM_FORMAT_NDJSON), TRANSCRIPT(t2f, STREAM_FORMAT_NDJSON),
        TRANSCRIPT(t3, STREAM_FORMAT_SSE),    TRANSCRIPT(t4, STREAM_FORMAT_SSE),
        TRANSCRIPT(t4b, STREAM_FORMAT_SSE),   TRANSCRIPT(t4c, STREAM_FORMAT_SSE),
        TRANSCRIPT(t5c, STREAM_FORMAT_SSE),   TRANSCRIPT(t5d, STREAM_FORMAT_SSE),
        TRANSCRIPT(t5e, STREAM_FORMAT_SSE),   TRANSCRIPT(t6e, STREAM_FORMAT_SSE),
        TRANSCRIPT(t6f, STREAM_FORMAT_SSE),
};

/* ---- recording ---------------------------------------------------------------------------------- */

typedef struct Event {
        StreamEventKind kind;
        char *type;
        GBytes *data;
} Event;

static void event_free(Event *e) {
        g_free(e->type);
        g_bytes_unref(e->data);
        g_free(e);
}

typedef struct Run {
        StreamFormat format;
        GPtrArray *events;
        unsigned abort_at; /* the handler fails on this event (1-based), 0 = never */
        int feed_r;        /* the first error of stream_parser_feed(), or 0 */
        int finish_r;
} Run;

static void run_init(Run *run, StreamFormat format) {
        *run = (Run){
                .format = format,
                .events = g_ptr_array_new_with_free_func((GDestroyNotify) event_free),
        };
}

static void run_done(Run *run) {
        g_clear_pointer(&run->events, g_ptr_array_unref);
}

static int record(const StreamEvent *ev, void *userdata) {
        Run *run = userdata;
        Event *e;

        g_assert_nonnull(ev->data);
        g_assert_cmpint(ev->data[ev->size], ==, 0);
        g_assert_null(memchr(ev->data, '\r', ev->size));
        if (ev->kind != STREAM_EVENT_DATA || run->format == STREAM_FORMAT_NDJSON)
                g_assert_null(memchr(ev->data, '\n', ev->size));
        if (run->format == STREAM_FORMAT_NDJSON) {
                g_assert_cmpint(ev->kind, ==, STREAM_EVENT_DATA);
                g_assert_cmpuint(ev->size, >, 0);
                g_assert_null(ev->event_type);
        }
        if (ev->kind != STREAM_EVENT_DATA)
                g_assert_null(ev->event_type);

        e = g_new0(Event, 1);
        e->kind = ev->kind;
        e->type = g_strdup(ev->event_type);
        e->data = g_bytes_new(ev->data, ev->size);
        g_ptr_array_add(run->events, e);

        if (run->abort_at > 0 && run->events->len == run->abort_at)
                return -ECANCELED;
        return 1; /* positive values mean success too */
}

/* Feeds @in cut at the offsets in @cuts (ascending), then finishes. */
static void run_feed_cuts(Run *run, size_t max_line, const char *in, size_t size, const size_t *cuts,
                          size_t n_cuts) {
        _cleanup_stream_parser_free_ StreamParser *p = NULL;
        size_t start = 0;

        g_assert_cmpint(stream_parser_new(run->format, max_line, record, run, &p), ==, 0);

        for (size_t i = 0; i <= n_cuts; i++) {
                size_t end = i < n_cuts ? cuts[i] : size;
                int r;

                g_assert_cmpuint(end, >=, start);
                r = stream_parser_feed(p, in + start, end - start);
                if (run->feed_r < 0)
                        g_assert_cmpint(r, ==, run->feed_r); /* errors are sticky */
                else
                        run->feed_r = r;
                g_assert_cmpint(r, <=, 0);
                start = end;
        }
        g_assert_cmpuint(stream_parser_bytes(p), ==, size);

        run->finish_r = stream_parser_finish(p);
        if (run->feed_r < 0)
                g_assert_cmpint(run->finish_r, ==, run->feed_r);
        else if (run->finish_r >= 0) {
                g_assert_cmpint(stream_parser_feed(p, "x", 1), ==, -ESTALE);
                g_assert_cmpint(stream_parser_finish(p), ==, 0);
        }
}

static void run_feed_pieces(Run *run, size_t max_line, const char *in, size_t size, size_t piece) {
        g_autofree size_t *cuts = NULL;
        size_t n = 0;

        cuts = g_new(size_t, size / piece + 1);
        for (size_t o = piece; o < size; o += piece)
                cuts[n++] = o;
        run_feed_cuts(run, max_line, in, size, cuts, n);
}

static void assert_event(const Event *e, const Expect *x) {
        g_assert_cmpstr(stream_event_kind_to_string(e->kind), ==, stream_event_kind_to_string(x->kind));
        g_assert_cmpstr(e->type, ==, x->type);
        g_assert_cmpmem(g_bytes_get_data(e->data, NULL), g_bytes_get_size(e->data), x->data, x->size);
}

static void assert_events(const Run *run, const Expect *x, size_t n) {
        g_assert_cmpuint(run->events->len, ==, n);
        for (size_t i = 0; i < n; i++)
                assert_event(run->events->pdata[i], &x[i]);
}

static void assert_runs_equal(const Run *a, const Run *b) {
        g_assert_cmpint(a->feed_r, ==, b->feed_r);
        g_assert_cmpint(a->finish_r, ==, b->finish_r);
        g_assert_cmpuint(a->events->len, ==, b->events->len);
        for (size_t i = 0; i < a->events->len; i++) {
                const Event *x = a->events->pdata[i], *y = b->events->pdata[i];

                g_assert_cmpint(x->kind, ==, y->kind);
                g_assert_cmpstr(x->type, ==, y->type);
                g_assert_true(g_bytes_equal(x->data, y->data));
        }
}

/* Checks @in against the expected events whole, byte by byte, cut at every single point, and cut
 * at random points; every way must give the same events and results. */
static void check_stream_full(StreamFormat format, size_t max_line, const char *in, size_t size,
                              const Expect *x, size_t n, int feed_r, int finish_r) {
        Run whole, bytes;

        run_init(&whole, format);
        run_feed_cuts(&whole, max_line, in, size, NULL, 0);
        assert_events(&whole, x, n);
        g_assert_cmpint(whole.feed_r, ==, feed_r);
        g_assert_cmpint(whole.finish_r, ==, finish_r);

        run_init(&bytes, format);
        run_feed_pieces(&bytes, max_line, in, size, 1);
        assert_runs_equal(&whole, &bytes);
        run_done(&bytes);

        for (size_t cut = 0; cut <= size; cut++) {
                Run split;

                run_init(&split, format);
                run_feed_cuts(&split, max_line, in, size, &cut, 1);
                assert_runs_equal(&whole, &split);
                run_done(&split);
        }

        for (unsigned k = 0; k < 20; k++) {
                size_t cuts[8];
                Run random;

                for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++)
                        cuts[i] = (size_t) g_test_rand_int_range(0, (gint32) size + 1);
                for (size_t i = 1; i < G_N_ELEMENTS(cuts); i++) /* insertion sort */
                        for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                                size_t t = cuts[j];
                                cuts[j] = cuts[j - 1];
                                cuts[j - 1] = t;
                        }

                run_init(&random, format);
                run_feed_cuts(&random, max_line, in, size, cuts, G_N_ELEMENTS(cuts));
                assert_runs_equal(&whole, &random);
                run_done(&random);
        }

        run_done(&whole);
}

static void check_stream(StreamFormat format, const char *in, size_t size, const Expect *x, size_t n,
                         int finish_r) {
        check_stream_full(format, 0, in, size, x, n, 0, finish_r);
}

#define CHECK(format, in, finish_r, ...)                                                    \
        do {                                                                                \
                static const Expect _x_[] = {__VA_ARGS__};                                  \
                check_stream(format, in, sizeof(in) - 1, _x_, G_N_ELEMENTS(_x_), finish_r); \
        } while (0)

#define CHECK_NONE(format, in, finish_r) check_stream(format, in, sizeof(in) - 1, NULL, 0, finish_r)

/* Additionally cuts at every pair of points: for short inputs only. */
static void check_stream_pairs(StreamFormat format, const char *in, size_t size, const Expect *x, size_t n) {
        Run whole;

        check_stream(format, in, size, x, n, 0);

        run_init(&whole, format);
        run_feed_cuts(&whole, 0, in, size, NULL, 0);
        for (size_t a = 0; a <= size; a++)
                for (size_t b = a; b <= size; b++) {
                        size_t cuts[] = {a, b};
                        Run split;

                        run_init(&split, format);
                        run_feed_cuts(&split, 0, in, size, cuts, G_N_ELEMENTS(cuts));
                        assert_runs_equal(&whole, &split);
                        run_done(&split);
                }
        run_done(&whole);
}

static char *replace_lf(const char *s, size_t size, const char *with, size_t *ret_size) {
        GString *g = g_string_sized_new(size * 2);

        for (size_t i = 0; i < size; i++)
                if (s[i] == '\n')
                        g_string_append(g, with);
                else
                        g_string_append_c(g, s[i]);

        *ret_size = g->len;
        return g_string_free(g, FALSE);
}

/* ---- tests -------------------------------------------------------------------------------------- */

static void test_format_strings(void) {
        g_assert_cmpstr(stream_format_to_string(STREAM_FORMAT_NDJSON), ==, "ndjson");
        g_assert_cmpstr(stream_format_to_string(STREAM_FORMAT_SSE), ==, "sse");
        g_assert_null(stream_format_to_string(_STREAM_FORMAT_MAX));
        g_assert_null(stream_format_to_string(_STREAM_FORMAT_INVALID));
        g_assert_cmpint(stream_format_from_string("ndjson"), ==, STREAM_FORMAT_NDJSON);
        g_assert_cmpint(stream_format_from_string("sse"), ==, STREAM_FORMAT_SSE);
        g_assert_cmpint(stream_format_from_string("SSE"), ==, -EINVAL);
        g_assert_cmpint(stream_format_from_string(""), ==, -EINVAL);
        g_assert_cmpint(stream_format_from_string(NULL), ==, -EINVAL);

        g_assert_cmpstr(stream_event_kind_to_string(STREAM_EVENT_DATA), ==, "data");
        g_assert_cmpstr(stream_event_kind_to_string(STREAM_EVENT_COMMENT), ==, "comment");
        g_assert_cmpstr(stream_event_kind_to_string(STREAM_EVENT_ERROR_FIELD), ==, "error-field");
        g_assert_null(stream_event_kind_to_string(_STREAM_EVENT_KIND_MAX));
}

static void test_new_invalid(void) {
        StreamParser *p = NULL;

        g_assert_cmpint(stream_parser_new(_STREAM_FORMAT_MAX, 0, record, NULL, &p), ==, -EINVAL);
        g_assert_cmpint(stream_parser_new(_STREAM_FORMAT_INVALID, 0, record, NULL, &p), ==, -EINVAL);
        g_assert_cmpint(stream_parser_new(STREAM_FORMAT_SSE, 0, NULL, NULL, &p), ==, -EINVAL);
        g_assert_cmpint(stream_parser_new(STREAM_FORMAT_SSE, 0, record, NULL, NULL), ==, -EINVAL);
        g_assert_cmpint(stream_parser_new(STREAM_FORMAT_SSE, (size_t) 2 << 30, record, NULL, &p), ==,
                        -ERANGE);
        g_assert_null(p);
        g_assert_null(stream_parser_free(NULL));

        g_assert_cmpint(stream_parser_new(STREAM_FORMAT_SSE, (size_t) 1 << 30, record, NULL, &p), ==, 0);
        g_assert_nonnull(p);
        g_assert_cmpint(stream_parser_feed(p, NULL, 0), ==, 0);
        g_assert_cmpuint(stream_parser_bytes(p), ==, 0);
        g_assert_null(stream_parser_free(p));
}

static void test_transcript(gconstpointer userdata) {
        const Transcript *t = userdata;

        check_stream(t->format, t->wire, t->size, t->events, t->n_events, 0);
}

/* The same transcript with CRLF, lone CR, and mixed line ends, and with a BOM in front. */
static void test_transcript_variants(gconstpointer userdata) {
        const Transcript *t = userdata;
        static const char *const endings[] = {"\r\n", "\r", "\n\r\n"};
        g_autofree char *bom = NULL;

        for (size_t i = 0; i < G_N_ELEMENTS(endings); i++) {
                g_autofree char *s = NULL;
                size_t size;

                /* "\n\r\n" doubles every line end: SSE would dispatch early (t6f), NDJSON just has blanks */
                if (i == 2 && t->format == STREAM_FORMAT_SSE)
                        continue;
                s = replace_lf(t->wire, t->size, endings[i], &size);
                check_stream(t->format, s, size, t->events, t->n_events, 0);
        }

        bom = g_strconcat("\xEF\xBB\xBF", t->wire, NULL);
        check_stream(t->format, bom, t->size + 3, t->events, t->n_events, 0);
}

/* T2g/T5g: cut short. An unterminated last line is delivered for NDJSON (finish() says 1); an SSE
 * event without its blank line is dropped (finish() says 1). A cut on an event boundary is clean. */
static void test_transcript_truncated(void) {
        check_stream(STREAM_FORMAT_NDJSON, t1, sizeof(t1) - 2, t1_events, G_N_ELEMENTS(t1_events), 1);
        check_stream(STREAM_FORMAT_NDJSON, t2f, strstr(t2f, "{\"error\"") - t2f, t2f_events, 2, 0);
        check_stream(STREAM_FORMAT_SSE, t3, sizeof(t3) - 2, t3_events, G_N_ELEMENTS(t3_events) - 1, 1);
        check_stream(STREAM_FORMAT_SSE, t3, sizeof(t3) - 1 - strlen("\ndata: [DONE]\n\n"), t3_events,
                     G_N_ELEMENTS(t3_events) - 2, 1);
        check_stream(STREAM_FORMAT_SSE, t3, strstr(t3, "data: " T3_3) - t3, t3_events, 2, 0);
}

/* T6a: line 2 of T1 in three writes, cut inside "thinking" and between the two bytes of U+00D7. */
static void test_split_utf8(void) {
        const char *line = strstr(t1, T1_2);
        const char *times = strstr(line, "\xC3\x97");
        size_t cuts[] = {strstr(line, "thinking") + 4 - t1, times + 1 - t1};
        GBytes *line2;
        Run run;

        g_assert_nonnull(times);
        run_init(&run, STREAM_FORMAT_NDJSON);
        run_feed_cuts(&run, 0, t1, sizeof(t1) - 1, cuts, G_N_ELEMENTS(cuts));
        assert_events(&run, t1_events, G_N_ELEMENTS(t1_events));
        line2 = ((Event *) run.events->pdata[1])->data;
        g_assert_nonnull(g_strstr_len(g_bytes_get_data(line2, NULL), (gssize) g_bytes_get_size(line2),
                                      "17 \xC3\x97 23."));
        g_assert_true(
                g_utf8_validate(g_bytes_get_data(line2, NULL), (gssize) g_bytes_get_size(line2), NULL));
        run_done(&run);

        CHECK(STREAM_FORMAT_SSE, "data: \xF0\x9F\x91\x8B\n\n", 0, DATA("\xF0\x9F\x91\x8B"));
}

static void test_ndjson_lines(void) {
        CHECK(STREAM_FORMAT_NDJSON, "{\"a\":1}\n{\"b\":2}\n", 0, DATA("{\"a\":1}"), DATA("{\"b\":2}"));
        /* empty lines of every kind are skipped */
        CHECK(STREAM_FORMAT_NDJSON, "\n\r\n\r{\"a\":1}\n\n\r\n\r\r{\"b\":2}\r\n\n", 0, DATA("{\"a\":1}"),
              DATA("{\"b\":2}"));
        CHECK(STREAM_FORMAT_NDJSON, "a\r\nb\rc\nd\r\n", 0, DATA("a"), DATA("b"), DATA("c"), DATA("d"));
        /* whitespace is not empty: the backend sees it */
        CHECK(STREAM_FORMAT_NDJSON, " \n\t\n", 0, DATA(" "), DATA("\t"));
        CHECK_NONE(STREAM_FORMAT_NDJSON, "", 0);
        CHECK_NONE(STREAM_FORMAT_NDJSON, "\n\n\r\n", 0);
        /* an unterminated last line is delivered at finish(), which says so */
        CHECK(STREAM_FORMAT_NDJSON, "a\nb", 1, DATA("a"), DATA("b"));
        CHECK(STREAM_FORMAT_NDJSON, "a\nb\r", 0, DATA("a"), DATA("b"));
        /* "[DONE]" is just data */
        CHECK(STREAM_FORMAT_NDJSON, "[DONE]\n", 0, DATA("[DONE]"));
}

static void test_cr_lf_across_feeds(void) {
        size_t cut;
        Run run;

        /* CR ends one feed, LF starts the next: one terminator, no empty line, no extra dispatch */
        static const char sse[] = "data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n";
        static const Expect sse_x[] = {DATA("a\nb"), DATA("c")};
        for (size_t i = 0; i < sizeof(sse) - 1; i++) {
                if (sse[i] != '\r')
                        continue;
                cut = i + 1;
                run_init(&run, STREAM_FORMAT_SSE);
                run_feed_cuts(&run, 0, sse, sizeof(sse) - 1, &cut, 1);
                assert_events(&run, sse_x, G_N_ELEMENTS(sse_x));
                run_done(&run);
        }

        /* an LF is swallowed only right after a CR, and only one */
        CHECK(STREAM_FORMAT_SSE, "data: a\r\n\ndata: b\r\r", 0, DATA("a"), DATA("b"));
        CHECK(STREAM_FORMAT_SSE, "data: a\r\n\n\n\ndata: b\n\r", 0, DATA("a"), DATA("b"));
        CHECK(STREAM_FORMAT_NDJSON, "a\r\n\nb\n\rc\r", 0, DATA("a"), DATA("b"), DATA("c"));

        /* CR as the very last byte of a feed followed by more data (not LF) */
        CHECK(STREAM_FORMAT_SSE, "data: a\rdata: b\r\r", 0, DATA("a\nb"));
}

static void test_sse_fields(void) {
        /* one leading space is removed, only one */
        CHECK(STREAM_FORMAT_SSE, "data: x\n\ndata:x\n\ndata:  x\n\ndata:\tx\n\n", 0, DATA("x"), DATA("x"),
              DATA(" x"), DATA("\tx"));
        /* only the first ':' separates */
        CHECK(STREAM_FORMAT_SSE, "data: a: b:c\n\n", 0, DATA("a: b:c"));
        /* several data lines are joined with "\n", the last "\n" is dropped */
        CHECK(STREAM_FORMAT_SSE, "data: a\ndata: b\ndata:\ndata: c\n\n", 0, DATA("a\nb\n\nc"));
        CHECK(STREAM_FORMAT_SSE, "data:\ndata:\n\n", 0, DATA("\n"));
        /* a data field with an empty value is an event with empty data (WHATWG), no data field is none */
        CHECK(STREAM_FORMAT_SSE, "data:\n\n", 0, DATA(""));
        CHECK(STREAM_FORMAT_SSE, "data\n\n", 0, DATA(""));
        CHECK_NONE(STREAM_FORMAT_SSE, "\n\n\r\n\r\r\n", 0);
        CHECK_NONE(STREAM_FORMAT_SSE, "id: 1\nretry: 10\nfoo: bar\nfoo\nDATA: x\nData: y\ndata : z\n\n", 0);
        /* event type: reported with its event, reset after dispatch, also when nothing is dispatched */
        CHECK(STREAM_FORMAT_SSE, "event: a\nevent: b\ndata: 1\n\ndata: 2\n\nevent: c\n\ndata: 3\n\n", 0,
              DATA_TYPE("b", "1"), DATA("2"), DATA("3"));
        CHECK(STREAM_FORMAT_SSE, "event:\ndata: 1\n\nevent\ndata: 2\n\nevent:  sp\ndata: 3\n\n", 0,
              DATA("1"), DATA("2"), DATA_TYPE(" sp", "3"));
        CHECK(STREAM_FORMAT_SSE, "data: 1\nevent: late\n\n", 0, DATA_TYPE("late", "1"));
        /* fields between data lines do not break the event */
        CHECK(STREAM_FORMAT_SSE, "data: a\nid: 5\n: ping\ndata: b\n\n", 0, COMMENT("ping"), DATA("a\nb"));
        /* "[DONE]" is just data: the backend decides */
        CHECK(STREAM_FORMAT_SSE, "data: [DONE]\n\ndata: after\n\n", 0, DATA("[DONE]"), DATA("after"));
}

static void test_sse_comments(void) {
        CHECK(STREAM_FORMAT_SSE, ":\n: ping\n:keep-alive\n:  two\n::\n", 0, COMMENT(""), COMMENT("ping"),
              COMMENT("keep-alive"), COMMENT(" two"), COMMENT(":"));
        /* comments are not events and do not dispatch one */
        CHECK(STREAM_FORMAT_SSE, "data: a\n:\n\n", 0, COMMENT(""), DATA("a"));
}

static void test_sse_error_field(void) {
        CHECK(STREAM_FORMAT_SSE, "error: {\"code\":500}\n\n", 0, ERROR_FIELD("{\"code\":500}"));
        CHECK(STREAM_FORMAT_SSE, "error:x\nerror\n\n", 0, ERROR_FIELD("x"), ERROR_FIELD(""));
        /* reported at once, the pending event is unaffected */
        CHECK(STREAM_FORMAT_SSE, "data: a\nerror: e\ndata: b\n\n", 0, ERROR_FIELD("e"), DATA("a\nb"));
        CHECK_NONE(STREAM_FORMAT_SSE, "errors: x\nError: y\n\n", 0);
}

static void test_sse_finish(void) {
        /* an event without its blank line is discarded: finish() reports it */
        CHECK_NONE(STREAM_FORMAT_SSE, "data: a\n", 1);
        CHECK_NONE(STREAM_FORMAT_SSE, "data: a", 1);
        CHECK_NONE(STREAM_FORMAT_SSE, "data: a\r", 1);
        CHECK(STREAM_FORMAT_SSE, "data: a\n\ndata: b\n", 1, DATA("a"));
        CHECK(STREAM_FORMAT_SSE, "data: a\n\n:", 1, DATA("a"));
        CHECK(STREAM_FORMAT_SSE, "data: a\n\n: ping\n", 0, DATA("a"), COMMENT("ping"));
        /* nothing pending but an event type or an id: no data lost */
        CHECK_NONE(STREAM_FORMAT_SSE, "event: x\nid: 1\n", 0);
        CHECK_NONE(STREAM_FORMAT_SSE, "", 0);
}

static void test_bom(void) {
        CHECK(STREAM_FORMAT_NDJSON, "\xEF\xBB\xBF{}\n", 0, DATA("{}"));
        CHECK(STREAM_FORMAT_SSE,
              "\xEF\xBB\xBF"
              "data: x\n\n",
              0, DATA("x"));
        CHECK(STREAM_FORMAT_SSE, "\xEF\xBB\xBF:\n", 0, COMMENT(""));
        CHECK_NONE(STREAM_FORMAT_NDJSON, "\xEF\xBB\xBF", 0);
        CHECK_NONE(STREAM_FORMAT_NDJSON, "\xEF\xBB\xBF\n", 0);
        /* only one, and only at the very start */
        CHECK(STREAM_FORMAT_NDJSON, "\xEF\xBB\xBF\xEF\xBB\xBF{}\n", 0, DATA("\xEF\xBB\xBF{}"));
        CHECK(STREAM_FORMAT_NDJSON, "{}\n\xEF\xBB\xBF{}\n", 0, DATA("{}"), DATA("\xEF\xBB\xBF{}"));
        CHECK(STREAM_FORMAT_NDJSON, "\n\xEF\xBB\xBF{}\n", 0, DATA("\xEF\xBB\xBF{}"));
        CHECK_NONE(STREAM_FORMAT_SSE,
                   "\xEF\xBB\xBF\xEF\xBB\xBF"
                   "data: x\n\n",
                   0); /* field "\uFEFFdata" */
        /* a BOM prefix that turns out to be something else is data */
        CHECK(STREAM_FORMAT_NDJSON, "\xEF\xBBx\n", 0, DATA("\xEF\xBBx"));
        CHECK(STREAM_FORMAT_NDJSON, "\xEF\n", 0, DATA("\xEF"));
        CHECK(STREAM_FORMAT_NDJSON, "\xEF\xBB\n", 0, DATA("\xEF\xBB"));
        CHECK(STREAM_FORMAT_NDJSON, "\xEF\xBB", 1, DATA("\xEF\xBB"));
        CHECK(STREAM_FORMAT_NDJSON, "\xEF", 1, DATA("\xEF"));
        CHECK(STREAM_FORMAT_NDJSON, "\xBB\xBF\n", 0, DATA("\xBB\xBF"));
        CHECK_NONE(STREAM_FORMAT_SSE, "\xEF\xBB", 1);
}

static void test_nul_bytes(void) {
        CHECK(STREAM_FORMAT_NDJSON, "a\0b\n\0\n", 0, DATA("a\0b"), DATA("\0"));
        CHECK(STREAM_FORMAT_SSE, "data: a\0b\ndata:\0\n\n", 0, DATA("a\0b\n\0"));
        CHECK(STREAM_FORMAT_SSE, ": \0\nerror: \0x\n\n", 0, COMMENT("\0"), ERROR_FIELD("\0x"));
        /* a NUL in the field name makes it another field */
        CHECK_NONE(STREAM_FORMAT_SSE, "da\0ta: x\ndata\0: y\n\n", 0);
        CHECK(STREAM_FORMAT_SSE, "event: a\0b\ndata: x\n\n", 0, DATA_TYPE("a", "x"));
        /* found by the fuzzer: an event type cut to nothing by a NUL is no event type */
        CHECK(STREAM_FORMAT_SSE, "event: \0a\ndata: x\n\n", 0, DATA("x"));
}

/* The fixed inputs above, additionally cut at every pair of points. */
static void test_all_cut_pairs(void) {
        static const char sse[] = "\xEF\xBB\xBF"
                                  "data: x\r\n: c\r\rdata:y\ndata:  z\r\n\r\nevent: e\ndata\n\r";
        static const Expect sse_x[] = {COMMENT("c"), DATA("x"), DATA("y\n z"), DATA_TYPE("e", "")};
        static const char nd[] = "\xEF\xBB\xBF{\"a\":\"\xC3\x97\"}\r\n\r\n\rb\rc\n\xEF\xBB\xBF\n";
        static const Expect nd_x[] = {DATA("{\"a\":\"\xC3\x97\"}"), DATA("b"), DATA("c"),
                                      DATA("\xEF\xBB\xBF")};

        check_stream_pairs(STREAM_FORMAT_SSE, sse, sizeof(sse) - 1, sse_x, G_N_ELEMENTS(sse_x));
        check_stream_pairs(STREAM_FORMAT_NDJSON, nd, sizeof(nd) - 1, nd_x, G_N_ELEMENTS(nd_x));
}

/* A 4 MiB line fed in 64 KiB pieces; the line must arrive intact as one event. */
static void check_huge(StreamFormat format, const char *prefix, const char *suffix) {
        const size_t n = 4 * 1024 * 1024;
        g_autoptr(GString) s = g_string_new(prefix);
        g_autofree char *line = g_malloc(n);
        const Event *e;
        Run run;

        for (size_t i = 0; i < n; i++)
                line[i] = (char) ("0123456789,"[i % 11]);
        g_string_append_len(s, line, (gssize) n);
        g_string_append(s, suffix);
        g_string_append(s, format == STREAM_FORMAT_SSE ? "data: next\n\n" : "next\n");

        run_init(&run, format);
        run_feed_pieces(&run, 0, s->str, s->len, 64 * 1024);
        g_assert_cmpint(run.feed_r, ==, 0);
        g_assert_cmpint(run.finish_r, ==, 0);
        g_assert_cmpuint(run.events->len, ==, 2);
        e = run.events->pdata[0];
        g_assert_cmpmem(g_bytes_get_data(e->data, NULL), g_bytes_get_size(e->data), line, n);
        e = run.events->pdata[1];
        g_assert_cmpmem(g_bytes_get_data(e->data, NULL), g_bytes_get_size(e->data), "next", 4);
        run_done(&run);

        /* the same with a limit one byte too small: -E2BIG, sticky, nothing after it */
        run_init(&run, format);
        run_feed_pieces(&run, n - 1, s->str, s->len, 64 * 1024);
        g_assert_cmpint(run.feed_r, ==, -E2BIG);
        g_assert_cmpint(run.finish_r, ==, -E2BIG);
        g_assert_cmpuint(run.events->len, ==, 0);
        run_done(&run);

        /* and exactly at the limit */
        run_init(&run, format);
        run_feed_pieces(&run, n + (format == STREAM_FORMAT_SSE ? strlen(prefix) : 0), s->str, s->len,
                        64 * 1024);
        g_assert_cmpint(run.feed_r, ==, 0);
        g_assert_cmpuint(run.events->len, ==, 2);
        run_done(&run);
}

static void test_huge_line(void) {
        check_huge(STREAM_FORMAT_NDJSON, "", "\n");
        check_huge(STREAM_FORMAT_NDJSON, "", "\r");
        check_huge(STREAM_FORMAT_SSE, "data: ", "\n\n");
        check_huge(STREAM_FORMAT_SSE, "data:", "\r\n\r\n");
}

/* Many small lines: a giant feed must be linear, not rescan anything. */
static void test_many_lines(void) {
        g_autoptr(GString) s = g_string_new(NULL);
        Run run;

        for (unsigned i = 0; i < 200000; i++)
                g_string_append_printf(s, "data: %u%s", i,
                                       (const char *[]){"\r\r", "\r\n\r\n", "\n\n"}[i % 3]);
        run_init(&run, STREAM_FORMAT_SSE);
        run_feed_cuts(&run, 0, s->str, s->len, NULL, 0);
        g_assert_cmpuint(run.events->len, ==, 200000);
        assert_event(run.events->pdata[199999], &(Expect) DATA("199999"));
        run_done(&run);
}

static void test_max_line(void) {
        static const Expect x[] = {DATA("0123456789abcdef")};

        /* 16 bytes pass, terminators do not count */
        check_stream_full(STREAM_FORMAT_NDJSON, 16, "0123456789abcdef\r\n", 18, x, 1, 0, 0);
        check_stream_full(STREAM_FORMAT_NDJSON, 16, "0123456789abcdef", 16, x, 1, 0, 1);
        /* 17 do not: failure as soon as the line is too long, before its end arrives */
        check_stream_full(STREAM_FORMAT_NDJSON, 16, "0123456789abcdef\nX0123456789abcdef", 34, x, 1, -E2BIG,
                          -E2BIG);
        check_stream_full(STREAM_FORMAT_NDJSON, 16, "0123456789abcdef\n0123456789abcdefX\nok\n", 38, x, 1,
                          -E2BIG, -E2BIG);
        /* a BOM prefix that was data counts */
        check_stream_full(STREAM_FORMAT_NDJSON, 2, "\xEF\xBBx\n", 4, NULL, 0, -E2BIG, -E2BIG);
        check_stream_full(STREAM_FORMAT_NDJSON, 1, "\xEF\xBB", 2, NULL, 0, 0, -E2BIG);

        /* SSE: the line including its field name, and the joined data of one event */
        check_stream_full(STREAM_FORMAT_SSE, 16, "data: 0123456789\n\n", 18,
                          (const Expect[]){DATA("0123456789")}, 1, 0, 0);
        check_stream_full(STREAM_FORMAT_SSE, 16, "data: 0123456789a\n\n", 19, NULL, 0, -E2BIG, -E2BIG);
        check_stream_full(STREAM_FORMAT_SSE, 16, "data: 0123456\ndata: 01234567\n\n", 30,
                          (const Expect[]){DATA("0123456\n01234567")}, 1, 0, 0);
        check_stream_full(STREAM_FORMAT_SSE, 16, "data: 01234567\ndata: 01234567\n\n", 31, NULL, 0, -E2BIG,
                          -E2BIG);
        check_stream_full(STREAM_FORMAT_SSE, 16, "data: a\n\n: 0123456789abcdef\n", 28,
                          (const Expect[]){DATA("a")}, 1, -E2BIG, -E2BIG);
}

static void test_handler_abort(void) {
        for (unsigned at = 1; at <= G_N_ELEMENTS(t4_events); at++) {
                Run whole, bytes;

                run_init(&whole, STREAM_FORMAT_SSE);
                whole.abort_at = at;
                run_feed_cuts(&whole, 0, t4, sizeof(t4) - 1, NULL, 0);
                g_assert_cmpint(whole.feed_r, ==, -ECANCELED);
                g_assert_cmpint(whole.finish_r, ==, -ECANCELED);
                assert_events(&whole, t4_events, at);

                run_init(&bytes, STREAM_FORMAT_SSE);
                bytes.abort_at = at;
                run_feed_pieces(&bytes, 0, t4, sizeof(t4) - 1, 1);
                assert_runs_equal(&whole, &bytes);

                run_done(&whole);
                run_done(&bytes);
        }

        /* an abort from the line delivered by finish() */
        {
                Run run;

                run_init(&run, STREAM_FORMAT_NDJSON);
                run.abort_at = 2;
                run_feed_cuts(&run, 0, "a\nb", 3, NULL, 0);
                g_assert_cmpint(run.feed_r, ==, 0);
                g_assert_cmpint(run.finish_r, ==, -ECANCELED);
                g_assert_cmpuint(run.events->len, ==, 2);
                run_done(&run);
        }
}

static void test_bytes_and_lifecycle(void) {
        _cleanup_stream_parser_free_ StreamParser *p = NULL;
        Run run;

        run_init(&run, STREAM_FORMAT_NDJSON);
        g_assert_cmpint(stream_parser_new(STREAM_FORMAT_NDJSON, 4, record, &run, &p), ==, 0);
        g_assert_cmpint(stream_parser_feed(p, "ab\n", 3), ==, 0);
        g_assert_cmpint(stream_parser_feed(p, "", 0), ==, 0);
        g_assert_cmpint(stream_parser_feed(p, "abcde", 5), ==, -E2BIG);
        g_assert_cmpint(stream_parser_feed(p, "\n", 1), ==, -E2BIG);
        g_assert_cmpuint(stream_parser_bytes(p), ==, 9);
        g_assert_cmpint(stream_parser_finish(p), ==, -E2BIG);
        g_assert_cmpint(stream_parser_finish(p), ==, -E2BIG);
        g_assert_cmpuint(run.events->len, ==, 1);
        run_done(&run);
        p = stream_parser_free(p);

        run_init(&run, STREAM_FORMAT_SSE);
        g_assert_cmpint(stream_parser_new(STREAM_FORMAT_SSE, 0, record, &run, &p), ==, 0);
        g_assert_cmpint(stream_parser_feed(p, "data: x\n\n", 9), ==, 0);
        g_assert_cmpint(stream_parser_finish(p), ==, 0);
        g_assert_cmpint(stream_parser_feed(p, "data: y\n\n", 9), ==, -ESTALE);
        g_assert_cmpint(stream_parser_finish(p), ==, 0);
        g_assert_cmpuint(stream_parser_bytes(p), ==, 18);
        g_assert_cmpuint(run.events->len, ==, 1);
        run_done(&run);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/stream-parse/format-strings", test_format_strings);
        g_test_add_func("/stream-parse/new-invalid", test_new_invalid);
        for (size_t i = 0; i < G_N_ELEMENTS(transcripts); i++) {
                g_autofree char *path = g_strdup_printf("/stream-parse/transcript/%s", transcripts[i].name);
                g_autofree char *variants = g_strdup_printf("%s/line-ends-and-bom", path);

                g_test_add_data_func(path, &transcripts[i], test_transcript);
                g_test_add_data_func(variants, &transcripts[i], test_transcript_variants);
        }
        g_test_add_func("/stream-parse/transcript-truncated", test_transcript_truncated);
        g_test_add_func("/stream-parse/split-utf8", test_split_utf8);
        g_test_add_func("/stream-parse/ndjson-lines", test_ndjson_lines);
        g_test_add_func("/stream-parse/cr-lf-across-feeds", test_cr_lf_across_feeds);
        g_test_add_func("/stream-parse/sse-fields", test_sse_fields);
        g_test_add_func("/stream-parse/sse-comments", test_sse_comments);
        g_test_add_func("/stream-parse/sse-error-field", test_sse_error_field);
        g_test_add_func("/stream-parse/sse-finish", test_sse_finish);
        g_test_add_func("/stream-parse/bom", test_bom);
        g_test_add_func("/stream-parse/nul-bytes", test_nul_bytes);
        g_test_add_func("/stream-parse/all-cut-pairs", test_all_cut_pairs);
        g_test_add_func("/stream-parse/huge-line", test_huge_line);
        g_test_add_func("/stream-parse/many-lines", test_many_lines);
        g_test_add_func("/stream-parse/max-line", test_max_line);
        g_test_add_func("/stream-parse/handler-abort", test_handler_abort);
        g_test_add_func("/stream-parse/bytes-and-lifecycle", test_bytes_and_lifecycle);

        return g_test_run();
}
