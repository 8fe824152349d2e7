/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-job-stream.h"

struct _LabJobStream {
        GObject parent_instance;

        LabSignalRouter *router;
        LlmlabJob *proxy;
        GCancellable *cancellable;
        char *path;
        guint watch;
        gboolean finished;
        char *pending_result;
        GVariant *pending_summary;
};

enum { SIGNAL_PROGRESS, SIGNAL_FINISHED, SIGNAL_ERROR, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE(LabJobStream, lab_job_stream, G_TYPE_OBJECT)

static void finish(LabJobStream *self, const char *result, GVariant *summary, const char *message) {
        g_autoptr(GVariant) empty = NULL;

        if (self->finished)
                return;
        self->finished = TRUE;
        if (self->watch != 0) {
                lab_signal_router_unwatch(self->router, self->watch);
                self->watch = 0;
        }
        if (!summary)
                summary = empty = g_variant_ref_sink(g_variant_new("a{sv}", NULL));
        g_object_ref(self);
        g_signal_emit(self, signals[SIGNAL_FINISHED], 0, result, summary, message);
        g_object_unref(self);
}

static void on_error_property(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(LabJobStream) self = user_data;
        g_autoptr(GVariant) reply = NULL, value = NULL, summary = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *result = NULL;
        const char *name = NULL, *message = NULL;

        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
        if (!reply && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;
        if (reply) {
                g_variant_get(reply, "(v)", &value);
                if (g_variant_is_of_type(value, G_VARIANT_TYPE("(ss)")))
                        g_variant_get(value, "(&s&s)", &name, &message);
        }
        result = g_steal_pointer(&self->pending_result);
        summary = g_steal_pointer(&self->pending_summary);
        finish(self, result, summary, message && message[0] ? message : "the job failed");
}

static void on_signal(const char *path, const char *interface, const char *member, GVariant *params,
                      gpointer user_data) {
        LabJobStream *self = user_data;

        if (self->finished || self->pending_result || !g_str_equal(interface, "org.llmlab.Lab1.Job"))
                return;
        if (g_str_equal(member, "Progress") && g_variant_is_of_type(params, G_VARIANT_TYPE("(uuo)"))) {
                const char *current;
                guint done, total;

                g_variant_get(params, "(uu&o)", &done, &total, &current);
                g_signal_emit(self, signals[SIGNAL_PROGRESS], 0, done, total, current);
        } else if (g_str_equal(member, "Finished") &&
                   g_variant_is_of_type(params, G_VARIANT_TYPE("(sa{sv})"))) {
                const char *result;
                g_autoptr(GVariant) summary = NULL;

                g_variant_get(params, "(&s@a{sv})", &result, &summary);
                if (!g_str_equal(result, "failed")) {
                        finish(self, result, summary, NULL);
                        return;
                }
                self->pending_result = g_strdup(result);
                self->pending_summary = g_steal_pointer(&summary);
                g_dbus_connection_call(lab_signal_router_get_connection(self->router),
                                       lab_signal_router_get_owner(self->router), self->path,
                                       "org.freedesktop.DBus.Properties", "Get",
                                       g_variant_new("(ss)", "org.llmlab.Lab1.Job", "Error"),
                                       G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable,
                                       on_error_property, g_object_ref(self));
        }
}

LabJobStream *lab_job_stream_new(LabSignalRouter *router, const char *path) {
        g_autoptr(GError) error = NULL;
        LabJobStream *self;

        g_return_val_if_fail(LAB_IS_SIGNAL_ROUTER(router), NULL);
        g_return_val_if_fail(g_variant_is_object_path(path), NULL);

        self = g_object_new(LAB_TYPE_JOB_STREAM, NULL);
        self->router = g_object_ref(router);
        self->path = g_strdup(path);
        self->proxy = llmlab_job_proxy_new_sync(lab_signal_router_get_connection(router),
                                                G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                                        G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS |
                                                        G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                                lab_signal_router_get_owner(router), path, NULL, &error);
        if (!self->proxy)
                g_warning("Failed to create a proxy for %s: %s", path, error->message);
        self->watch = lab_signal_router_watch(router, path, on_signal, self);
        return self;
}

const char *lab_job_stream_get_path(LabJobStream *self) {
        g_return_val_if_fail(LAB_IS_JOB_STREAM(self), NULL);
        return self->path;
}

gboolean lab_job_stream_is_finished(LabJobStream *self) {
        g_return_val_if_fail(LAB_IS_JOB_STREAM(self), TRUE);
        return self->finished;
}

static void on_cancelled(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(LabJobStream) self = user_data;
        g_autoptr(GError) error = NULL;

        if (llmlab_job_call_cancel_finish(LLMLAB_JOB(source), res, &error))
                return;
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->finished)
                return;
        g_signal_emit(self, signals[SIGNAL_ERROR], 0, error);
}

void lab_job_stream_cancel(LabJobStream *self) {
        g_return_if_fail(LAB_IS_JOB_STREAM(self));
        if (self->finished || !self->proxy)
                return;
        llmlab_job_call_cancel(self->proxy, self->cancellable, on_cancelled, g_object_ref(self));
}

void lab_job_stream_abandon(LabJobStream *self) {
        g_return_if_fail(LAB_IS_JOB_STREAM(self));
        g_cancellable_cancel(self->cancellable);
        finish(self, "failed", NULL, "the llmlab daemon went away");
}

static void lab_job_stream_dispose(GObject *object) {
        LabJobStream *self = LAB_JOB_STREAM(object);

        g_cancellable_cancel(self->cancellable);
        if (self->watch != 0) {
                lab_signal_router_unwatch(self->router, self->watch);
                self->watch = 0;
        }
        g_clear_object(&self->proxy);
        g_clear_object(&self->router);
        G_OBJECT_CLASS(lab_job_stream_parent_class)->dispose(object);
}

static void lab_job_stream_finalize(GObject *object) {
        LabJobStream *self = LAB_JOB_STREAM(object);

        g_clear_object(&self->cancellable);
        g_free(self->path);
        g_free(self->pending_result);
        g_clear_pointer(&self->pending_summary, g_variant_unref);
        G_OBJECT_CLASS(lab_job_stream_parent_class)->finalize(object);
}

static void lab_job_stream_class_init(LabJobStreamClass *klass) {
        GObjectClass *object_class = G_OBJECT_CLASS(klass);

        object_class->dispose = lab_job_stream_dispose;
        object_class->finalize = lab_job_stream_finalize;
        /* progress(done, total, current run path or "/") */
        signals[SIGNAL_PROGRESS] =
                g_signal_new("progress", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                             G_TYPE_NONE, 3, G_TYPE_UINT, G_TYPE_UINT, G_TYPE_STRING);
        /* finished(result, summary a{sv}, error message or NULL) */
        signals[SIGNAL_FINISHED] =
                g_signal_new("finished", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                             G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_VARIANT, G_TYPE_STRING);
        signals[SIGNAL_ERROR] = g_signal_new("error", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                             NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void lab_job_stream_init(LabJobStream *self) {
        self->cancellable = g_cancellable_new();
}
