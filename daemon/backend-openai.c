/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* OpenAI-compatible servers (llama.cpp's llama-server, vLLM, LM Studio, Ollama's /v1):
 * POST /v1/chat/completions streaming SSE with stream_options.include_usage, GET /v1/models,
 * GET /props (llama-server), GET /health, POST /tokenize. See research/backends.md §2. */

#include <glib.h>
#include <math.h>

#include "backend.h"
#include "json-util.h"
#include "log.h"
#include "stream-parse.h"

#define MAX_EVENT_BYTES (64U * 1024U * 1024U)
#define MAX_ERROR_BODY  (64U * 1024U)

struct BackendChat {
        Backend *backend;
        HttpRequest *http;
        StreamParser *parser;
        ChatCallbacks cb;
        void *userdata;
        char *url;
        long status;
        GString *error_body;
        bool body_seen;   /* any byte of a 200 body, keep-alive comments included */
        bool first_event; /* the first event that is not a comment: the "first byte" of the answer */
        bool done_seen;   /* data: [DONE] */
        bool finish_seen; /* a choice with a finish_reason */
        uint64_t feed_ns;
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

static char *build_chat_body(const ChatRequest *req) {
        _cleanup_json_ json_t *body = NULL, *messages = json_array();

        if (!isempty(req->system))
                json_array_append_new(messages,
                                      json_pack("{s:s, s:s}", "role", "system", "content", req->system));
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", req->user));

        body = json_pack("{s:s, s:O, s:b, s:{s:b}}", "model", req->model, "messages", messages, "stream", 1,
                         "stream_options", "include_usage", 1);
        if (!body)
                return NULL;
        if (req->has_temperature)
                json_object_set_new(body, "temperature", json_real(req->temperature));
        if (req->max_tokens > 0)
                json_object_set_new(body, "max_tokens", json_integer(req->max_tokens));
        if (req->has_seed)
                json_object_set_new(body, "seed", json_integer(req->seed));
        if (req->think >= 0) /* Qwen3-style templates (llama.cpp, vLLM) */
                json_object_set_new(body, "chat_template_kwargs",
                                    json_pack("{s:b}", "enable_thinking", req->think));
        if (req->cache_prompt_off)
                json_object_set_new(body, "cache_prompt", json_false()); /* llama.cpp; others ignore it */
        return json_dumps(body, JSON_COMPACT);
}

static int64_t ms_to_ns(json_t *o, const char *key) {
        double ms = json_get_number(o, key);

        return isfinite(ms) && ms >= 0 ? (int64_t) llround(ms * 1e6) : -1;
}

static void read_usage(BackendChat *c, json_t *usage) {
        ChatResult *r = &c->result;

        r->prompt_tokens = json_get_int(usage, "prompt_tokens", r->prompt_tokens);
        r->completion_tokens = json_get_int(usage, "completion_tokens", r->completion_tokens);
        r->cached_tokens = json_get_int(json_object_get(usage, "prompt_tokens_details"), "cached_tokens",
                                        r->cached_tokens);
        r->reasoning_tokens = json_get_int(json_object_get(usage, "completion_tokens_details"),
                                           "reasoning_tokens", r->reasoning_tokens);
}

/* llama.cpp's timings: prompt_ms covers the uncached prompt tokens, predicted_ms first → last token. */
static void read_timings(BackendChat *c, json_t *t) {
        ChatResult *r = &c->result;

        r->prompt_eval_ns = ms_to_ns(t, "prompt_ms");
        r->eval_ns = ms_to_ns(t, "predicted_ms");
        if (json_is_number(json_object_get(t, "cache_n")))
                r->cached_tokens = json_get_int(t, "cache_n", r->cached_tokens);
        if (r->prompt_tokens < 0 && json_is_number(json_object_get(t, "prompt_n")))
                r->prompt_tokens = json_get_int(t, "prompt_n", 0) + MAX(r->cached_tokens, 0);
        if (r->completion_tokens < 0 && json_is_number(json_object_get(t, "predicted_n")))
                r->completion_tokens = json_get_int(t, "predicted_n", 0);
}

static void emit(BackendChat *c, json_t *s, bool thinking) {
        size_t n = json_string_length(s);

        if (json_is_string(s) && n > 0 && c->cb.on_text)
                c->cb.on_text(c, json_string_value(s), n, thinking, c->feed_ns, c->userdata);
}

/* An "error" member that is set: an object or a string ("error": null is no error). */
static json_t *error_member(json_t *o) {
        json_t *e = json_object_get(o, "error");

        return json_is_object(e) || json_is_string(e) ? e : NULL;
}

static int fail_with(BackendChat *c, json_t *err) {
        const char *m = json_is_string(err) ? json_string_value(err) : json_get_string(err, "message");

        return lab_error_set(&c->result.error, LAB_ERROR_BACKEND_ERROR,
                             "%s backend \"%s\" failed mid-stream: %s", backend_kind_name(c->backend),
                             c->backend->id, m ?: "unknown error");
}

static int handle_chunk(BackendChat *c, json_t *o) {
        json_t *choices = json_object_get(o, "choices"), *usage = json_object_get(o, "usage");
        json_t *timings = json_object_get(o, "timings"), *choice, *delta;

        if (!json_is_object(o))
                return lab_error_set(&c->result.error, LAB_ERROR_BACKEND_ERROR,
                                     "%s sent an event that is not a JSON object", c->url);
        if (error_member(o))
                return fail_with(c, error_member(o));

        /* Never index choices[0] blindly: the usage chunk has "choices": []. */
        choice = json_is_array(choices) && json_array_size(choices) > 0 ? json_array_get(choices, 0) : NULL;
        delta = json_object_get(choice, "delta");
        if (json_is_object(delta)) {
                json_t *reasoning = json_object_get(delta, "reasoning_content");

                if (!json_is_string(reasoning))
                        reasoning = json_object_get(delta, "reasoning");
                emit(c, reasoning, true);
                emit(c, json_object_get(delta, "content"), false);
        }
        if (json_is_string(json_object_get(choice, "finish_reason"))) {
                c->finish_seen = true;
                g_free(c->result.done_reason);
                c->result.done_reason = g_strdup(json_get_string(choice, "finish_reason"));
                c->result.t_final_ns = c->feed_ns;
        }
        /* Usage and timings may ride on the finish chunk (old llama.cpp) or a separate last chunk. */
        if (json_is_object(usage)) {
                read_usage(c, usage);
                c->result.t_final_ns = c->feed_ns;
        }
        if (json_is_object(timings))
                read_timings(c, timings);
        return 0;
}

static int on_event(const StreamEvent *ev, void *userdata) {
        BackendChat *c = userdata;
        _cleanup_json_ json_t *o = NULL;
        json_error_t jerr;

        /* A keep-alive comment proves liveness (the HTTP layer reset its idle timer), nothing more. */
        if (ev->kind == STREAM_EVENT_COMMENT)
                return 0;
        if (!c->first_event) {
                /* Pings can flow long before the answer: the first real event is its first byte. */
                c->first_event = true;
                if (c->cb.on_progress)
                        c->cb.on_progress(c, CHAT_PROGRESS_FIRST_BYTE, c->feed_ns, c->userdata);
        }
        if (c->done_seen || (ev->kind == STREAM_EVENT_DATA && ev->size == 0))
                return 0;
        if (ev->kind == STREAM_EVENT_DATA && ev->size == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
                c->done_seen = true;
                if (c->result.t_final_ns == 0)
                        c->result.t_final_ns = c->feed_ns;
                return 0;
        }
        o = json_loadb(ev->data, ev->size, JSON_ALLOW_NUL | JSON_DISABLE_EOF_CHECK, &jerr);
        if (ev->kind == STREAM_EVENT_ERROR_FIELD) /* old llama.cpp: "error: {json}" */
                return fail_with(c, o);
        if (!o)
                return lab_error_set(&c->result.error, LAB_ERROR_BACKEND_ERROR,
                                     "%s sent invalid JSON: %s (%.60s)", c->url, jerr.text, ev->data);
        return handle_chunk(c, o);
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
        c->body_seen = true;
        c->feed_ns = t;
        k = stream_parser_feed(c->parser, data, size);
        if (k == -E2BIG)
                return lab_error_set(&c->result.error, LAB_ERROR_BACKEND_ERROR,
                                     "%s sent an event longer than %u bytes", c->url, MAX_EVENT_BYTES);
        return k;
}

static void chat_finish(BackendChat *c) {
        if (c->cb.on_done)
                c->cb.on_done(c, &c->result, c->userdata);
        chat_free(c);
}

/* The transfer failed before [DONE]: the connection closed right after the headers, or in the
 * middle of the stream (a killed server), or something else went wrong on the way. */
static void set_transfer_error(BackendChat *c, int error, const char *message) {
        LabError *e = &c->result.error;

        if (error != -EPIPE || c->status != 200)
                (void) backend_transport_error(c->backend, c->url, error, message, e);
        else if (!c->body_seen)
                (void) lab_error_set(e, LAB_ERROR_BACKEND_ERROR, "%s answered with an empty response",
                                     c->url);
        else
                (void) lab_error_set(e, LAB_ERROR_BACKEND_ERROR,
                                     "The stream from %s ended without [DONE] (truncated): %s", c->url,
                                     strna(message));
}

static void chat_on_done(HttpRequest *r, int error, long status, const char *message, void *userdata) {
        BackendChat *c = userdata;
        ChatResult *res = &c->result;

        c->http = NULL;
        if (lab_error_is_set(&res->error))
                return chat_finish(c);
        if (error < 0 && !c->done_seen) {
                set_transfer_error(c, error, message);
                return chat_finish(c);
        }
        if (c->error_body) {
                _cleanup_json_ json_t *j = json_loadb(c->error_body->str, c->error_body->len, 0, NULL);

                (void) backend_http_error(c->backend, c->status, j, c->error_body->str, &res->error);
                return chat_finish(c);
        }

        c->feed_ns = now_ns(CLOCK_MONOTONIC);
        (void) stream_parser_finish(c->parser);
        if (!lab_error_is_set(&res->error) && !c->done_seen) {
                if (!c->body_seen)
                        (void) lab_error_set(&res->error, LAB_ERROR_BACKEND_ERROR,
                                             "%s answered with an empty response", c->url);
                else
                        (void) lab_error_set(&res->error, LAB_ERROR_BACKEND_ERROR,
                                             "The stream from %s ended without [DONE] (truncated)", c->url);
        }
        if (!lab_error_is_set(&res->error))
                res->complete = true;
        chat_finish(c);
}

static int openai_chat(Backend *b, const ChatRequest *req, const ChatCallbacks *cb, void *userdata,
                       BackendChat **ret) {
        static const HttpCallbacks http_cb = {
                .on_headers = chat_on_headers,
                .on_data = chat_on_data,
                .on_done = chat_on_done,
        };
        g_autofree char *body = build_chat_body(req);
        HttpRequestSpec spec;
        BackendChat *c;
        int r;

        if (!body)
                return -ENOMEM;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->backend = b;
        c->cb = *cb;
        c->userdata = userdata;
        c->url = backend_url(b, "/v1/chat/completions");
        chat_result_init(&c->result);

        r = stream_parser_new(STREAM_FORMAT_SSE, MAX_EVENT_BYTES, on_event, c, &c->parser);
        if (r >= 0) {
                spec = backend_request_spec(b, "POST", c->url, body, /* streaming= */ true);
                r = http_request_start(b->http, &spec, &http_cb, c, &c->http);
        }
        if (r < 0) {
                chat_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static void openai_chat_cancel(BackendChat *c) {
        if (!c)
                return;
        http_request_cancel(c->http); /* closing the connection cancels the generation */
        chat_free(c);
}

/* --- metadata ----------------------------------------------------------------------------- */

static json_t *model_entry(Backend *b, json_t *e) {
        json_t *meta = json_object_get(e, "meta");
        const char *id = json_get_string(e, "id");
        json_t *o;
        int64_t ctx;

        if (!id)
                return NULL;
        o = json_pack("{s:s, s:s}", "name", id, "backend", b->id);
        ctx = json_get_int(e, "max_model_len", json_get_int(meta, "n_ctx_train", -1));
        if (ctx > 0)
                json_set_int(o, "context_length", ctx);
        if (json_get_int(meta, "n_params", -1) > 0)
                json_set_int(o, "parameter_count", json_get_int(meta, "n_params", 0));
        if (json_get_int(meta, "size", -1) > 0)
                json_set_int(o, "size_bytes", json_get_int(meta, "size", 0));
        json_set_string(o, "quantization", json_get_string(meta, "ftype"));
        json_set_string(o, "owned_by", json_get_string(e, "owned_by"));
        return o;
}

static int parse_models(Backend *b, long status, json_t *json, const char *body, const char *arg,
                        json_t **ret, LabError *error) {
        json_t *data = json_object_get(json, "data"), *e, *out;
        size_t i;

        if (!json_is_array(data))
                return lab_error_set(error, LAB_ERROR_BACKEND_ERROR,
                                     "%s/v1/models: no \"data\" list in the response", b->url);
        out = json_array();
        json_array_foreach (data, i, e) {
                json_t *m = model_entry(b, e);

                if (m)
                        json_array_append_new(out, m);
        }
        *ret = out;
        return 0;
}

static int openai_list_models(Backend *b, const BackendReply *reply, HttpRequest **ret) {
        return backend_call(b, "GET", "/v1/models", NULL, NULL, parse_models, reply, ret);
}

static bool entry_matches(json_t *e, const char *model) {
        json_t *aliases = json_object_get(e, "aliases"), *a;
        size_t i;

        if (streq_ptr(json_get_string(e, "id"), model))
                return true;
        json_array_foreach (aliases, i, a)
                if (json_is_string(a) && streq(json_string_value(a), model))
                        return true;
        return false;
}

static int parse_model_info(Backend *b, long status, json_t *json, const char *body, const char *model,
                            json_t **ret, LabError *error) {
        json_t *data = json_object_get(json, "data"), *e;
        size_t i;

        json_array_foreach (data, i, e)
                if (entry_matches(e, model)) {
                        json_t *o = model_entry(b, e);

                        json_object_set_new(o, "name", json_string(model));
                        json_object_set_new(o, "capabilities", json_pack("[s]", "completion"));
                        *ret = o;
                        return 0;
                }
        return lab_error_set(error, LAB_ERROR_NO_SUCH_MODEL, "model '%s' not found on %s backend \"%s\"",
                             model, backend_kind_name(b), b->id);
}

/* llama-server: /props tells the context actually allocated per slot; merged into the info. */
typedef struct InfoChain {
        Backend *backend;
        json_t *info;
        BackendReply reply;
        bool replied;
} InfoChain;

static int parse_props(Backend *b, long status, json_t *json, const char *body, const char *arg,
                       json_t **ret, LabError *error) {
        *ret = json_incref(json_is_object(json) ? json : NULL);
        if (!*ret)
                return lab_error_set(error, LAB_ERROR_BACKEND_ERROR, "no /props");
        return 0;
}

static void props_done(Backend *b, json_t *props, const LabError *error, void *userdata) {
        InfoChain *ch = userdata;
        json_t *settings = json_object_get(props, "default_generation_settings");
        int64_t n_ctx = json_get_int(settings, "n_ctx", -1);

        if (n_ctx > 0)
                json_set_int(ch->info, "slot_context_length", n_ctx);
        json_set_string(ch->info, "server_build", json_get_string(props, "build_info"));
        if (ch->reply.cb)
                ch->reply.cb(b, ch->info, NULL, ch->reply.userdata);
        ch->replied = true;
}

static void info_chain_destroy(void *userdata) {
        InfoChain *ch = userdata;

        if (!ch->replied && ch->reply.cb) /* /props could not be asked: answer with what we have */
                ch->reply.cb(ch->backend, ch->info, NULL, ch->reply.userdata);
        if (ch->reply.destroy)
                ch->reply.destroy(ch->reply.userdata);
        json_decref(ch->info);
        g_free(ch);
}

static void models_for_info_done(Backend *b, json_t *info, const LabError *error, void *userdata) {
        BackendReply *orig = userdata;
        InfoChain *ch;

        if (!info) {
                if (orig->cb)
                        orig->cb(b, NULL, error, orig->userdata);
                orig->cb = NULL;
                return;
        }
        ch = g_new0(InfoChain, 1);
        ch->backend = b;
        ch->info = json_incref(info);
        ch->reply = *orig;
        orig->cb = NULL;
        orig->destroy = NULL; /* handed over to the chain */
        (void) backend_call(b, "GET", "/props", NULL, NULL, parse_props,
                            &(BackendReply){.cb = props_done, .userdata = ch, .destroy = info_chain_destroy},
                            NULL);
}

static void reply_copy_destroy(void *userdata) {
        BackendReply *orig = userdata;

        if (orig->destroy)
                orig->destroy(orig->userdata);
        g_free(orig);
}

static int openai_model_info(Backend *b, const char *model, const BackendReply *reply, HttpRequest **ret) {
        BackendReply *copy = g_memdup2(reply, sizeof(*reply));

        return backend_call(
                b, "GET", "/v1/models", NULL, model, parse_model_info,
                &(BackendReply){.cb = models_for_info_done, .userdata = copy, .destroy = reply_copy_destroy},
                ret);
}

/* /health: 200 when ready; 503 while loading. Servers without it (404) are still reachable. */
typedef struct Probe {
        Backend *backend;
        BackendReply reply;
} Probe;

static void probe_done(int error, long status, json_t *json, const char *body, const char *message,
                       void *userdata) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        _cleanup_json_ json_t *ok = NULL;
        Probe *p = userdata;
        g_autofree char *url = backend_url(p->backend, "/health");

        if (error < 0)
                (void) backend_transport_error(p->backend, url, error, message, &err);
        else if (status == 200 || status == 404)
                ok = json_pack("{s:b}", "reachable", 1);
        else
                (void) backend_http_error(p->backend, status, json, body, &err);
        if (p->reply.cb)
                p->reply.cb(p->backend, ok, ok ? NULL : &err, p->reply.userdata);
}

static void probe_destroy(void *userdata) {
        Probe *p = userdata;

        if (p->reply.destroy)
                p->reply.destroy(p->reply.userdata);
        g_free(p);
}

static int openai_probe(Backend *b, const BackendReply *reply, HttpRequest **ret) {
        g_autofree char *url = backend_url(b, "/health");
        HttpRequestSpec spec = backend_request_spec(b, "GET", url, NULL, /* streaming= */ false);
        Probe *p = g_new0(Probe, 1);

        p->backend = b;
        p->reply = *reply;
        return http_request_json(b->http, &spec, 64U * 1024U, probe_done, p, probe_destroy, ret);
}

static int parse_tokenize(Backend *b, long status, json_t *json, const char *body, const char *arg,
                          json_t **ret, LabError *error) {
        json_t *tokens = json_object_get(json, "tokens");
        int64_t count = json_get_int(json, "count", -1);

        if (count < 0 && json_is_array(tokens))
                count = (int64_t) json_array_size(tokens);
        if (count < 0)
                return lab_error_set(error, LAB_ERROR_BACKEND_ERROR,
                                     "%s/tokenize: no tokens in the response", b->url);
        *ret = json_pack("{s:I, s:b}", "count", (json_int_t) count, "exact", 1);
        return 0;
}

static int openai_tokenize(Backend *b, const char *model, const char *text, bool add_special,
                           const BackendReply *reply, HttpRequest **ret) {
        /* llama.cpp reads content/add_special, vLLM model/prompt/add_special_tokens. */
        _cleanup_json_ json_t *req =
                json_pack("{s:s, s:s, s:s, s:b, s:b, s:b}", "model", model, "content", text, "prompt", text,
                          "add_special", add_special, "add_special_tokens", add_special, "parse_special", 1);
        g_autofree char *body = json_dumps(req, JSON_COMPACT);

        return backend_call(b, "POST", "/tokenize", body, NULL, parse_tokenize, reply, ret);
}

const BackendOps backend_openai_ops = {
        .kind = BACKEND_KIND_OPENAI,
        .chat = openai_chat,
        .chat_cancel = openai_chat_cancel,
        .list_models = openai_list_models,
        .model_info = openai_model_info,
        .probe = openai_probe,
        .tokenize = openai_tokenize,
};
