/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* An inference server speaking one wire protocol (one backend-<kind>.c per protocol). Every
 * operation is asynchronous over the shared HttpClient; results come back through callbacks on
 * the event loop. */

#include <jansson.h>

#include "config.h"
#include "http-event.h"
#include "lab-error.h"

typedef struct Backend Backend;
typedef struct BackendChat BackendChat;

typedef struct ChatRequest {
        const char *model;
        const char *system; /* composed system message; NULL or "" = none */
        const char *user;
        bool has_temperature;
        double temperature;
        uint32_t max_tokens; /* 0 = server default */
        bool has_seed;
        int64_t seed;
        uint32_t num_ctx; /* 0 = server default */
        int think;        /* -1 = do not send, 0 = false, 1 = true */
        bool cache_prompt_off;
} ChatRequest;

typedef enum ChatProgress {
        CHAT_PROGRESS_HEADERS,    /* response status and headers received */
        CHAT_PROGRESS_FIRST_BYTE, /* first byte of the body */
} ChatProgress;

#define UNKNOWN_COUNT (-1)

typedef struct ChatResult {
        LabError error; /* set when the run failed */
        bool complete;  /* the stream ended with its terminator and final counts */
        char *done_reason;
        int64_t prompt_tokens;     /* all input tokens (cached ones included); -1 = unknown */
        int64_t completion_tokens; /* all generated tokens (thinking included); -1 = unknown */
        int64_t cached_tokens;     /* prompt tokens served from the server's cache; -1 = unknown */
        int64_t reasoning_tokens;  /* where the server counts them separately; -1 = unknown */
        int64_t load_ns;           /* server timings; -1 = not reported */
        int64_t prompt_eval_ns;
        int64_t eval_ns;
        int64_t total_ns;
        uint64_t t_final_ns; /* arrival of the object carrying the final counts */
} ChatResult;

typedef struct ChatCallbacks {
        void (*on_progress)(BackendChat *c, ChatProgress p, uint64_t t_ns, void *userdata);
        /* A piece of streamed text, in order; @thinking for reasoning text. */
        void (*on_text)(BackendChat *c, const char *text, size_t size, bool thinking, uint64_t t_ns,
                        void *userdata);
        /* Exactly once, unless the chat was cancelled. The chat is freed after it returns. */
        void (*on_done)(BackendChat *c, ChatResult *result, void *userdata);
} ChatCallbacks;

/* @reply is borrowed; exactly one of @reply and @error is set. */
typedef void (*backend_reply_cb)(Backend *b, json_t *reply, const LabError *error, void *userdata);

/* How a metadata call reports back: @cb at most once, then @destroy(userdata) when the call is
 * over (also when it is cancelled through the returned HttpRequest, or fails to start). */
typedef struct BackendReply {
        backend_reply_cb cb;
        void *userdata;
        void (*destroy)(void *userdata);
} BackendReply;

typedef struct BackendOps {
        BackendKind kind;
        int (*chat)(Backend *b, const ChatRequest *req, const ChatCallbacks *cb, void *userdata,
                    BackendChat **ret);
        void (*chat_cancel)(BackendChat *c);
        /* reply: array of {name, backend, family, parameter_size, quantization, size_bytes, context_length}
         */
        int (*list_models)(Backend *b, const BackendReply *reply, HttpRequest **ret);
        /* reply: {name, backend, family, parameter_size, quantization, context_length, capabilities,
         * architecture} */
        int (*model_info)(Backend *b, const char *model, const BackendReply *reply, HttpRequest **ret);
        /* reply: {reachable: true, version} */
        int (*probe)(Backend *b, const BackendReply *reply, HttpRequest **ret);
        /* reply: {count: N, exact: true}; NULL when the protocol cannot tokenize */
        int (*tokenize)(Backend *b, const char *model, const char *text, bool add_special,
                        const BackendReply *reply, HttpRequest **ret);
        /* The server's prompt token count for a whole chat request, by a minimal generation (one
         * token): reply {count: N, exact: true}. NULL when the protocol has a tokenizer instead. */
        int (*count_prompt)(Backend *b, const ChatRequest *req, const BackendReply *reply,
                            HttpRequest **ret);
} BackendOps;

struct Backend {
        const BackendOps *ops;
        char *id;
        char *url;
        char *api_key;
        HttpClient *http;
        unsigned connect_timeout_ms;
        unsigned first_byte_timeout_ms;
        unsigned idle_timeout_ms;

        /* Last probe */
        bool reachable;
        bool probed;
        char *version;
        char *last_error;

        GHashTable *model_cache; /* name → CachedInfo */
        GHashTable
                *token_cache; /* "model\x1f<kind>\x1f<text hash>" → token count (GINT_TO_POINTER(n + 1)) */
};

extern const BackendOps backend_ollama_ops;
extern const BackendOps backend_openai_ops;

int backend_new(const BackendConfig *config, const Config *daemon_config, HttpClient *http, Backend **ret);
Backend *backend_free(Backend *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Backend *, backend_free);

const char *backend_kind_name(const Backend *b);

/* The Backends property entry: {id, kind, url, reachable, version, error}. */
json_t *backend_status_json(const Backend *b);
void backend_set_status(Backend *b, bool reachable, const char *version, const char *error);

/* Model info with a short-lived cache (a model's capabilities decide the request's "think" field).
 * On a cache hit @cb is called before this returns and *ret is NULL. */
int backend_get_model_info(Backend *b, const char *model, const BackendReply *reply, HttpRequest **ret);

/* Starts a buffered JSON request whose 2xx result is turned into a reply by @parse (which sets
 * either *ret_reply or @error); transport errors and HTTP errors are mapped generically. Shared by
 * the wire modules. */
typedef int (*backend_parse_fn)(Backend *b, long status, json_t *json, const char *body, const char *arg,
                                json_t **ret_reply, LabError *error);
int backend_call(Backend *b, const char *method, const char *path, const char *body, const char *arg,
                 backend_parse_fn parse, const BackendReply *reply, HttpRequest **ret);
bool model_info_has_capability(json_t *info, const char *capability);

void chat_result_clear(ChatResult *r);
void chat_result_init(ChatResult *r);

/* Maps a transport failure to BackendUnavailable / BackendError with a message naming the URL. */
int backend_transport_error(const Backend *b, const char *url, int error, const char *message,
                            LabError *ret);
/* Extracts the message of an HTTP error body ({"error": "…"}, {"error": {"message": …}},
 * {"message": …} or plain text) and maps the status: 404 + "not found" → NoSuchModel. */
int backend_http_error(const Backend *b, long status, json_t *json, const char *body, LabError *ret);

/* Helpers for the wire code */
char *backend_url(const Backend *b, const char *path);
HttpRequestSpec backend_request_spec(const Backend *b, const char *method, const char *url, const char *body,
                                     bool streaming);
