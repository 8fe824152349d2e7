/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-run-stream.h"

struct _LabRunStream {
        GObject parent_instance;

        LabSignalRouter *router;
        LlmlabRun *proxy;
        GCancellable *cancellable;
        char *path;
        guint watch;
        guint64 last_seq;
        gboolean gap;
        gboolean finished;
        char *pending_result; /* Finished arrived; still reading the transcript or the error */
        GVariant *pending_metrics;
        gboolean need_transcript;
        gboolean need_error;
        GString *answer;
        GString *thinking;
};

enum { SIGNAL_CHUNK, SIGNAL_FINISHED, SIGNAL_RESYNC, SIGNAL_ERROR, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE(LabRunStream, lab_run_stream, G_TYPE_OBJECT)

static void finish(LabRunStream *self, const char *result, GVariant *metrics, const char *message) {
        g_autoptr(GVariant) empty = NULL;

        if (self->finished)
                return;
        self->finished = TRUE;
        if (self->watch != 0) {
                lab_signal_router_unwatch(self->router, self->watch);
                self->watch = 0;
        }
        if (!metrics)
                metrics = empty = g_variant_ref_sink(g_variant_new("a{sv}", NULL));
        g_object_ref(self);
        g_signal_emit(self, signals[SIGNAL_FINISHED], 0, result, metrics, message);
        g_object_unref(self);
}

static void continue_finish(LabRunStream *self, const char *message);

/* Chunks were missed (a gap in seq): take the full text from the daemon. */
static void on_transcript(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(LabRunStream) self = user_data;
        g_autofree char *answer = NULL, *thinking = NULL;
        g_autoptr(GError) error = NULL;

        if (llmlab_run_call_get_transcript_finish(LLMLAB_RUN(source), &answer, &thinking, res, &error)) {
                g_string_assign(self->answer, answer);
                g_string_assign(self->thinking, thinking);
                g_signal_emit(self, signals[SIGNAL_RESYNC], 0);
        } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;
        else
                g_warning("Failed to read the transcript of %s: %s", self->path, error->message);
        continue_finish(self, NULL);
}

/* A failed run: read Error (name, message) for the person. */
static void on_error_property(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(LabRunStream) self = user_data;
        g_autoptr(GVariant) reply = NULL, value = NULL;
        g_autoptr(GError) error = NULL;
        const char *name = NULL, *message = NULL;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
        if (!reply && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;
        if (reply) {
                g_variant_get(reply, "(v)", &value);
                if (g_variant_is_of_type(value, G_VARIANT_TYPE("(ss)")))
                        g_variant_get(value, "(&s&s)", &name, &message);
        }
        continue_finish(self, message && message[0] ? message : "the run failed");
}

static void continue_finish(LabRunStream *self, const char *message) {
        g_autofree char *result = NULL;
        g_autoptr(GVariant) metrics = NULL;

        if (self->need_transcript && self->proxy) {
                self->need_transcript = FALSE;
                llmlab_run_call_get_transcript(self->proxy, self->cancellable, on_transcript,
                                               g_object_ref(self));
                return;
        }
        if (self->need_error) {
                self->need_error = FALSE;
                g_dbus_connection_call(lab_signal_router_get_connection(self->router),
                                       lab_signal_router_get_owner(self->router), self->path,
                                       "org.freedesktop.DBus.Properties", "Get",
                                       g_variant_new("(ss)", "org.llmlab.Lab1.Run", "Error"),
                                       G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable,
                                       on_error_property, g_object_ref(self));
                return;
        }
        result = g_steal_pointer(&self->pending_result);
        metrics = g_steal_pointer(&self->pending_metrics);
        finish(self, result, metrics, message);
}

static void on_chunk(LabRunStream *self, GVariant *params) {
        const char *text;
        gboolean thinking;
        guint64 seq;

        g_variant_get(params, "(t&sb)", &seq, &text, &thinking);
        if (seq != self->last_seq + 1)
                self->gap = TRUE;
        self->last_seq = MAX(self->last_seq, seq);
        g_string_append(thinking ? self->thinking : self->answer, text);
        g_signal_emit(self, signals[SIGNAL_CHUNK], 0, text, thinking);
}

static void on_finished(LabRunStream *self, GVariant *params) {
        if (self->pending_result)
                return;
        g_variant_get(params, "(s@a{sv})", &self->pending_result, &self->pending_metrics);
        self->need_transcript = self->gap;
        self->need_error = g_str_equal(self->pending_result, "failed");
        continue_finish(self, NULL);
}

static void on_signal(const char *path, const char *interface, const char *member, GVariant *params,
                      gpointer user_data) {
        LabRunStream *self = user_data;

        if (self->finished || !g_str_equal(interface, "org.llmlab.Lab1.Run"))
                return;
        if (g_str_equal(member, "Chunk") && g_variant_is_of_type(params, G_VARIANT_TYPE("(tsb)")))
                on_chunk(self, params);
        else if (g_str_equal(member, "Finished") && g_variant_is_of_type(params, G_VARIANT_TYPE("(sa{sv})")))
                on_finished(self, params);
}

LabRunStream *lab_run_stream_new(LabSignalRouter *router, const char *path) {
        g_autoptr(GError) error = NULL;
        LabRunStream *self;

        g_return_val_if_fail(LAB_IS_SIGNAL_ROUTER(router), NULL);
        g_return_val_if_fail(g_variant_is_object_path(path), NULL);

        self = g_object_new(LAB_TYPE_RUN_STREAM, NULL);
        self->router = g_object_ref(router);
        self->path = g_strdup(path);
        /* The unique name and these flags make the proxy do no I/O: calls only. */
        self->proxy = llmlab_run_proxy_new_sync(lab_signal_router_get_connection(router),
                                                G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                                        G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS |
                                                        G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                                lab_signal_router_get_owner(router), path, NULL, &error);
        if (!self->proxy)
                g_warning("Failed to create a proxy for %s: %s", path, error->message);
        self->watch = lab_signal_router_watch(router, path, on_signal, self);
        return self;
}

const char *lab_run_stream_get_path(LabRunStream *self) {
        g_return_val_if_fail(LAB_IS_RUN_STREAM(self), NULL);
        return self->path;
}

LlmlabRun *lab_run_stream_get_proxy(LabRunStream *self) {
        g_return_val_if_fail(LAB_IS_RUN_STREAM(self), NULL);
        return self->proxy;
}

gboolean lab_run_stream_is_finished(LabRunStream *self) {
        g_return_val_if_fail(LAB_IS_RUN_STREAM(self), TRUE);
        return self->finished;
}

const char *lab_run_stream_get_answer(LabRunStream *self) {
        g_return_val_if_fail(LAB_IS_RUN_STREAM(self), NULL);
        return self->answer->str;
}

const char *lab_run_stream_get_thinking(LabRunStream *self) {
        g_return_val_if_fail(LAB_IS_RUN_STREAM(self), NULL);
        return self->thinking->str;
}

static void on_cancelled(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(LabRunStream) self = user_data;
        g_autoptr(GError) error = NULL;

        if (llmlab_run_call_cancel_finish(LLMLAB_RUN(source), res, &error))
                return;
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->finished)
                return;
        g_signal_emit(self, signals[SIGNAL_ERROR], 0, error);
}

void lab_run_stream_cancel(LabRunStream *self) {
        g_return_if_fail(LAB_IS_RUN_STREAM(self));

        if (self->finished || !self->proxy)
                return;
        llmlab_run_call_cancel(self->proxy, self->cancellable, on_cancelled, g_object_ref(self));
}

void lab_run_stream_abandon(LabRunStream *self) {
        g_return_if_fail(LAB_IS_RUN_STREAM(self));
        g_cancellable_cancel(self->cancellable);
        finish(self, "failed", NULL, "the llmlab daemon went away");
}

static void lab_run_stream_dispose(GObject *object) {
        LabRunStream *self = LAB_RUN_STREAM(object);

        g_cancellable_cancel(self->cancellable);
        if (self->watch != 0) {
                lab_signal_router_unwatch(self->router, self->watch);
                self->watch = 0;
        }
        g_clear_object(&self->proxy);
        g_clear_object(&self->router);
        G_OBJECT_CLASS(lab_run_stream_parent_class)->dispose(object);
}

static void lab_run_stream_finalize(GObject *object) {
        LabRunStream *self = LAB_RUN_STREAM(object);

        g_clear_object(&self->cancellable);
        g_free(self->path);
        g_free(self->pending_result);
        g_clear_pointer(&self->pending_metrics, g_variant_unref);
        g_string_free(self->answer, TRUE);
        g_string_free(self->thinking, TRUE);
        G_OBJECT_CLASS(lab_run_stream_parent_class)->finalize(object);
}

static void lab_run_stream_class_init(LabRunStreamClass *klass) {
        GObjectClass *object_class = G_OBJECT_CLASS(klass);

        object_class->dispose = lab_run_stream_dispose;
        object_class->finalize = lab_run_stream_finalize;

        /* chunk(text, thinking) */
        signals[SIGNAL_CHUNK] = g_signal_new("chunk", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                             NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BOOLEAN);
        /* finished(result, metrics a{sv}, error message of a failed run or NULL) */
        signals[SIGNAL_FINISHED] =
                g_signal_new("finished", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                             G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_VARIANT, G_TYPE_STRING);
        /* resync: answer and thinking were replaced by the daemon's transcript */
        signals[SIGNAL_RESYNC] = g_signal_new("resync", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                              NULL, NULL, G_TYPE_NONE, 0);
        /* error(GError) of a call made on the run's behalf (Cancel) */
        signals[SIGNAL_ERROR] = g_signal_new("error", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                             NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void lab_run_stream_init(LabRunStream *self) {
        self->cancellable = g_cancellable_new();
        self->answer = g_string_new(NULL);
        self->thinking = g_string_new(NULL);
}
