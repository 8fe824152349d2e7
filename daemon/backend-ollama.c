/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Ollama's native API: POST /api/chat streaming NDJSON, /api/tags, /api/show, /api/version.
 * See research/backends.md §1 for the wire format and its version differences. */

#include <glib.h>

#include "backend.h"
#include "json-util.h"
#include "log.h"
#include "stream-parse.h"

#define MAX_LINE_BYTES (64U * 1024U * 1024U)
#define MAX_ERROR_BODY (64U * 1024U)

struct BackendChat {
        Backend *backend;
        HttpRequest *http;
        StreamParser *parser;
        ChatCallbacks cb;
        void *userdata;
        char *url;
        long status;
        GString *error_body; /* the body of a non-200 response */
        bool first_byte;
        bool done_seen;
        uint64_t feed_ns; /* arrival time of the bytes being parsed */
        ChatResult result;
};

static BackendChat *chat_free(BackendChat *c) {
        if (!c)
                return NULL;
        stream_parser_free(c->parser);
        if (c->error_body)
                g_string_free(c->error_body, TRUE);
        chat_result_clear(&c->result);
        g_free(c->url);
        free(c);
        return NULL;
}

static char *build_chat_body_full(const ChatRequest *req, bool stream, bool probe) {
        _cleanup_json_ json_t *body = NULL, *messages = json_array(), *options = json_object();

        if (!isempty(req->system))
                json_array_append_new(messages,
                                      json_pack("{s:s, s:s}", "role", "system", "content", req->system));
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", req->user));

        if (req->has_temperature)
                json_object_set_new(options, "temperature", json_real(req->temperature));
        if (probe)
                json_object_set_new(options, "num_predict", json_integer(1));
        else if (req->max_tokens > 0)
                json_object_set_new(options, "num_predict", json_integer(req->max_tokens));
        if (req->has_seed)
                json_object_set_new(options, "seed", json_integer(req->seed));
        if (req->num_ctx > 0)
                json_object_set_new(options, "num_ctx", json_integer(req->num_ctx));

        body = json_pack("{s:s, s:O, s:b, s:O}", "model", req->model, "messages", messages, "stream", stream,
                         "options", options);
        if (!body)
                return NULL;
        if (req->think >= 0)
                json_object_set_new(body, "think", json_boolean(req->think));
        return json_dumps(body, JSON_COMPACT);
}

static char *build_chat_body(const ChatRequest *req) {
        return build_chat_body_full(req, /* stream= */ true, /* probe= */ false);
}

static int64_t get_count(json_t *o, const char *key) {
        /* Ollama omits zero metrics (omitempty): absent means 0 in a final object. */
        return json_get_int(o, key, 0);
}

static void read_final(BackendChat *c, json_t *o, uint64_t t) {
        ChatResult *r = &c->result;
        const char *reason = json_get_string(o, "done_reason");

        r->complete = true;
        r->t_final_ns = t;
        r->prompt_tokens = get_count(o, "prompt_eval_count");
        r->completion_tokens = get_count(o, "eval_count");
        if (json_object_get(o, "eval_duration") || json_object_get(o, "prompt_eval_duration")) {
                r->load_ns = get_count(o, "load_duration");
                r->prompt_eval_ns = get_count(o, "prompt_eval_duration");
                r->eval_ns = get_count(o, "eval_duration");
                r->total_ns = get_count(o, "total_duration");
        }
        if (reason) {
                g_free(r->done_reason);
                r->done_reason = g_strdup(reason);
        }
}

static int emit_text(BackendChat *c, json_t *s, bool thinking, uint64_t t) {
        size_t n = json_string_length(s);

        if (n > 0 && c->cb.on_text)
                c->cb.on_text(c, json_string_value(s), n, thinking, t, c->userdata);
        return 0;
}

static int handle_object(BackendChat *c, json_t *o, uint64_t t) {
        json_t *err, *msg;

        if (!json_is_object(o))
                return lab_error_set(&c->result.error, LAB_ERROR_BACKEND_ERROR,
                                     "%s sent a line that is not a JSON object", c->url);

        err = json_object_get(o, "error");
        if (err) {
                const char *m =
                        json_is_string(err) ? json_string_value(err) : json_get_string(err, "message");
                return lab_error_set(&c->result.error, LAB_ERROR_BACKEND_ERROR,
                                     "%s backend \"%s\" failed mid-stream: %s",
                                     backend_kind_name(c->backend), c->backend->id, m ?: "unknown error");
        }
        if (c->done_seen) {
                log_debug("%s: ignoring data after the final object", c->url);
                return 0;
        }

        msg = json_object_get(o, "message");
        if (json_is_object(msg)) {
                json_t *thinking = json_object_get(msg, "thinking"),
                       *content = json_object_get(msg, "content");

                /* One object may carry both at the thinking → answer boundary: thinking first. */
                if (json_is_string(thinking))
                        emit_text(c, thinking, true, t);
                if (json_is_string(content))
                        emit_text(c, content, false, t);
        } else if (json_is_string(json_object_get(o, "response"))) {
                emit_text(c, json_object_get(o, "response"), false, t); /* /api/generate shape */
        }

        if (json_is_true(json_object_get(o, "done"))) {
                c->done_seen = true;
                read_final(c, o, t);
        }
        return 0;
}

static int on_line(const StreamEvent *ev, void *userdata) {
        BackendChat *c = userdata;
        _cleanup_json_ json_t *o = NULL;
        json_error_t jerr;

        if (ev->kind != STREAM_EVENT_DATA)
                return 0;
        o = json_loadb(ev->data, ev->size, JSON_ALLOW_NUL | JSON_DISABLE_EOF_CHECK, &jerr);
        if (!o)
                return lab_error_set(&c->result.error, LAB_ERROR_BACKEND_ERROR,
                                     "%s sent invalid JSON: %s (%.60s)", c->url, jerr.text, ev->data);
        return handle_object(c, o, c->feed_ns);
}

static int chat_on_headers(HttpRequest *r, long status, const char *content_type, uint64_t t,
                           void *userdata) {
        BackendChat *c = userdata;

        c->status = status;
        if (status != 200)
                c->error_body = g_string_new(NULL);
        if (c->cb.on_progress)
                c->cb.on_progress(c, CHAT_PROGRESS_HEADERS, t, c->userdata);
        return 0;
}

static int chat_on_data(HttpRequest *r, const char *data, size_t size, uint64_t t, void *userdata) {
        BackendChat *c = userdata;
        int k;

        if (c->error_body) {
                if (c->error_body->len < MAX_ERROR_BODY)
                        g_string_append_len(c->error_body, data, (gssize) MIN(size, MAX_ERROR_BODY));
                return 0;
        }
        if (!c->first_byte) {
                c->first_byte = true;
                if (c->cb.on_progress)
                        c->cb.on_progress(c, CHAT_PROGRESS_FIRST_BYTE, t, c->userdata);
        }

        c->feed_ns = t;
        k = stream_parser_feed(c->parser, data, size);
        if (k == -E2BIG)
                return lab_error_set(&c->result.error, LAB_ERROR_BACKEND_ERROR,
                                     "%s sent a line longer than %u bytes", c->url, MAX_LINE_BYTES);
        return k;
}

static void chat_finish(BackendChat *c) {
        if (c->cb.on_done)
                c->cb.on_done(c, &c->result, c->userdata);
        c->http = NULL;
        chat_free(c);
}

static void chat_on_done(HttpRequest *r, int error, long status, const char *message, void *userdata) {
        BackendChat *c = userdata;
        ChatResult *res = &c->result;

        if (lab_error_is_set(&res->error))
                return chat_finish(c);
        if (error < 0) {
                if (c->done_seen)
                        return chat_finish(c); /* complete; the connection closed uncleanly afterwards */
                if (c->first_byte && error == -EPIPE)
                        (void) lab_error_set(
                                &res->error, LAB_ERROR_BACKEND_ERROR,
                                "The stream from %s ended without its final object (truncated): %s", c->url,
                                strna(message));
                else
                        (void) backend_transport_error(c->backend, c->url, error, message, &res->error);
                return chat_finish(c);
        }
        if (c->error_body) {
                _cleanup_json_ json_t *j = json_loadb(c->error_body->str, c->error_body->len, 0, NULL);

                (void) backend_http_error(c->backend, c->status, j, c->error_body->str, &res->error);
                return chat_finish(c);
        }

        c->feed_ns = now_ns(CLOCK_MONOTONIC);
        (void) stream_parser_finish(c->parser); /* a final line without its newline */
        if (!lab_error_is_set(&res->error) && !c->done_seen) {
                if (!c->first_byte)
                        (void) lab_error_set(&res->error, LAB_ERROR_BACKEND_ERROR,
                                             "%s answered with an empty response", c->url);
                else
                        (void) lab_error_set(&res->error, LAB_ERROR_BACKEND_ERROR,
                                             "The stream from %s ended without its final object (truncated)",
                                             c->url);
        }
        chat_finish(c);
}

static int ollama_chat(Backend *b, const ChatRequest *req, const ChatCallbacks *cb, void *userdata,
                       BackendChat **ret) {
        static const HttpCallbacks http_cb = {
                .on_headers = chat_on_headers,
                .on_data = chat_on_data,
                .on_done = chat_on_done,
        };
        g_autofree char *body = NULL;
        HttpRequestSpec spec;
        BackendChat *c;
        int r;

        body = build_chat_body(req);
        if (!body)
                return -ENOMEM;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->backend = b;
        c->cb = *cb;
        c->userdata = userdata;
        c->url = backend_url(b, "/api/chat");
        chat_result_init(&c->result);

        r = stream_parser_new(STREAM_FORMAT_NDJSON, MAX_LINE_BYTES, on_line, c, &c->parser);
        if (r < 0) {
                chat_free(c);
                return r;
        }

        spec = backend_request_spec(b, "POST", c->url, body, /* streaming= */ true);
        r = http_request_start(b->http, &spec, &http_cb, c, &c->http);
        if (r < 0) {
                chat_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static void ollama_chat_cancel(BackendChat *c) {
        if (!c)
                return;
        http_request_cancel(c->http); /* closing the connection is how Ollama cancels */
        chat_free(c);
}

/* --- metadata ----------------------------------------------------------------------------- */

static json_t *model_from_tags_entry(Backend *b, json_t *m) {
        json_t *details = json_object_get(m, "details");
        const char *name = json_get_string(m, "name") ?: json_get_string(m, "model");
        json_t *o;

        if (!name)
                return NULL;
        o = json_pack("{s:s, s:s}", "name", name, "backend", b->id);
        json_set_string(o, "family", json_get_string(details, "family"));
        json_set_string(o, "parameter_size", json_get_string(details, "parameter_size"));
        json_set_string(o, "quantization", json_get_string(details, "quantization_level"));
        if (json_is_integer(json_object_get(m, "size")))
                json_set_int(o, "size_bytes", json_integer_value(json_object_get(m, "size")));
        json_set_string(o, "modified", json_get_string(m, "modified_at"));
        return o;
}

static int parse_tags(Backend *b, long status, json_t *json, const char *body, const char *arg, json_t **ret,
                      LabError *error) {
        json_t *models = json_object_get(json, "models"), *e, *out;
        size_t i;

        if (!json_is_array(models))
                return lab_error_set(error, LAB_ERROR_BACKEND_ERROR,
                                     "%s/api/tags: no \"models\" list in the response", b->url);
        out = json_array();
        json_array_foreach (models, i, e) {
                json_t *m = model_from_tags_entry(b, e);

                if (m)
                        json_array_append_new(out, m);
        }
        *ret = out;
        return 0;
}

static int ollama_list_models(Backend *b, const BackendReply *reply, HttpRequest **ret) {
        return backend_call(b, "GET", "/api/tags", NULL, NULL, parse_tags, reply, ret);
}

static int parse_show(Backend *b, long status, json_t *json, const char *body, const char *model,
                      json_t **ret, LabError *error) {
        json_t *details = json_object_get(json, "details"), *info = json_object_get(json, "model_info");
        json_t *caps = json_object_get(json, "capabilities");
        const char *arch = json_get_string(info, "general.architecture");
        json_t *o;

        if (!json_is_object(json))
                return lab_error_set(error, LAB_ERROR_BACKEND_ERROR,
                                     "%s/api/show: response is not a JSON object", b->url);

        o = json_pack("{s:s, s:s}", "name", model, "backend", b->id);
        json_set_string(o, "family", json_get_string(details, "family"));
        json_set_string(o, "parameter_size", json_get_string(details, "parameter_size"));
        json_set_string(o, "quantization", json_get_string(details, "quantization_level"));
        json_set_string(o, "format", json_get_string(details, "format"));
        json_set_string(o, "architecture", arch);
        if (arch) {
                g_autofree char *key = g_strconcat(arch, ".context_length", NULL);
                int64_t ctx = json_get_int(info, key, -1);

                if (ctx > 0)
                        json_set_int(o, "context_length", ctx);
        }
        if (json_is_integer(json_object_get(info, "general.parameter_count")))
                json_set_int(o, "parameter_count",
                             json_integer_value(json_object_get(info, "general.parameter_count")));
        json_object_set_new(o, "capabilities",
                            json_is_array(caps) ? json_copy(caps) : json_pack("[s]", "completion"));
        *ret = o;
        return 0;
}

static int ollama_model_info(Backend *b, const char *model, const BackendReply *reply, HttpRequest **ret) {
        _cleanup_json_ json_t *req = json_pack("{s:s}", "model", model);
        g_autofree char *body = json_dumps(req, JSON_COMPACT);

        return backend_call(b, "POST", "/api/show", body, model, parse_show, reply, ret);
}

static int parse_version(Backend *b, long status, json_t *json, const char *body, const char *arg,
                         json_t **ret, LabError *error) {
        json_t *o = json_pack("{s:b}", "reachable", 1);

        json_set_string(o, "version", json_get_string(json, "version"));
        *ret = o;
        return 0;
}

static int ollama_probe(Backend *b, const BackendReply *reply, HttpRequest **ret) {
        return backend_call(b, "GET", "/api/version", NULL, NULL, parse_version, reply, ret);
}

/* Ollama has no tokenizer endpoint: the exact prompt count of a request is the prompt_eval_count of
 * the same request generating one token (same runner options, so the model is not reloaded). */
static int parse_probe(Backend *b, long status, json_t *json, const char *body, const char *arg,
                       json_t **ret, LabError *error) {
        json_t *count = json_object_get(json, "prompt_eval_count");

        if (!json_is_integer(count))
                return lab_error_set(error, LAB_ERROR_BACKEND_ERROR,
                                     "%s/api/chat: no prompt_eval_count in the reply", b->url);
        *ret = json_pack("{s:I, s:b}", "count", json_integer_value(count), "exact", 1);
        return 0;
}

static int ollama_count_prompt(Backend *b, const ChatRequest *req, const BackendReply *reply,
                               HttpRequest **ret) {
        g_autofree char *body = build_chat_body_full(req, /* stream= */ false, /* probe= */ true);

        if (!body)
                return -ENOMEM;
        return backend_call(b, "POST", "/api/chat", body, NULL, parse_probe, reply, ret);
}

const BackendOps backend_ollama_ops = {
        .kind = BACKEND_KIND_OLLAMA,
        .chat = ollama_chat,
        .chat_cancel = ollama_chat_cancel,
        .list_models = ollama_list_models,
        .model_info = ollama_model_info,
        .probe = ollama_probe,
        .tokenize = NULL, /* Ollama has no tokenize endpoint */
        .count_prompt = ollama_count_prompt,
};
