/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <curl/curl.h>
#include <glib.h>

#include "http-event.h"
#include "log.h"

struct HttpClient {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        GHashTable *io_sources; /* fd → sd_event_source* */
        GHashTable *requests;   /* live HttpRequest* (set) */
        GPtrArray *dead;        /* cancelled while libcurl was running; freed from the defer source */
        GPtrArray *pending_add; /* started while libcurl was running; added from the defer source */
        sd_event_source *defer;
        unsigned in_curl; /* > 0 while inside curl_multi_socket_action() */
};

struct HttpRequest {
        HttpClient *client;
        CURL *easy;
        struct curl_slist *headers;
        char *url;
        char *body;
        HttpCallbacks cb;
        void (*destroy)(void *userdata);
        void *userdata;
        sd_event_source *timeout;
        unsigned first_byte_timeout_ms;
        unsigned idle_timeout_ms;
        uint64_t start_ns;
        bool headers_done;
        bool got_data;
        bool cancelled;
        bool added;
        int abort_error;
        char *abort_message;
        char errbuf[CURL_ERROR_SIZE];
};

static void request_free(HttpRequest *r) {
        if (!r)
                return;
        if (r->easy) {
                if (r->added)
                        (void) curl_multi_remove_handle(r->client->multi, r->easy);
                curl_easy_cleanup(r->easy);
        }
        curl_slist_free_all(r->headers);
        sd_event_source_disable_unref(r->timeout);
        g_hash_table_remove(r->client->requests, r);
        if (r->destroy)
                r->destroy(r->userdata);
        free(r->url);
        free(r->body);
        free(r->abort_message);
        free(r);
}

static int defer_handler(sd_event_source *s, void *userdata);

static void client_schedule_defer(HttpClient *c) {
        if (c->defer)
                (void) sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
}

static int add_handle(HttpRequest *r) {
        CURLMcode mc = curl_multi_add_handle(r->client->multi, r->easy);

        if (mc != CURLM_OK)
                return log_debug_errno(-EIO, "curl_multi_add_handle() failed: %s", curl_multi_strerror(mc));
        r->added = true;
        return 0;
}

static void request_finish(HttpRequest *r, int error, const char *message) {
        long status = 0;

        if (r->easy)
                (void) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        if (r->cb.on_done)
                r->cb.on_done(r, error, status, message, r->userdata);
        request_free(r);
}

static int curl_code_to_errno(CURLcode code) {
        switch (code) {
        case CURLE_OK: return 0;
        case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
        case CURLE_GOT_NOTHING: return -ECONNRESET;
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR: return -EPIPE;
        case CURLE_OUT_OF_MEMORY: return -ENOMEM;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL: return -EINVAL;
        default: return -EIO;
        }
}

static void check_multi_info(HttpClient *c) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(c->multi, &left))) {
                HttpRequest *r = NULL;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                (void) curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &r);
                if (!r || r->cancelled)
                        continue;

                if (r->abort_error < 0) {
                        request_finish(r, r->abort_error, r->abort_message);
                        continue;
                }
                if (msg->data.result == CURLE_OK) {
                        request_finish(r, 0, NULL);
                        continue;
                }
                {
                        int error = curl_code_to_errno(msg->data.result);
                        const char *m = r->errbuf[0] ? r->errbuf : curl_easy_strerror(msg->data.result);
                        g_autofree char *text = NULL;

                        if (msg->data.result == CURLE_GOT_NOTHING)
                                text = g_strdup("the server closed the connection without sending anything");
                        else if (msg->data.result == CURLE_PARTIAL_FILE ||
                                 msg->data.result == CURLE_RECV_ERROR)
                                text = g_strdup_printf(
                                        "the connection was closed before the response ended (%s)", m);
                        else
                                text = g_strdup(m);
                        request_finish(r, error, text);
                }
        }
}

static void socket_action(HttpClient *c, curl_socket_t fd, int events) {
        int running;

        c->in_curl++;
        (void) curl_multi_socket_action(c->multi, fd, events, &running);
        c->in_curl--;
        check_multi_info(c);
}

static int io_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HttpClient *c = userdata;
        int events = 0;

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
                events |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                events |= CURL_CSELECT_OUT;
        if (revents & EPOLLERR)
                events |= CURL_CSELECT_ERR;
        socket_action(c, fd, events);
        return 0;
}

static int timer_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        socket_action(userdata, CURL_SOCKET_TIMEOUT, 0);
        return 0;
}

static int socket_callback(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        HttpClient *c = userp;
        sd_event_source *s = g_hash_table_lookup(c->io_sources, GINT_TO_POINTER(fd));
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (s)
                        g_hash_table_remove(c->io_sources, GINT_TO_POINTER(fd));
                return 0;
        }
        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;

        if (s) {
                r = sd_event_source_set_io_events(s, events);
                if (r < 0)
                        return log_debug_errno(r, "Failed to update I/O events: %m"), -1;
                return 0;
        }
        r = sd_event_add_io(c->event, &s, fd, events, io_handler, c);
        if (r < 0)
                return log_warning_errno(r, "Failed to watch curl socket: %m"), -1;
        (void) sd_event_source_set_description(s, "curl-io");
        g_hash_table_insert(c->io_sources, GINT_TO_POINTER(fd), s);
        return 0;
}

static int timer_callback(CURLM *multi, long timeout_ms, void *userp) {
        HttpClient *c = userp;
        int r;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0 ? -1 : 0;

        r = sd_event_source_set_time_relative(c->timer, (uint64_t) timeout_ms * USEC_PER_MSEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
        return r < 0 ? -1 : 0;
}

static int defer_handler(sd_event_source *s, void *userdata) {
        HttpClient *c = userdata;

        while (c->dead->len > 0)
                request_free(g_ptr_array_steal_index(c->dead, 0));
        while (c->pending_add->len > 0) {
                HttpRequest *r = g_ptr_array_steal_index(c->pending_add, 0);
                int k = add_handle(r);

                if (k < 0)
                        request_finish(r, k, "Failed to start the transfer");
        }
        return 0;
}

static void io_source_free(gpointer p) {
        sd_event_source_disable_unref(p);
}

int http_client_new(sd_event *event, HttpClient **ret) {
        _cleanup_(http_client_freep) HttpClient *c = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->io_sources = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, io_source_free);
        c->requests = g_hash_table_new(g_direct_hash, g_direct_equal);
        c->dead = g_ptr_array_new();
        c->pending_add = g_ptr_array_new();

        c->multi = curl_multi_init();
        if (!c->multi)
                return -ENOMEM;
        (void) curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
        (void) curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
        (void) curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_callback);
        (void) curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);

        r = sd_event_add_time(event, &c->timer, CLOCK_MONOTONIC, 0, 0, timer_handler, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(c->timer, "curl-timer");

        r = sd_event_add_defer(event, &c->defer, defer_handler, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(c->defer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(c->defer, "curl-defer");

        *ret = TAKE_PTR(c);
        return 0;
}

HttpClient *http_client_free(HttpClient *c) {
        if (!c)
                return NULL;

        /* Requests still running are cancelled silently. */
        while (c->dead->len > 0)
                request_free(g_ptr_array_steal_index(c->dead, 0));
        while (c->pending_add->len > 0)
                request_free(g_ptr_array_steal_index(c->pending_add, 0));
        {
                GHashTableIter it;
                gpointer key;

                g_hash_table_iter_init(&it, c->requests);
                while (g_hash_table_iter_next(&it, &key, NULL)) {
                        g_hash_table_iter_steal(&it);
                        ((HttpRequest *) key)->cb = (HttpCallbacks){};
                        request_free(key);
                }
        }
        if (c->multi)
                curl_multi_cleanup(c->multi);
        g_hash_table_unref(c->io_sources);
        g_hash_table_unref(c->requests);
        g_ptr_array_unref(c->dead);
        g_ptr_array_unref(c->pending_add);
        sd_event_source_disable_unref(c->timer);
        sd_event_source_disable_unref(c->defer);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

static int arm_timeout(HttpRequest *r, unsigned ms);

static int request_timeout_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        HttpRequest *r = userdata;
        g_autofree char *msg = NULL;

        if (!r->got_data)
                msg = g_strdup_printf("no response within %u s", r->first_byte_timeout_ms / 1000);
        else
                msg = g_strdup_printf("the stream stalled: nothing received for %u s",
                                      r->idle_timeout_ms / 1000);
        request_finish(r, -ETIMEDOUT, msg);
        return 0;
}

static int arm_timeout(HttpRequest *r, unsigned ms) {
        int k;

        if (ms == 0)
                return sd_event_source_set_enabled(r->timeout, SD_EVENT_OFF);
        k = sd_event_source_set_time_relative(r->timeout, (uint64_t) ms * USEC_PER_MSEC);
        if (k < 0)
                return k;
        return sd_event_source_set_enabled(r->timeout, SD_EVENT_ONESHOT);
}

static void deliver_headers(HttpRequest *r, uint64_t t) {
        long status = 0;
        const char *ct = NULL;
        int k;

        r->headers_done = true;
        (void) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        (void) curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
        if (!r->cb.on_headers)
                return;
        k = r->cb.on_headers(r, status, ct, t, r->userdata);
        if (k < 0 && r->abort_error == 0)
                r->abort_error = k;
}

static size_t header_callback(char *buf, size_t size, size_t n, void *userdata) {
        HttpRequest *r = userdata;
        size_t len = size * n;

        if (r->cancelled)
                return 0;
        /* The blank line ending a final (non-1xx) header block. */
        if (!r->headers_done && (len == 2 && buf[0] == '\r' && buf[1] == '\n')) {
                long status = 0;

                (void) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
                if (status >= 200)
                        deliver_headers(r, now_ns(CLOCK_MONOTONIC));
                if (r->abort_error < 0)
                        return 0;
        }
        return len;
}

static size_t write_callback(char *data, size_t size, size_t n, void *userdata) {
        HttpRequest *r = userdata;
        uint64_t t = now_ns(CLOCK_MONOTONIC);
        size_t len = size * n;
        int k;

        if (r->cancelled || r->abort_error < 0)
                return 0;
        if (!r->headers_done)
                deliver_headers(r, t);
        if (!r->got_data || r->idle_timeout_ms > 0) {
                r->got_data = true;
                (void) arm_timeout(r, r->idle_timeout_ms);
        }
        if (r->cb.on_data && len > 0) {
                k = r->cb.on_data(r, data, len, t, r->userdata);
                if (k < 0) {
                        r->abort_error = k;
                        return 0;
                }
        }
        return len;
}

static int request_setup(HttpRequest *r, const HttpRequestSpec *spec) {
        CURL *e = r->easy;

        r->headers =
                curl_slist_append(r->headers, "Expect:"); /* never wait for 100-continue: it distorts TTFT */
        if (spec->body)
                r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
        if (spec->bearer_token) {
                g_autofree char *h = g_strdup_printf("Authorization: Bearer %s", spec->bearer_token);
                r->headers = curl_slist_append(r->headers, h);
        }
        if (!r->headers)
                return -ENOMEM;

        (void) curl_easy_setopt(e, CURLOPT_URL, r->url);
        (void) curl_easy_setopt(e, CURLOPT_PRIVATE, r);
        (void) curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
        (void) curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_callback);
        (void) curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
        (void) curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_callback);
        (void) curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
        (void) curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
        (void) curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(e, CURLOPT_NOPROXY, "*"); /* a buffering proxy would distort timings */
        (void) curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        (void) curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        (void) curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        (void) curl_easy_setopt(e, CURLOPT_USERAGENT, "llmlabd");
        (void) curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) (spec->connect_timeout_ms ?: 10000));
        if (spec->total_timeout_ms > 0)
                (void) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) spec->total_timeout_ms);
        if (spec->body) {
                (void) curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
                (void) curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) strlen(r->body));
        } else if (spec->method && streq(spec->method, "POST")) {
                (void) curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        }
        return 0;
}

int http_request_start(HttpClient *c, const HttpRequestSpec *spec, const HttpCallbacks *callbacks,
                       void *userdata, HttpRequest **ret) {
        HttpRequest *r;
        int k;

        r = calloc(1, sizeof(*r));
        if (!r) {
                if (callbacks->destroy)
                        callbacks->destroy(userdata);
                return -ENOMEM;
        }
        r->client = c;
        g_hash_table_add(c->requests, r);
        r->cb = *callbacks;
        r->destroy = callbacks->destroy;
        r->userdata = userdata;
        r->first_byte_timeout_ms = spec->first_byte_timeout_ms;
        r->idle_timeout_ms = spec->idle_timeout_ms;
        r->url = strdup(spec->url);
        r->body = spec->body ? strdup(spec->body) : NULL;
        r->easy = curl_easy_init();
        if (!r->url || (spec->body && !r->body) || !r->easy) {
                request_free(r);
                return -ENOMEM;
        }

        k = request_setup(r, spec);
        if (k >= 0)
                k = sd_event_add_time(c->event, &r->timeout, CLOCK_MONOTONIC, 0, 0, request_timeout_handler,
                                      r);
        if (k >= 0) {
                (void) sd_event_source_set_enabled(r->timeout, SD_EVENT_OFF);
                (void) sd_event_source_set_description(r->timeout, "http-timeout");
                k = arm_timeout(r, spec->first_byte_timeout_ms);
        }
        if (k < 0) {
                request_free(r);
                return k;
        }

        r->start_ns = now_ns(CLOCK_MONOTONIC);
        if (c->in_curl > 0) {
                /* libcurl forbids adding handles from within its callbacks. */
                g_ptr_array_add(c->pending_add, r);
                client_schedule_defer(c);
        } else {
                k = add_handle(r);
                if (k < 0) {
                        request_free(r);
                        return k;
                }
        }
        if (ret)
                *ret = r;
        return 0;
}

void http_request_cancel(HttpRequest *r) {
        HttpClient *c;

        if (!r || r->cancelled)
                return;
        c = r->client;
        r->cancelled = true;
        r->cb = (HttpCallbacks){};
        (void) sd_event_source_set_enabled(r->timeout, SD_EVENT_OFF);

        if (g_ptr_array_remove(c->pending_add, r)) {
                request_free(r);
                return;
        }
        if (c->in_curl > 0) {
                g_ptr_array_add(c->dead, r);
                client_schedule_defer(c);
                return;
        }
        request_free(r); /* removing an unfinished handle closes its connection */
}

uint64_t http_request_start_ns(HttpRequest *r) {
        return r ? r->start_ns : 0;
}

/* --- buffered JSON requests ------------------------------------------------------------------ */

typedef struct JsonRequest {
        GString *body;
        size_t max_body;
        http_json_cb cb;
        void *userdata;
        void (*destroy)(void *userdata);
} JsonRequest;

static int json_on_data(HttpRequest *r, const char *data, size_t size, uint64_t t_ns, void *userdata) {
        JsonRequest *j = userdata;

        if (j->body->len + size > j->max_body) {
                r->abort_message = g_strdup_printf("response larger than %zu bytes", j->max_body);
                return -EFBIG;
        }
        g_string_append_len(j->body, data, (gssize) size);
        return 0;
}

static void json_on_done(HttpRequest *r, int error, long status, const char *message, void *userdata) {
        JsonRequest *j = userdata;
        json_t *json = NULL;

        if (error >= 0 && j->body->len > 0)
                json = json_loadb(j->body->str, j->body->len, JSON_ALLOW_NUL, NULL);
        j->cb(error, status, json, j->body->str, message, j->userdata);
        json_decref(json);
}

static void json_destroy(void *userdata) {
        JsonRequest *j = userdata;

        if (j->destroy)
                j->destroy(j->userdata);
        g_string_free(j->body, TRUE);
        free(j);
}

int http_request_json(HttpClient *c, const HttpRequestSpec *spec, size_t max_body, http_json_cb cb,
                      void *userdata, void (*destroy)(void *userdata), HttpRequest **ret) {
        static const HttpCallbacks callbacks = {
                .on_data = json_on_data,
                .on_done = json_on_done,
                .destroy = json_destroy,
        };
        JsonRequest *j;

        j = calloc(1, sizeof(*j));
        if (!j) {
                if (destroy)
                        destroy(userdata);
                return -ENOMEM;
        }
        j->destroy = destroy;
        j->body = g_string_new(NULL);
        j->max_body = max_body;
        j->cb = cb;
        j->userdata = userdata;

        /* On failure http_request_start() has already called json_destroy(). */
        return http_request_start(c, spec, &callbacks, j, ret);
}
