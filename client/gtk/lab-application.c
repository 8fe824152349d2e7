/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "build-config.h"
#include "lab-actions.h"
#include "lab-application.h"
#include "lab-window.h"

struct _LabApplication {
        AdwApplication parent_instance;

        gboolean user_bus;
        GCancellable *cancellable; /* the bus connection and the Manager proxy */
        GDBusConnection *bus;
        guint watch_id;
        LabSignalRouter *router;
        LabSignalRouter *pending_router; /* until the Manager proxy is ready */
        LlmlabManager *manager;
};

enum { SIGNAL_DAEMON_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE(LabApplication, lab_application, ADW_TYPE_APPLICATION)

LlmlabManager *lab_application_get_manager(LabApplication *self) {
        g_return_val_if_fail(LAB_IS_APPLICATION(self), NULL);
        return self->manager;
}

LabSignalRouter *lab_application_get_router(LabApplication *self) {
        g_return_val_if_fail(LAB_IS_APPLICATION(self), NULL);
        return self->router;
}

gboolean lab_application_is_user_bus(LabApplication *self) {
        g_return_val_if_fail(LAB_IS_APPLICATION(self), FALSE);
        return self->user_bus;
}

char *lab_error_message(const GError *error) {
        g_autoptr(GError) copy = NULL;

        if (!error)
                return g_strdup("unknown error");
        copy = g_error_copy(error);
        if (g_dbus_error_is_remote_error(copy))
                g_dbus_error_strip_remote_error(copy);
        return g_strdup(copy->message);
}

static LabWindow *active_window(LabApplication *self) {
        GtkWindow *win = gtk_application_get_active_window(GTK_APPLICATION(self));

        return LAB_IS_WINDOW(win) ? LAB_WINDOW(win) : NULL;
}

void lab_application_report_error(LabApplication *self, const char *what, const GError *error) {
        g_autofree char *message = lab_error_message(error);
        g_autofree char *text = g_strdup_printf("%s: %s", what, message);
        LabWindow *win;

        g_return_if_fail(LAB_IS_APPLICATION(self));
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;
        g_message("%s", text);
        win = active_window(self);
        if (win)
                lab_window_add_toast(win, text, TRUE);
}

void lab_application_show_error(LabApplication *self, const char *text) {
        LabWindow *win = active_window(self);

        g_return_if_fail(LAB_IS_APPLICATION(self));
        g_message("%s", text);
        if (win)
                lab_window_add_toast(win, text, TRUE);
}

void lab_application_notify(LabApplication *self, const char *message) {
        LabWindow *win = active_window(self);

        g_return_if_fail(LAB_IS_APPLICATION(self));
        if (win)
                lab_window_add_toast(win, message, FALSE);
}

static void on_call_start(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GTask) task = user_data;
        g_autoptr(GVariant) reply = NULL;
        GError *error = NULL;
        const char *path;

        reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), res, &error);
        if (!reply)
                return g_task_return_error(task, error);
        g_variant_get(reply, "(&o)", &path);
        g_task_return_pointer(task, g_strdup(path), g_free);
}

void lab_application_call_start(LabApplication *self, const char *method, GVariant *params,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data) {
        g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

        g_return_if_fail(LAB_IS_APPLICATION(self));
        g_task_set_source_tag(task, lab_application_call_start);
        if (!self->manager) {
                if (params)
                        g_variant_unref(g_variant_ref_sink(params));
                g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                                        "the llmlab daemon is not running");
                return;
        }
        g_dbus_proxy_call(G_DBUS_PROXY(self->manager), method, params,
                          G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, -1, cancellable, on_call_start,
                          g_steal_pointer(&task));
}

char *lab_application_call_start_finish(LabApplication *self, GAsyncResult *res, GError **error) {
        g_return_val_if_fail(g_task_is_valid(res, self), NULL);
        return g_task_propagate_pointer(G_TASK(res), error);
}

static void set_daemon(LabApplication *self, LabSignalRouter *router, LlmlabManager *manager) {
        g_set_object(&self->router, router);
        g_set_object(&self->manager, manager);
        g_signal_emit(self, signals[SIGNAL_DAEMON_CHANGED], 0);
}

typedef struct {
        LabApplication *self;
        LabSignalRouter *router;
} ProxyCall;

static void on_manager_proxy(GObject *source, GAsyncResult *res, gpointer user_data) {
        ProxyCall *c = user_data;
        g_autoptr(LlmlabManager) manager = NULL;
        g_autoptr(GError) error = NULL;

        manager = llmlab_manager_proxy_new_finish(res, &error);
        if (!manager) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        lab_application_report_error(c->self, "Cannot talk to the llmlab daemon", error);
        } else if (c->router == c->self->pending_router) {
                /* Still the same daemon instance (on_name_vanished clears the pending router). */
                g_clear_object(&c->self->pending_router);
                g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(manager), 120 * 1000);
                set_daemon(c->self, c->router, manager);
        }
        g_object_unref(c->router);
        g_object_unref(c->self);
        g_free(c);
}

static void on_name_appeared(GDBusConnection *bus, const char *name, const char *owner, gpointer user_data) {
        LabApplication *self = user_data;
        ProxyCall *c;

        g_debug("%s appeared as %s", name, owner);
        if (self->router)
                set_daemon(self, NULL, NULL);
        g_cancellable_cancel(self->cancellable);
        g_clear_object(&self->cancellable);
        self->cancellable = g_cancellable_new();

        c = g_new0(ProxyCall, 1);
        c->self = g_object_ref(self);
        /* Subscribe before anything is called, so that no signal can be missed. */
        c->router = lab_signal_router_new(bus, owner);
        g_set_object(&self->pending_router, c->router);
        llmlab_manager_proxy_new(bus, G_DBUS_PROXY_FLAGS_GET_INVALIDATED_PROPERTIES, LAB_BUS_NAME,
                                 LAB_MANAGER_PATH, self->cancellable, on_manager_proxy, c);
}

static void on_name_vanished(GDBusConnection *bus, const char *name, gpointer user_data) {
        LabApplication *self = user_data;

        g_debug("%s vanished", name);
        g_cancellable_cancel(self->cancellable);
        g_clear_object(&self->pending_router);
        if (self->router || self->manager)
                set_daemon(self, NULL, NULL);
        else
                g_signal_emit(self, signals[SIGNAL_DAEMON_CHANGED], 0);
}

static void on_bus(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(LabApplication) self = user_data;
        g_autoptr(GError) error = NULL;
        GBusNameWatcherFlags flags;

        self->bus = g_bus_get_finish(res, &error);
        if (!self->bus) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        lab_application_report_error(self, "Cannot connect to the bus", error);
                return;
        }
        /* On the system bus the daemon is D-Bus activatable; in user mode it is started by hand. */
        flags = self->user_bus ? G_BUS_NAME_WATCHER_FLAGS_NONE : G_BUS_NAME_WATCHER_FLAGS_AUTO_START;
        self->watch_id = g_bus_watch_name_on_connection(self->bus, LAB_BUS_NAME, flags, on_name_appeared,
                                                        on_name_vanished, self, NULL);
}

static gint lab_application_handle_local_options(GApplication *app, GVariantDict *options) {
        LabApplication *self = LAB_APPLICATION(app);

        if (g_variant_dict_contains(options, "version")) {
                g_print("llmlab-gtk %s\n", VERSION);
                return 0;
        }
        self->user_bus = g_variant_dict_contains(options, "user");
        return -1;
}

static const char app_css[] =
        ".lab-control-bar { padding: 8px 18px; }\n"
        ".lab-pane { padding: 14px; }\n"
        ".lab-facts .numeric, label.numeric { font-feature-settings: \"tnum\"; }\n"
        "textview.lab-text { background: transparent; }\n"
        "textview.lab-thinking { font-style: italic; color: alpha(currentColor, 0.7); }\n"
        "powerchart, trendchart { margin: 4px 0; }\n";

static void load_css(void) {
        g_autoptr(GtkCssProvider) provider = gtk_css_provider_new();

        gtk_css_provider_load_from_data(provider, app_css, -1);
        gtk_style_context_add_provider_for_display(gdk_display_get_default(), GTK_STYLE_PROVIDER(provider),
                                                   GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
}

static void lab_application_startup(GApplication *app) {
        LabApplication *self = LAB_APPLICATION(app);

        G_APPLICATION_CLASS(lab_application_parent_class)->startup(app);
        gtk_window_set_default_icon_name(LAB_APPLICATION_ID);
        load_css();
        lab_actions_install(self);
        self->cancellable = g_cancellable_new();
        g_bus_get(self->user_bus ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, NULL, on_bus, g_object_ref(self));
}

static void lab_application_activate(GApplication *app) {
        GtkWindow *win = gtk_application_get_active_window(GTK_APPLICATION(app));

        if (!win)
                win = GTK_WINDOW(lab_window_new(LAB_APPLICATION(app)));
        gtk_window_present(win);
}

static void lab_application_shutdown(GApplication *app) {
        LabApplication *self = LAB_APPLICATION(app);

        if (self->watch_id != 0) {
                g_bus_unwatch_name(self->watch_id);
                self->watch_id = 0;
        }
        g_cancellable_cancel(self->cancellable);
        G_APPLICATION_CLASS(lab_application_parent_class)->shutdown(app);
}

static void lab_application_dispose(GObject *object) {
        LabApplication *self = LAB_APPLICATION(object);

        g_clear_object(&self->manager);
        g_clear_object(&self->router);
        g_clear_object(&self->pending_router);
        g_clear_object(&self->bus);
        g_clear_object(&self->cancellable);
        G_OBJECT_CLASS(lab_application_parent_class)->dispose(object);
}

static void lab_application_class_init(LabApplicationClass *klass) {
        GObjectClass *object_class = G_OBJECT_CLASS(klass);
        GApplicationClass *app_class = G_APPLICATION_CLASS(klass);

        object_class->dispose = lab_application_dispose;
        app_class->handle_local_options = lab_application_handle_local_options;
        app_class->startup = lab_application_startup;
        app_class->activate = lab_application_activate;
        app_class->shutdown = lab_application_shutdown;

        signals[SIGNAL_DAEMON_CHANGED] =
                g_signal_new("daemon-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                             NULL, G_TYPE_NONE, 0);
}

static void lab_application_init(LabApplication *self) {
        static const GOptionEntry entries[] = {
                {"user", 0, 0, G_OPTION_ARG_NONE, NULL,
                 "Talk to llmlabd on the session bus (llmlabd --user)", NULL},
                {"version", 0, 0, G_OPTION_ARG_NONE, NULL, "Show the version and exit", NULL},
                {NULL},
        };

        g_application_add_main_option_entries(G_APPLICATION(self), entries);
        g_application_set_option_context_summary(
                G_APPLICATION(self), "Measure the energy of local language models with llmlabd.");
}

LabApplication *lab_application_new(void) {
        return g_object_new(LAB_TYPE_APPLICATION, "application-id", LAB_APPLICATION_ID, "flags",
                            G_APPLICATION_DEFAULT_FLAGS, NULL);
}
