/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* libcurl's multi-socket API driven by sd-event: every transfer is non-blocking, no threads.
 * Streaming transfers get their body bytes as they arrive, with a first-byte timeout (a model may
 * take minutes to load) and an idle timeout (silence between two reads) instead of a total one. */

#include <jansson.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct HttpClient HttpClient;
typedef struct HttpRequest HttpRequest;

typedef struct HttpRequestSpec {
        const char *method; /* "GET" or "POST" */
        const char *url;
        const char *body;         /* POST body (JSON), may be NULL */
        const char *bearer_token; /* Authorization: Bearer …, may be NULL */
        unsigned connect_timeout_ms;
        unsigned first_byte_timeout_ms; /* 0 = none */
        unsigned idle_timeout_ms;       /* 0 = none */
        unsigned total_timeout_ms;      /* 0 = none; for short metadata calls */
} HttpRequestSpec;

typedef struct HttpCallbacks {
        /* The response status line and headers are complete. Return < 0 to abort. */
        int (*on_headers)(HttpRequest *r, long status, const char *content_type, uint64_t t_ns,
                          void *userdata);
        /* Body bytes, as they arrive. Return < 0 to abort (on_done then reports that error). */
        int (*on_data)(HttpRequest *r, const char *data, size_t size, uint64_t t_ns, void *userdata);
        /* Called exactly once unless the request was cancelled with http_request_cancel().
         * @error is 0 when the transfer completed (whatever the HTTP status), otherwise a negative
         * errno (-ECONNREFUSED, -ETIMEDOUT, …) with a human-readable @message. The request is
         * freed after this returns. */
        void (*on_done)(HttpRequest *r, int error, long status, const char *message, void *userdata);
        /* Called when the request is freed, in every case (after on_done, or on cancel). */
        void (*destroy)(void *userdata);
} HttpCallbacks;

int http_client_new(sd_event *event, HttpClient **ret);
HttpClient *http_client_free(HttpClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpClient *, http_client_free);

int http_request_start(HttpClient *c, const HttpRequestSpec *spec, const HttpCallbacks *callbacks,
                       void *userdata, HttpRequest **ret);

/* Closes the connection and frees the request; no callback is called afterwards. Safe to call
 * from within the request's own callbacks. */
void http_request_cancel(HttpRequest *r);

/* When the request was sent (CLOCK_MONOTONIC ns): the moment the transfer was handed to libcurl. */
uint64_t http_request_start_ns(HttpRequest *r);

/* Buffered JSON convenience: collects the body (at most @max_body bytes), and calls @cb with the
 * parsed JSON (or NULL when the body is not JSON), the status and the raw body. @destroy (may be
 * NULL) is called on @userdata when the request is over: after @cb, on cancel, or when starting
 * fails. */
typedef void (*http_json_cb)(int error, long status, json_t *json, const char *body, const char *message,
                             void *userdata);
int http_request_json(HttpClient *c, const HttpRequestSpec *spec, size_t max_body, http_json_cb cb,
                      void *userdata, void (*destroy)(void *userdata), HttpRequest **ret);
