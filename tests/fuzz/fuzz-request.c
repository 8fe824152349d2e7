/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* libFuzzer target for request validation: daemon/bus-request.c (bus_read_request(), bus_read_dict())
 * and daemon/request.c (lab_request_validate(), lab_request_to_json(), lab_request_copy()).
 *
 * sd-bus has no public API to parse a serialized message, so the input is a small program that
 * builds the a{sv} dictionary a client would send: the StartRun request, or (bit 0 of the first
 * byte set) a dictionary read by bus_read_dict() with a field of every type, as the job options and
 * run filters are. Then the daemon's readers run on it, and what they accept must respect every
 * documented limit; what they refuse must be refused with InvalidArgument. Anything else aborts.
 *
 * Program: one mode byte, then entries until the input ends (at most MAX_ENTRIES):
 *   key byte    k % (N_KEYS + 1): a known key (and a few unknown ones), or N_KEYS: a string follows
 *   type byte   t % N_TYPES: the variant's type (see append_value())
 *   value       strings: one length byte L, then L bytes (made valid UTF-8 without NUL, as the bus
 *               requires); L ≥ 0xF0: a long string of (L - 0xEF) × 64 KiB of the next byte;
 *               numbers: 4 or 8 bytes (little endian); arrays: a count byte, then the elements. */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-bus.h>

#include "bus-errors.h"
#include "bus-request.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 64
#define MAX_ARRAY   40
#define LONG_STRING (64U * 1024U)

/* The tables stay compact (clang-format would put one string per line). */
/* clang-format off */
static const char *const keys[] = {
        "model", "backend", "system_prompt", "system_prompt_id", "user_prompt", "conversation_context",
        "injections", "temperature", "max_tokens", "seed", "num_ctx", "include_thinking", "measure",
        "benchmark", "region", "label",
        /* bus_read_dict() mode */
        "text", "flag", "count", "offset", "since", "ratio",
        /* never valid */
        "colour", "",
};
#define N_KEYS ELEMENTSOF(keys)

static const char *const types[] = { "s", "b", "u", "x", "t", "d", "i", "a(ss)", "as", "a{sv}", "v", "ay" };
/* clang-format on */
#define N_TYPES ELEMENTSOF(types)

typedef struct Input {
        const uint8_t *p;
        size_t left;
} Input;

static void check(bool b) {
        if (!b)
                abort();
}

static uint8_t next_byte(Input *in) {
        if (in->left == 0)
                return 0;
        in->left--;
        return *in->p++;
}

static uint64_t next_bytes(Input *in, size_t n) {
        uint64_t v = 0;

        for (size_t i = 0; i < n; i++)
                v |= (uint64_t) next_byte(in) << (8 * i);
        return v;
}

/* A string the bus accepts: valid UTF-8, no NUL. */
static char *next_string(Input *in) {
        uint8_t len = next_byte(in);
        g_autofree char *raw = NULL;
        char *s;

        if (len >= 0xF0) {
                size_t n = (size_t) (len - 0xEF) * LONG_STRING;
                char c = (char) (next_byte(in) & 0x7f);

                raw = g_malloc(n + 1);
                memset(raw, c ?: 'x', n);
                raw[n] = '\0';
                return g_steal_pointer(&raw);
        }
        if (len > in->left)
                len = (uint8_t) in->left;
        raw = g_strndup((const char *) in->p, len); /* stops at a NUL */
        in->p += len;
        in->left -= len;
        s = g_utf8_make_valid(raw, -1);
        return s;
}

static int append_value(sd_bus_message *m, Input *in, const char *type, unsigned depth) {
        int r;

        if (streq(type, "s")) {
                g_autofree char *s = next_string(in);

                return sd_bus_message_append(m, "s", s);
        }
        if (streq(type, "b"))
                return sd_bus_message_append(m, "b", (int) (next_byte(in) & 1));
        if (streq(type, "u"))
                return sd_bus_message_append(m, "u", (uint32_t) next_bytes(in, 4));
        if (streq(type, "i"))
                return sd_bus_message_append(m, "i", (int32_t) next_bytes(in, 4));
        if (streq(type, "x"))
                return sd_bus_message_append(m, "x", (int64_t) next_bytes(in, 8));
        if (streq(type, "t"))
                return sd_bus_message_append(m, "t", next_bytes(in, 8));
        if (streq(type, "d")) {
                uint64_t bits = next_bytes(in, 8);
                double d;

                memcpy(&d, &bits, sizeof(d));
                return sd_bus_message_append(m, "d", d);
        }
        if (streq(type, "ay")) {
                size_t n = next_byte(in);

                n = MIN(n, in->left);
                r = sd_bus_message_append_array(m, 'y', in->p, n);
                in->p += n;
                in->left -= n;
                return r;
        }
        if (streq(type, "as") || streq(type, "a(ss)")) {
                bool pairs = streq(type, "a(ss)");
                unsigned n = next_byte(in) % (MAX_ARRAY + 1);

                r = sd_bus_message_open_container(m, 'a', pairs ? "(ss)" : "s");
                for (unsigned i = 0; r >= 0 && i < n && in->left > 0; i++) {
                        g_autofree char *a = next_string(in);
                        g_autofree char *b = pairs ? next_string(in) : NULL;

                        r = pairs ? sd_bus_message_append(m, "(ss)", a, b)
                                  : sd_bus_message_append(m, "s", a);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                return r;
        }
        if (streq(type, "a{sv}")) {
                g_autofree char *k = next_string(in);

                r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0 && depth < 3) {
                        r = sd_bus_message_open_container(m, 'e', "sv");
                        if (r >= 0)
                                r = sd_bus_message_append(m, "s", k);
                        if (r >= 0)
                                r = sd_bus_message_open_container(m, 'v', "s");
                        if (r >= 0)
                                r = append_value(m, in, "s", depth + 1);
                        if (r >= 0)
                                r = sd_bus_message_close_container(m);
                        if (r >= 0)
                                r = sd_bus_message_close_container(m);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                return r;
        }
        if (streq(type, "v")) {
                r = sd_bus_message_open_container(m, 'v', "s");
                if (r >= 0)
                        r = append_value(m, in, "s", depth + 1);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                return r;
        }
        return -EINVAL;
}

/* A bus connection only to create messages: sd-bus refuses to make messages for a bus that was
 * never started, so it is started on one end of a socket pair nobody answers. */
static sd_bus *message_factory(void) {
        static sd_bus *bus = NULL;
        int fds[2];

        if (bus)
                return bus;
        check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
        check(sd_bus_new(&bus) >= 0);
        check(sd_bus_set_fd(bus, fds[0], fds[0]) >= 0);
        check(sd_bus_start(bus) >= 0);
        (void) close(fds[1]);
        check(bus_errors_register() >= 0);
        return bus;
}

static sd_bus_message *build_dict(Input *in) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        check(sd_bus_message_new_method_call(message_factory(), &m, "org.llmlab.Lab1", "/org/llmlab/Lab1",
                                             "org.llmlab.Lab1.Manager", "StartRun") >= 0);
        check(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        for (unsigned n = 0; n < MAX_ENTRIES && in->left > 0; n++) {
                uint8_t k = next_byte(in) % (N_KEYS + 1);
                const char *type = types[next_byte(in) % N_TYPES];
                g_autofree char *custom = k == N_KEYS ? next_string(in) : NULL;

                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", custom ?: keys[k]);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', type);
                if (r >= 0)
                        r = append_value(m, in, type, 0);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                check(r >= 0); /* every value built above is valid on the bus */
        }
        check(sd_bus_message_close_container(m) >= 0);
        check(sd_bus_message_seal(m, 1, 0) >= 0);
        check(sd_bus_message_rewind(m, true) >= 0);
        return TAKE_PTR(m);
}

static bool is_invalid_argument(const sd_bus_error *e) {
        return sd_bus_error_has_name(e, LAB_ERROR_PREFIX "InvalidArgument") && !isempty(e->message);
}

static bool short_text_ok(const char *s) {
        if (!s)
                return true;
        if (isempty(s) || strlen(s) > REQUEST_MAX_SHORT_BYTES)
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return false;
        return true;
}

static size_t len0(const char *s) {
        return s ? strlen(s) : 0;
}

/* Everything lab_request_validate() promises once it accepted @q. */
static void check_valid_request(const LabRequest *q) {
        size_t total;

        check(short_text_ok(q->model) && q->model);
        check(short_text_ok(q->backend) && short_text_ok(q->benchmark) && short_text_ok(q->region));
        check(q->user_prompt && *q->user_prompt);
        check(!(q->system_prompt && q->system_prompt_id));
        check(!q->has_temperature ||
              (isfinite(q->temperature) && q->temperature >= 0 && q->temperature <= 2));
        check(!q->has_max_tokens || (q->max_tokens >= 1 && q->max_tokens <= REQUEST_MAX_TOKENS));
        check(!q->has_num_ctx || (q->num_ctx >= 1 && q->num_ctx <= REQUEST_MAX_NUM_CTX));
        check(q->measure >= 0 && q->measure < _MEASURE_MAX);
        check(len0(q->label) <= REQUEST_MAX_SHORT_BYTES &&
              len0(q->system_prompt_id) <= REQUEST_MAX_SHORT_BYTES);
        check(len0(q->user_prompt) <= REQUEST_MAX_PROMPT_BYTES &&
              len0(q->system_prompt) <= REQUEST_MAX_PROMPT_BYTES &&
              len0(q->conversation_context) <= REQUEST_MAX_PROMPT_BYTES);
        for (const char *c = q->region; c && *c; c++)
                check(!g_ascii_islower(*c));

        check(lab_request_n_injections(q) <= REQUEST_MAX_INJECTIONS);
        total = len0(q->user_prompt) + len0(q->system_prompt) + len0(q->conversation_context);
        for (size_t i = 0; i < lab_request_n_injections(q); i++) {
                const Injection *inj = lab_request_injection(q, i);

                check(inj->description && inj->content);
                check(strlen(inj->description) <= REQUEST_MAX_SHORT_BYTES);
                check(strlen(inj->content) <= REQUEST_MAX_INJECTION_BYTES);
                total += strlen(inj->content);
        }
        check(total <= REQUEST_MAX_TOTAL_BYTES);
}

/* A copy is the same request; both serialise to the same JSON. */
static void check_json(const LabRequest *q) {
        g_autoptr(LabRequest) copy = lab_request_copy(q);
        json_t *a = lab_request_to_json(q), *b = lab_request_to_json(copy);

        check(a && b && json_equal(a, b));
        check(json_string_value(json_object_get(a, "model")) &&
              streq(json_string_value(json_object_get(a, "model")), q->model));
        check(json_array_size(json_object_get(a, "injections")) == lab_request_n_injections(q));
        json_decref(a);
        json_decref(b);
}

/* FUZZ_REQUEST_VERBOSE=1: say what happened to each input (to check the seed corpus). */
static void verbose(const char *what, const char *message) {
        if (getenv("FUZZ_REQUEST_VERBOSE"))
                fprintf(stderr, "%s%s%s\n", what, message ? ": " : "", strempty(message));
}

static void fuzz_request(sd_bus_message *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        g_autoptr(LabRequest) q = NULL;
        int r;

        r = bus_read_request(m, &q, &error);
        if (r < 0) {
                check(!q && is_invalid_argument(&error));
                return verbose("refused by bus_read_request()", error.message);
        }
        check(q && !sd_bus_error_is_set(&error));
        check(!q->has_max_tokens || q->max_tokens > 0);
        check(!q->has_num_ctx || q->num_ctx > 0);

        r = lab_request_validate(q, &err);
        if (r < 0) {
                check(err.code == LAB_ERROR_INVALID_ARGUMENT && !isempty(err.message));
                return verbose("refused by lab_request_validate()", err.message);
        }
        check(r == 0 && !lab_error_is_set(&err));
        check_valid_request(q);
        check_json(q);
        verbose("accepted", NULL);
}

typedef struct Fields {
        char *text;
        bool flag;
        bool flag_set;
        uint32_t count;
        int64_t offset;
        uint64_t since;
        double ratio;
} Fields;

static void fuzz_dict(sd_bus_message *m) {
        static const BusField fields[] = {
                {"text", BUS_FIELD_STRING, offsetof(Fields, text), -1},
                {"flag", BUS_FIELD_BOOL, offsetof(Fields, flag), offsetof(Fields, flag_set)},
                {"count", BUS_FIELD_UINT32, offsetof(Fields, count), -1},
                {"offset", BUS_FIELD_INT64, offsetof(Fields, offset), -1},
                {"since", BUS_FIELD_UINT64, offsetof(Fields, since), -1},
                {"ratio", BUS_FIELD_DOUBLE, offsetof(Fields, ratio), -1},
        };
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Fields f = {};
        int r;

        r = bus_read_dict(m, fields, ELEMENTSOF(fields), &f, "options", &error);
        verbose(r < 0 ? "dictionary refused" : "dictionary accepted", error.message);
        if (r < 0)
                check(is_invalid_argument(&error));
        else
                check(!sd_bus_error_is_set(&error) && (!f.flag_set || f.flag == true || f.flag == false));
        check(!f.text ||
              g_utf8_validate(f.text, -1, NULL)); /* the caller frees what was read, even on errors */
        g_free(f.text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        Input in = {.p = data, .left = size};
        uint8_t mode;

        if (size < 1)
                return 0;
        mode = next_byte(&in);
        m = build_dict(&in);
        if (mode & 1)
                fuzz_dict(m);
        else
                fuzz_request(m);
        return 0;
}
