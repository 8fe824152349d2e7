/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-compare-page.h"
#include "lab-format.h"
#include "lab-job-stream.h"
#include "lab-pane.h"
#include "lab-widgets.h"

#define DEFAULT_SYSTEM_PROMPT "You are a helpful and concise assistant."

struct _LabComparePage {
        GtkBox parent_instance;

        LabApplication *app;
        gulong daemon_handler;
        GCancellable *cancellable;    /* model list */
        GCancellable *op_cancellable; /* Start* calls and run lookups */
        GtkTextView *system_view;
        GtkTextView *user_view;
        GtkListBox *model_list;
        GtkSpinButton *default_temperature;
        GtkSpinButton *default_max_tokens;
        GtkBox *panes;
        GtkWidget *panes_stack; /* "empty" | "panes" */
        GtkLabel *status;
        GtkButton *stop_all;
        guint n_models;

        /* Generate All: the comparison job and the panes waiting for their run, in pane order */
        LabJobStream *job;
        GPtrArray *waiting;      /* LabPane* (refs) */
        GHashTable *seen_runs;   /* run path → TRUE */
        gboolean stop_requested; /* Stop All before StartComparison returned */
};

G_DEFINE_FINAL_TYPE(LabComparePage, lab_compare_page, GTK_TYPE_BOX)

static GPtrArray *list_panes(LabComparePage *self) {
        GPtrArray *a = g_ptr_array_new();

        for (GtkWidget *w = gtk_widget_get_first_child(GTK_WIDGET(self->panes)); w;
             w = gtk_widget_get_next_sibling(w))
                if (LAB_IS_PANE(w))
                        g_ptr_array_add(a, w);
        return a;
}

guint lab_compare_page_get_n_active(LabComparePage *self) {
        g_autoptr(GPtrArray) panes = list_panes(self);
        guint n = 0;

        for (guint i = 0; i < panes->len; i++)
                n += lab_pane_is_active(g_ptr_array_index(panes, i));
        return n;
}

static void update_status(LabComparePage *self) {
        g_autoptr(GPtrArray) panes = list_panes(self);
        g_autofree char *text = NULL;
        guint active = lab_compare_page_get_n_active(self);

        text = g_strdup_printf("%u models available · Active runs: %u of %u panes", self->n_models, active,
                               panes->len);
        gtk_label_set_text(self->status, text);
        gtk_widget_set_sensitive(GTK_WIDGET(self->stop_all), active > 0);
        gtk_stack_set_visible_child_name(GTK_STACK(self->panes_stack), panes->len > 0 ? "panes" : "empty");
}

/* ---------------------------------------------------------------- the shared request */

static gboolean shared_request(LabComparePage *self, GVariantDict *d, char **ret_problem) {
        g_autofree char *system = lab_text_view_get_text(self->system_view);
        g_autofree char *user = lab_text_view_get_text(self->user_view);

        if (lab_is_blank(user)) {
                *ret_problem = g_strdup("Write a user input first");
                return FALSE;
        }
        g_variant_dict_init(d, NULL);
        g_variant_dict_insert(d, "user_prompt", "s", user);
        if (!lab_is_blank(system))
                g_variant_dict_insert(d, "system_prompt", "s", system);
        /* Comparison runs are not measured: they run side by side. */
        g_variant_dict_insert(d, "measure", "s", "off");
        return TRUE;
}

/* ---------------------------------------------------------------- one pane */

typedef struct {
        LabComparePage *self;
        LabPane *pane;
} PaneCall;

static void on_pane_started(GObject *source, GAsyncResult *res, gpointer user_data) {
        PaneCall *c = user_data;
        g_autoptr(GError) error = NULL;
        g_autofree char *path = NULL;
        g_autoptr(LabPane) pane = c->pane;
        LabComparePage *self = c->self;
        LabSignalRouter *router;

        g_free(c);
        path = lab_application_call_start_finish(LAB_APPLICATION(source), res, &error);
        if (!path && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
                lab_pane_fail(pane, "cancelled");
                return;
        }
        router = lab_application_get_router(self->app);
        if (!path || !router) {
                g_autofree char *message =
                        path ? g_strdup("the daemon went away") : lab_error_message(error);
                g_autofree char *text = NULL;
                g_autofree char *title = lab_pane_get_title(pane);

                text = g_strdup_printf("%s: %s", title, message);
                lab_application_show_error(self->app, text);
                lab_pane_fail(pane, message);
                return;
        }
        lab_pane_attach_run(pane, router, path);
}

static void on_pane_generate(LabPane *pane, gpointer user_data) {
        LabComparePage *self = user_data;
        g_autofree char *problem = NULL;
        PaneCall *c;
        GVariantDict d;

        if (lab_pane_is_active(pane))
                return;
        if (!shared_request(self, &d, &problem)) {
                lab_application_show_error(self->app, problem);
                return;
        }
        lab_pane_add_to_request(pane, &d);
        lab_pane_begin(pane);
        c = g_new0(PaneCall, 1);
        c->self = self;
        c->pane = g_object_ref(pane);
        lab_application_call_start(self->app, "StartRun", g_variant_new("(@a{sv})", g_variant_dict_end(&d)),
                                   self->op_cancellable, on_pane_started, c);
}

static void on_pane_remove(LabPane *pane, gpointer user_data) {
        LabComparePage *self = user_data;

        g_ptr_array_remove(self->waiting, pane);
        gtk_box_remove(self->panes, GTK_WIDGET(pane));
        update_status(self);
}

static void on_pane_state(LabPane *pane, gpointer user_data) {
        update_status(user_data);
}

gboolean lab_compare_page_add_pane(LabComparePage *self, const char *model, const char *alias,
                                   double temperature, guint max_tokens) {
        LabPane *pane;

        g_return_val_if_fail(LAB_IS_COMPARE_PAGE(self), FALSE);
        if (!model || !*model)
                return FALSE;
        pane = lab_pane_new(model, alias, temperature, max_tokens);
        g_signal_connect(pane, "generate", G_CALLBACK(on_pane_generate), self);
        g_signal_connect(pane, "remove", G_CALLBACK(on_pane_remove), self);
        g_signal_connect(pane, "state-changed", G_CALLBACK(on_pane_state), self);
        gtk_box_append(self->panes, GTK_WIDGET(pane));
        update_status(self);
        return TRUE;
}

void lab_compare_page_add_selected(LabComparePage *self) {
        guint added = 0;

        g_return_if_fail(LAB_IS_COMPARE_PAGE(self));
        for (GtkWidget *row = gtk_widget_get_first_child(GTK_WIDGET(self->model_list)); row;
             row = gtk_widget_get_next_sibling(row)) {
                GtkCheckButton *check = g_object_get_data(G_OBJECT(row), "lab-check");
                const char *model = g_object_get_data(G_OBJECT(row), "lab-model");

                if (!check || !gtk_check_button_get_active(check))
                        continue;
                added += lab_compare_page_add_pane(
                        self, model, NULL, gtk_spin_button_get_value(self->default_temperature),
                        (guint) gtk_spin_button_get_value_as_int(self->default_max_tokens));
                gtk_check_button_set_active(check, FALSE);
        }
        if (added == 0)
                lab_application_notify(self->app, "Tick one or more models first");
}

void lab_compare_page_set_prompts(LabComparePage *self, const char *system_prompt, const char *user_prompt) {
        g_return_if_fail(LAB_IS_COMPARE_PAGE(self));
        if (system_prompt)
                lab_text_view_set_text(self->system_view, system_prompt);
        if (user_prompt)
                lab_text_view_set_text(self->user_view, user_prompt);
}

/* ---------------------------------------------------------------- Generate All */

static void end_job(LabComparePage *self, const char *message) {
        for (guint i = 0; i < self->waiting->len; i++)
                lab_pane_fail(g_ptr_array_index(self->waiting, i), message);
        g_ptr_array_set_size(self->waiting, 0);
        g_hash_table_remove_all(self->seen_runs);
        if (self->job) {
                g_signal_handlers_disconnect_by_data(self->job, self);
                g_clear_object(&self->job);
        }
        update_status(self);
}

typedef struct {
        LabComparePage *self;
        char *path;
} RunLookup;

/* A run of the job was created: hand it to the first waiting pane of its model. */
static void on_run_model(GObject *source, GAsyncResult *res, gpointer user_data) {
        RunLookup *l = user_data;
        g_autoptr(GVariant) reply = NULL, value = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *path = l->path;
        LabComparePage *self = l->self;
        LabSignalRouter *router;
        const char *model;

        g_free(l);
        reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
        if (!reply) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        lab_application_report_error(self->app, "Cannot read a comparison run", error);
                return;
        }
        router = lab_application_get_router(self->app);
        g_variant_get(reply, "(v)", &value);
        if (!router || !g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
                return;
        model = g_variant_get_string(value, NULL);
        for (guint i = 0; i < self->waiting->len; i++) {
                LabPane *pane = g_ptr_array_index(self->waiting, i);

                if (g_str_equal(lab_pane_get_model(pane), model)) {
                        g_object_ref(pane);
                        g_ptr_array_remove_index(self->waiting, i);
                        lab_pane_attach_run(pane, router, path);
                        g_object_unref(pane);
                        return;
                }
        }
}

static void on_job_progress(LabJobStream *job, guint done, guint total, const char *current,
                            gpointer user_data) {
        LabComparePage *self = user_data;
        LabSignalRouter *router = lab_application_get_router(self->app);
        RunLookup *l;

        if (g_str_equal(current, "/") || !router || g_hash_table_contains(self->seen_runs, current))
                return;
        g_hash_table_add(self->seen_runs, g_strdup(current));
        l = g_new0(RunLookup, 1);
        l->self = self;
        l->path = g_strdup(current);
        g_dbus_connection_call(lab_signal_router_get_connection(router), lab_signal_router_get_owner(router),
                               current, "org.freedesktop.DBus.Properties", "Get",
                               g_variant_new("(ss)", "org.llmlab.Lab1.Run", "Model"), G_VARIANT_TYPE("(v)"),
                               G_DBUS_CALL_FLAGS_NONE, -1, self->op_cancellable, on_run_model, l);
}

static void on_job_finished(LabJobStream *job, const char *result, GVariant *summary, const char *message,
                            gpointer user_data) {
        LabComparePage *self = user_data;
        g_autoptr(GVariant) failed = lab_variant_lookup_value(summary, "failed_panes");

        if (g_str_equal(result, "failed") && message) {
                g_autofree char *text = g_strdup_printf("The comparison failed: %s", message);

                lab_application_show_error(self->app, text);
        }
        if (failed && g_variant_is_of_type(failed, G_VARIANT_TYPE("aa{sv}")) &&
            g_variant_n_children(failed) > 0) {
                g_autoptr(GVariant) first = g_variant_get_child_value(failed, 0);
                g_autofree char *m = lab_variant_lookup_string(first, "message");
                g_autofree char *text = g_strdup_printf("%zu pane(s) could not start: %s",
                                                        g_variant_n_children(failed), m ?: "unknown error");

                lab_application_show_error(self->app, text);
        }
        end_job(self, message ?: "the pane did not start");
}

static void on_comparison_started(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GError) error = NULL;
        g_autofree char *path = NULL;
        LabComparePage *self;
        LabSignalRouter *router;

        path = lab_application_call_start_finish(LAB_APPLICATION(source), res, &error);
        if (!path && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;
        self = LAB_COMPARE_PAGE(user_data);
        router = lab_application_get_router(self->app);
        if (!path || !router) {
                g_autofree char *message =
                        path ? g_strdup("the daemon went away") : lab_error_message(error);
                g_autofree char *text = g_strdup_printf("Cannot start the comparison: %s", message);

                lab_application_show_error(self->app, text);
                end_job(self, message);
                return;
        }
        self->job = lab_job_stream_new(router, path);
        g_signal_connect(self->job, "progress", G_CALLBACK(on_job_progress), self);
        g_signal_connect(self->job, "finished", G_CALLBACK(on_job_finished), self);
        /* Stop All pressed while the call was on its way. */
        if (self->stop_requested)
                lab_job_stream_cancel(self->job);
}

void lab_compare_page_generate_all(LabComparePage *self) {
        g_autoptr(GPtrArray) panes = list_panes(self);
        g_autofree char *problem = NULL;
        GVariantBuilder specs;
        GVariantDict d, options;

        g_return_if_fail(LAB_IS_COMPARE_PAGE(self));
        if (panes->len == 0) {
                lab_application_notify(self->app, "Add panes first: tick models and press Add Selected");
                return;
        }
        if (!shared_request(self, &d, &problem)) {
                lab_application_show_error(self->app, problem);
                return;
        }
        if (self->job)
                end_job(self, "replaced by a new comparison");
        g_variant_builder_init(&specs, G_VARIANT_TYPE("aa{sv}"));
        for (guint i = 0; i < panes->len; i++) {
                LabPane *pane = g_ptr_array_index(panes, i);

                if (lab_pane_is_active(pane))
                        continue;
                g_variant_builder_add_value(&specs, lab_pane_get_spec(pane));
                lab_pane_begin(pane);
                g_ptr_array_add(self->waiting, g_object_ref(pane));
        }
        /* llmlabd validates the shared request like a run's, model included; every pane names its own. */
        if (self->waiting->len > 0)
                g_variant_dict_insert(&d, "model", "s",
                                      lab_pane_get_model(g_ptr_array_index(self->waiting, 0)));
        if (self->waiting->len == 0) {
                g_variant_builder_clear(&specs);
                g_variant_dict_clear(&d);
                lab_application_notify(self->app, "Every pane is already generating");
                return;
        }
        self->stop_requested = FALSE;
        g_variant_dict_init(&options, NULL);
        lab_application_call_start(self->app, "StartComparison",
                                   g_variant_new("(@a{sv}@aa{sv}@a{sv})", g_variant_dict_end(&d),
                                                 g_variant_builder_end(&specs),
                                                 g_variant_dict_end(&options)),
                                   self->op_cancellable, on_comparison_started, self);
}

void lab_compare_page_stop_all(LabComparePage *self) {
        g_autoptr(GPtrArray) panes = list_panes(self);

        g_return_if_fail(LAB_IS_COMPARE_PAGE(self));
        if (self->job)
                lab_job_stream_cancel(self->job);
        else if (self->waiting->len > 0)
                self->stop_requested = TRUE;
        for (guint i = 0; i < panes->len; i++)
                lab_pane_stop(g_ptr_array_index(panes, i));
}

void lab_compare_page_remove_all(LabComparePage *self) {
        g_autoptr(GPtrArray) panes = list_panes(self);

        g_return_if_fail(LAB_IS_COMPARE_PAGE(self));
        for (guint i = 0; i < panes->len; i++) {
                g_ptr_array_remove(self->waiting, g_ptr_array_index(panes, i));
                gtk_box_remove(self->panes, g_ptr_array_index(panes, i));
        }
        update_status(self);
}

/* ---------------------------------------------------------------- the model list */

static void on_models(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GVariant) models = NULL;
        g_autoptr(GError) error = NULL;
        LabComparePage *self;
        GtkWidget *child;
        GVariantIter iter;
        GVariant *m;

        if (!llmlab_manager_call_list_models_finish(LLMLAB_MANAGER(source), &models, res, &error)) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        lab_application_report_error(LAB_COMPARE_PAGE(user_data)->app,
                                                     "Cannot list the models", error);
                return;
        }
        self = LAB_COMPARE_PAGE(user_data);
        while ((child = gtk_widget_get_first_child(GTK_WIDGET(self->model_list))))
                gtk_list_box_remove(self->model_list, child);
        self->n_models = 0;
        g_variant_iter_init(&iter, models);
        while ((m = g_variant_iter_next_value(&iter))) {
                const char *name = NULL, *size = NULL, *backend = NULL;
                g_autofree char *subtitle = NULL;
                GtkWidget *check;
                AdwActionRow *row;

                if (g_variant_lookup(m, "name", "&s", &name)) {
                        (void) g_variant_lookup(m, "parameter_size", "&s", &size);
                        (void) g_variant_lookup(m, "backend", "&s", &backend);
                        subtitle = g_strdup_printf("%s%s%s", size ?: "", size && backend ? " · " : "",
                                                   backend ?: "");
                        check = gtk_check_button_new();
                        row = lab_action_row_new(name, subtitle, NULL);
                        adw_action_row_add_prefix(row, check);
                        adw_action_row_set_activatable_widget(row, check);
                        gtk_accessible_update_property(GTK_ACCESSIBLE(check), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                                       name, -1);
                        g_object_set_data(G_OBJECT(row), "lab-check", check);
                        g_object_set_data_full(G_OBJECT(row), "lab-model", g_strdup(name), g_free);
                        gtk_list_box_append(self->model_list, GTK_WIDGET(row));
                        self->n_models++;
                }
                g_variant_unref(m);
        }
        update_status(self);
}

void lab_compare_page_reload(LabComparePage *self) {
        LlmlabManager *manager = lab_application_get_manager(self->app);
        GVariantDict options;

        g_return_if_fail(LAB_IS_COMPARE_PAGE(self));
        g_cancellable_cancel(self->cancellable);
        g_clear_object(&self->cancellable);
        self->cancellable = g_cancellable_new();
        if (!manager)
                return;
        g_variant_dict_init(&options, NULL);
        llmlab_manager_call_list_models(manager, g_variant_dict_end(&options), self->cancellable, on_models,
                                        self);
}

static void on_daemon_changed(LabApplication *app, gpointer user_data) {
        LabComparePage *self = user_data;

        if (!lab_application_get_manager(app)) {
                g_autoptr(GPtrArray) panes = list_panes(self);

                /* Nothing will finish these runs any more. */
                g_cancellable_cancel(self->op_cancellable);
                g_clear_object(&self->op_cancellable);
                self->op_cancellable = g_cancellable_new();
                if (self->job)
                        lab_job_stream_abandon(self->job);
                end_job(self, "the llmlab daemon went away");
                for (guint i = 0; i < panes->len; i++)
                        if (lab_pane_is_active(g_ptr_array_index(panes, i)))
                                lab_pane_fail(g_ptr_array_index(panes, i), "the llmlab daemon went away");
        }
        lab_compare_page_reload(self);
}

/* ---------------------------------------------------------------- building */

static GtkWidget *action_button(const char *label, const char *action, const char *css) {
        GtkWidget *b = gtk_button_new_with_mnemonic(label);

        gtk_actionable_set_action_name(GTK_ACTIONABLE(b), action);
        if (css)
                gtk_widget_add_css_class(b, css);
        return b;
}

static GtkWidget *caption(const char *text) {
        GtkWidget *l = gtk_label_new(text);

        gtk_label_set_xalign(GTK_LABEL(l), 0.0f);
        gtk_widget_add_css_class(l, "caption-heading");
        gtk_widget_add_css_class(l, "dim-label");
        gtk_widget_set_margin_bottom(l, 4);
        return l;
}

static GtkWidget *build_sidebar(LabComparePage *self) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 24), *scrolled = gtk_scrolled_window_new();
        AdwPreferencesGroup *group;
        GtkWidget *w;

        group = lab_group_new("Prompt", "The same for every pane", NULL);
        adw_preferences_group_add(group, caption("System prompt"));
        w = lab_text_area_new(&self->system_view, 70, "Comparison system prompt", TRUE);
        lab_text_view_set_text(self->system_view, DEFAULT_SYSTEM_PROMPT);
        adw_preferences_group_add(group, w);
        w = caption("User input");
        gtk_widget_set_margin_top(w, 10);
        adw_preferences_group_add(group, w);
        adw_preferences_group_add(group,
                                  lab_text_area_new(&self->user_view, 110, "Comparison user input", TRUE));
        gtk_box_append(GTK_BOX(box), GTK_WIDGET(group));

        group = lab_group_new("Models", "Tick models, then add a pane for each", NULL);
        adw_preferences_group_set_header_suffix(
                group, action_button("_Add Selected", "app.add-selected-panes", NULL));
        self->model_list = GTK_LIST_BOX(gtk_list_box_new());
        gtk_list_box_set_selection_mode(self->model_list, GTK_SELECTION_NONE);
        gtk_widget_add_css_class(GTK_WIDGET(self->model_list), "boxed-list");
        gtk_accessible_update_property(GTK_ACCESSIBLE(self->model_list), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       "Available models", -1);
        adw_preferences_group_add(group, GTK_WIDGET(self->model_list));
        gtk_box_append(GTK_BOX(box), GTK_WIDGET(group));

        group = lab_group_new("New panes", NULL, NULL);
        self->default_temperature = GTK_SPIN_BUTTON(gtk_spin_button_new_with_range(0.0, 2.0, 0.05));
        gtk_spin_button_set_digits(self->default_temperature, 2);
        gtk_spin_button_set_value(self->default_temperature, 0.7);
        adw_preferences_group_add(
                group,
                GTK_WIDGET(lab_action_row_new("Temperature", NULL, GTK_WIDGET(self->default_temperature))));
        self->default_max_tokens = lab_int_spin_new(1, 32768, 1024, "Max tokens of new panes");
        adw_preferences_group_add(group, GTK_WIDGET(lab_action_row_new(
                                                 "Max tokens", NULL, GTK_WIDGET(self->default_max_tokens))));
        gtk_box_append(GTK_BOX(box), GTK_WIDGET(group));

        gtk_widget_set_margin_top(box, 18);
        gtk_widget_set_margin_bottom(box, 24);
        gtk_widget_set_margin_start(box, 18);
        gtk_widget_set_margin_end(box, 18);
        gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scrolled), box);
        gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scrolled), GTK_POLICY_NEVER,
                                       GTK_POLICY_AUTOMATIC);
        gtk_widget_set_size_request(scrolled, 340, -1);
        return scrolled;
}

static GtkWidget *build_main(LabComparePage *self) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0),
                  *bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 8);
        GtkWidget *scrolled = gtk_scrolled_window_new(), *empty, *w;

        gtk_widget_add_css_class(bar, "toolbar");
        gtk_widget_add_css_class(bar, "lab-control-bar");
        gtk_box_append(GTK_BOX(bar), action_button("_Generate All", "app.generate-all", "suggested-action"));
        w = action_button("S_top All", "app.stop-all", "destructive-action");
        self->stop_all = GTK_BUTTON(w);
        gtk_box_append(GTK_BOX(bar), w);
        gtk_box_append(GTK_BOX(bar), action_button("_Remove All", "app.remove-all-panes", NULL));
        self->status = GTK_LABEL(gtk_label_new(NULL));
        gtk_label_set_xalign(self->status, 1.0f);
        gtk_widget_set_hexpand(GTK_WIDGET(self->status), TRUE);
        gtk_widget_add_css_class(GTK_WIDGET(self->status), "dim-label");
        gtk_box_append(GTK_BOX(bar), lab_named_group_new(GTK_WIDGET(self->status), "Comparison status"));

        self->panes = GTK_BOX(gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 14));
        gtk_box_set_homogeneous(self->panes, TRUE);
        gtk_widget_set_margin_top(GTK_WIDGET(self->panes), 16);
        gtk_widget_set_margin_bottom(GTK_WIDGET(self->panes), 16);
        gtk_widget_set_margin_start(GTK_WIDGET(self->panes), 16);
        gtk_widget_set_margin_end(GTK_WIDGET(self->panes), 16);
        gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scrolled), GTK_WIDGET(self->panes));
        gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scrolled), GTK_POLICY_AUTOMATIC,
                                       GTK_POLICY_AUTOMATIC);

        empty = adw_status_page_new();
        adw_status_page_set_icon_name(ADW_STATUS_PAGE(empty), "view-dual-symbolic");
        adw_status_page_set_title(ADW_STATUS_PAGE(empty), "No panes yet");
        adw_status_page_set_description(
                ADW_STATUS_PAGE(empty),
                "Tick models on the left and press Add Selected. The same model may be "
                "added several times, e.g. at different temperatures.");
        self->panes_stack = gtk_stack_new();
        gtk_stack_add_named(GTK_STACK(self->panes_stack), empty, "empty");
        gtk_stack_add_named(GTK_STACK(self->panes_stack), scrolled, "panes");
        gtk_widget_set_vexpand(self->panes_stack, TRUE);

        gtk_box_append(GTK_BOX(box), bar);
        gtk_box_append(GTK_BOX(box), gtk_separator_new(GTK_ORIENTATION_HORIZONTAL));
        gtk_box_append(GTK_BOX(box), self->panes_stack);
        gtk_widget_set_hexpand(box, TRUE);
        return box;
}

static void lab_compare_page_dispose(GObject *object) {
        LabComparePage *self = LAB_COMPARE_PAGE(object);

        g_cancellable_cancel(self->cancellable);
        g_cancellable_cancel(self->op_cancellable);
        if (self->app)
                g_clear_signal_handler(&self->daemon_handler, self->app);
        if (self->job) {
                g_signal_handlers_disconnect_by_data(self->job, self);
                g_clear_object(&self->job);
        }
        if (self->waiting)
                g_ptr_array_set_size(self->waiting, 0);
        g_clear_object(&self->cancellable);
        g_clear_object(&self->op_cancellable);
        g_clear_object(&self->app);
        G_OBJECT_CLASS(lab_compare_page_parent_class)->dispose(object);
}

static void lab_compare_page_finalize(GObject *object) {
        LabComparePage *self = LAB_COMPARE_PAGE(object);

        g_ptr_array_unref(self->waiting);
        g_hash_table_unref(self->seen_runs);
        G_OBJECT_CLASS(lab_compare_page_parent_class)->finalize(object);
}

static void lab_compare_page_class_init(LabComparePageClass *klass) {
        G_OBJECT_CLASS(klass)->dispose = lab_compare_page_dispose;
        G_OBJECT_CLASS(klass)->finalize = lab_compare_page_finalize;
}

static void lab_compare_page_init(LabComparePage *self) {
        self->waiting = g_ptr_array_new_with_free_func(g_object_unref);
        self->seen_runs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        self->op_cancellable = g_cancellable_new();
}

LabComparePage *lab_compare_page_new(LabApplication *app) {
        LabComparePage *self =
                g_object_new(LAB_TYPE_COMPARE_PAGE, "orientation", GTK_ORIENTATION_HORIZONTAL, NULL);

        self->app = g_object_ref(app);
        gtk_box_append(GTK_BOX(self), build_sidebar(self));
        gtk_box_append(GTK_BOX(self), gtk_separator_new(GTK_ORIENTATION_VERTICAL));
        gtk_box_append(GTK_BOX(self), build_main(self));
        self->daemon_handler = g_signal_connect(app, "daemon-changed", G_CALLBACK(on_daemon_changed), self);
        update_status(self);
        lab_compare_page_reload(self);
        return self;
}
