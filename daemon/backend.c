/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>

#include "backend.h"
#include "json-util.h"
#include "log.h"

#define MODEL_CACHE_USEC (60 * USEC_PER_SEC)

typedef struct CachedInfo {
        json_t *info;
        uint64_t when_usec;
} CachedInfo;

static void cached_info_free(gpointer p) {
        CachedInfo *c = p;

        json_decref(c->info);
        g_free(c);
}

static const BackendOps *ops_for_kind(BackendKind kind) {
        switch (kind) {
        case BACKEND_KIND_OLLAMA: return &backend_ollama_ops;
        case BACKEND_KIND_OPENAI: return &backend_openai_ops;
        default: return NULL;
        }
}

int backend_new(const BackendConfig *config, const Config *daemon_config, HttpClient *http, Backend **ret) {
        Backend *b;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->ops = ops_for_kind(config->kind);
        if (!b->ops) {
                free(b);
                return -EOPNOTSUPP;
        }
        b->id = g_strdup(config->id);
        b->url = g_strdup(config->url);
        b->api_key = g_strdup(config->api_key);
        b->http = http;
        b->connect_timeout_ms = daemon_config->connect_timeout_sec * 1000U;
        b->first_byte_timeout_ms = daemon_config->first_byte_timeout_sec * 1000U;
        b->idle_timeout_ms = daemon_config->idle_timeout_sec * 1000U;
        b->model_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, cached_info_free);
        b->token_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        *ret = b;
        return 0;
}

Backend *backend_free(Backend *b) {
        if (!b)
                return NULL;
        g_free(b->id);
        g_free(b->url);
        g_free(b->api_key);
        g_free(b->version);
        g_free(b->last_error);
        g_hash_table_unref(b->model_cache);
        g_hash_table_unref(b->token_cache);
        free(b);
        return NULL;
}

const char *backend_kind_name(const Backend *b) {
        return backend_kind_to_string(b->ops->kind);
}

json_t *backend_status_json(const Backend *b) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "id", b->id, "kind", backend_kind_name(b), "url",
                              b->url, "reachable", b->reachable);

        if (b->version)
                json_object_set_new(o, "version", json_string(b->version));
        if (b->last_error)
                json_object_set_new(o, "error", json_string(b->last_error));
        return o;
}

void backend_set_status(Backend *b, bool reachable, const char *version, const char *error) {
        b->probed = true;
        b->reachable = reachable;
        if (version) {
                g_free(b->version);
                b->version = g_strdup(version);
        }
        g_free(b->last_error);
        b->last_error = reachable ? NULL : g_strdup(error);
}

char *backend_url(const Backend *b, const char *path) {
        return g_strconcat(b->url, path, NULL);
}

HttpRequestSpec backend_request_spec(const Backend *b, const char *method, const char *url, const char *body,
                                     bool streaming) {
        return (HttpRequestSpec){
                .method = method,
                .url = url,
                .body = body,
                .bearer_token = b->api_key,
                .connect_timeout_ms = b->connect_timeout_ms,
                .first_byte_timeout_ms = streaming ? b->first_byte_timeout_ms : 0,
                .idle_timeout_ms = streaming ? b->idle_timeout_ms : 0,
                .total_timeout_ms = streaming ? 0 : 30000,
        };
}

void chat_result_init(ChatResult *r) {
        *r = (ChatResult){
                .error = LAB_ERROR_INIT,
                .prompt_tokens = UNKNOWN_COUNT,
                .completion_tokens = UNKNOWN_COUNT,
                .cached_tokens = UNKNOWN_COUNT,
                .reasoning_tokens = UNKNOWN_COUNT,
                .load_ns = -1,
                .prompt_eval_ns = -1,
                .eval_ns = -1,
                .total_ns = -1,
        };
}

void chat_result_clear(ChatResult *r) {
        lab_error_clear(&r->error);
        g_free(r->done_reason);
        chat_result_init(r);
}

int backend_transport_error(const Backend *b, const char *url, int error, const char *message,
                            LabError *ret) {
        const char *m = message ?: strerror(-error);

        switch (error) {
        case -ECONNREFUSED:
        case -EHOSTUNREACH:
        case -ENETUNREACH:
        case -ECONNRESET:
                if (error == -ECONNRESET)
                        break;
                return lab_error_set(ret, LAB_ERROR_BACKEND_UNAVAILABLE,
                                     "Cannot connect to %s backend \"%s\" at %s: %s", backend_kind_name(b),
                                     b->id, b->url, m);
        case -ETIMEDOUT: return lab_error_set(ret, LAB_ERROR_BACKEND_ERROR, "%s: %s", url, m);
        default: break;
        }
        return lab_error_set(ret, LAB_ERROR_BACKEND_ERROR, "%s: %s", url, m);
}

static const char *error_message_of(json_t *json) {
        json_t *e;

        if (!json_is_object(json))
                return NULL;
        e = json_object_get(json, "error");
        if (json_is_string(e))
                return json_string_value(e);
        if (json_is_object(e) && json_is_string(json_object_get(e, "message")))
                return json_string_value(json_object_get(e, "message"));
        if (json_is_string(
                    json_object_get(json, "message"))) /* old vLLM: {"object": "error", "message": …} */
                return json_string_value(json_object_get(json, "message"));
        return NULL;
}

int backend_http_error(const Backend *b, long status, json_t *json, const char *body, LabError *ret) {
        const char *msg = error_message_of(json);
        g_autofree char *text = NULL;

        if (!msg) {
                /* Not JSON (gin's "404 page not found", a proxy's HTML page): show its start. */
                text = g_strstrip(g_strndup(strempty(body), 200));
                if (!g_utf8_validate(text, -1, NULL))
                        g_clear_pointer(&text, g_free);
                msg = isempty(text) ? "(empty response)" : text;
        }
        if (status == 404 && strstr(msg, "not found") && strstr(msg, "model"))
                return lab_error_set(ret, LAB_ERROR_NO_SUCH_MODEL, "%s", msg);
        if (status == 404 && error_message_of(json) && strstr(msg, "does not exist"))
                return lab_error_set(ret, LAB_ERROR_NO_SUCH_MODEL, "%s", msg);
        return lab_error_set(ret, LAB_ERROR_BACKEND_ERROR, "%s backend \"%s\" answered HTTP %ld: %s",
                             backend_kind_name(b), b->id, status, msg);
}

bool model_info_has_capability(json_t *info, const char *capability) {
        json_t *caps = json_object_get(info, "capabilities");
        size_t i;
        json_t *c;

        json_array_foreach (caps, i, c)
                if (json_is_string(c) && streq(json_string_value(c), capability))
                        return true;
        return false;
}

typedef struct Call {
        Backend *backend;
        char *url;
        char *arg;
        backend_parse_fn parse;
        BackendReply reply;
} Call;

static void call_destroy(void *userdata) {
        Call *c = userdata;

        if (c->reply.destroy)
                c->reply.destroy(c->reply.userdata);
        g_free(c->url);
        g_free(c->arg);
        g_free(c);
}

static void call_done(int error, long status, json_t *json, const char *body, const char *message,
                      void *userdata) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        _cleanup_json_ json_t *reply = NULL;
        Call *c = userdata;

        if (error < 0)
                (void) backend_transport_error(c->backend, c->url, error, message, &err);
        else if (status >= 400 || status < 200)
                (void) backend_http_error(c->backend, status, json, body, &err);
        else
                (void) c->parse(c->backend, status, json, body, c->arg, &reply, &err);

        if (!reply && !lab_error_is_set(&err))
                (void) lab_error_set(&err, LAB_ERROR_BACKEND_ERROR, "%s: unexpected response", c->url);
        if (c->reply.cb)
                c->reply.cb(c->backend, reply, reply ? NULL : &err, c->reply.userdata);
}

int backend_call(Backend *b, const char *method, const char *path, const char *body, const char *arg,
                 backend_parse_fn parse, const BackendReply *reply, HttpRequest **ret) {
        HttpRequestSpec spec;
        Call *c = g_new0(Call, 1);

        c->backend = b;
        c->url = backend_url(b, path);
        c->arg = g_strdup(arg);
        c->parse = parse;
        c->reply = *reply;
        spec = backend_request_spec(b, method, c->url, body, /* streaming= */ false);
        return http_request_json(b->http, &spec, 16U * 1024U * 1024U, call_done, c, call_destroy, ret);
}

typedef struct InfoLookup {
        char *model;
        BackendReply reply;
} InfoLookup;

static void info_lookup_done(Backend *b, json_t *reply, const LabError *error, void *userdata) {
        InfoLookup *l = userdata;

        if (reply) {
                CachedInfo *c = g_new0(CachedInfo, 1);

                c->info = json_incref(reply);
                c->when_usec = now_usec(CLOCK_MONOTONIC);
                g_hash_table_replace(b->model_cache, g_strdup(l->model), c);
        }
        if (l->reply.cb)
                l->reply.cb(b, reply, error, l->reply.userdata);
}

static void info_lookup_destroy(void *userdata) {
        InfoLookup *l = userdata;

        if (l->reply.destroy)
                l->reply.destroy(l->reply.userdata);
        g_free(l->model);
        g_free(l);
}

int backend_get_model_info(Backend *b, const char *model, const BackendReply *reply, HttpRequest **ret) {
        CachedInfo *c = g_hash_table_lookup(b->model_cache, model);
        InfoLookup *l;

        if (ret)
                *ret = NULL;
        if (c && now_usec(CLOCK_MONOTONIC) - c->when_usec < MODEL_CACHE_USEC) {
                json_t *info = json_incref(c->info);

                if (reply->cb)
                        reply->cb(b, info, NULL, reply->userdata);
                if (reply->destroy)
                        reply->destroy(reply->userdata);
                json_decref(info);
                return 0;
        }

        l = g_new0(InfoLookup, 1);
        l->model = g_strdup(model);
        l->reply = *reply;
        return b->ops->model_info(
                b, model,
                &(BackendReply){.cb = info_lookup_done, .userdata = l, .destroy = info_lookup_destroy}, ret);
}
