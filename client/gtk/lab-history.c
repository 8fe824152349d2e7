/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-format.h"
#include "lab-history.h"
#include "lab-trend-chart.h"
#include "lab-widgets.h"

#define HISTORY_ROWS 30
#define LIST_LIMIT   200

struct _LabHistory {
        GObject parent_instance;

        LabApplication *app;
        GCancellable *cancellable;
        guint64 session_started;
        GtkWidget *summary_group;
        GtkWidget *list_group;
        GtkLabel *runs;
        GtkLabel *total;
        GtkLabel *co2;
        GtkLabel *weight;
        GtkLabel *tokens;
        LabTrendChart *trend;
        GtkListBox *list;
        GtkWidget *empty_row;
};

G_DEFINE_FINAL_TYPE(LabHistory, lab_history, G_TYPE_OBJECT)

GtkWidget *lab_history_get_summary_widget(LabHistory *self) {
        return self->summary_group;
}

GtkWidget *lab_history_get_list_widget(LabHistory *self) {
        return self->list_group;
}

static void show_summary(LabHistory *self, GVariant *s) {
        double runs = 0, measured = 0, total = 0, co2 = 0, weight = 0, in = 0, out = 0, started = 0;

        (void) lab_variant_lookup_double(s, "runs", &runs);
        (void) lab_variant_lookup_double(s, "measured_runs", &measured);
        (void) lab_variant_lookup_double(s, "input_tokens", &in);
        (void) lab_variant_lookup_double(s, "output_tokens", &out);
        (void) lab_variant_lookup_double(s, "started", &started);
        self->session_started = (guint64) started;
        lab_fact_set(self->runs, g_strdup_printf("%.0f (%.0f measured)", runs, measured));
        lab_fact_set(self->total,
                     lab_variant_lookup_double(s, "total_wh", &total) ? lab_format_energy(total) : NULL);
        lab_fact_set(self->co2, lab_variant_lookup_double(s, "co2_g", &co2) ? lab_format_co2(co2) : NULL);
        lab_fact_set(self->weight, lab_variant_lookup_double(s, "mean_wh_per_1000_etokens", &weight)
                                           ? lab_format_figure(weight)
                                           : NULL);
        lab_fact_set(self->tokens, g_strdup_printf("%.0f in · %.0f out", in, out));
}

static GtkWidget *history_row(GVariant *run) {
        g_autofree char *model = lab_variant_lookup_string(run, "model");
        g_autofree char *state = lab_variant_lookup_string(run, "state");
        g_autofree char *prompt = lab_variant_lookup_string(run, "user_prompt");
        g_autofree char *title = NULL, *when = NULL, *figure = NULL, *subtitle = NULL, *num = NULL;
        double id = 0, created = 0, wh1k, out = 0;
        gboolean measured = FALSE;
        AdwActionRow *row;

        (void) lab_variant_lookup_double(run, "run", &id);
        (void) lab_variant_lookup_double(run, "created", &created);
        (void) lab_variant_lookup_double(run, "tokens.output", &out);
        (void) lab_variant_lookup_bool(run, "energy.measured", &measured);
        when = lab_format_timestamp((gint64) created, g_get_real_time());
        if (lab_variant_lookup_double(run, "energy.wh_per_1000_etokens", &wh1k)) {
                num = lab_format_figure(wh1k);
                figure = g_strdup_printf("%s Wh/1000 e-tokens (%s)", num,
                                         measured ? "measured" : "estimated");
        } else
                figure = g_strdup("no energy figure");
        title = g_strdup_printf("#%.0f  %s", id, model ?: "?");
        subtitle = g_strdup_printf("%s · %s · %s · %.0f tokens · “%s”", when, state ?: "?", figure, out,
                                   prompt ?: "");
        row = lab_action_row_new(title, subtitle, NULL);
        adw_action_row_set_subtitle_lines(row, 1);
        return GTK_WIDGET(row);
}

static void show_runs(LabHistory *self, GVariant *runs) {
        gsize n = g_variant_n_children(runs);
        GtkWidget *child;
        guint shown = 0;

        while ((child = gtk_widget_get_first_child(GTK_WIDGET(self->list))))
                gtk_list_box_remove(self->list, child);
        lab_trend_chart_clear(self->trend);
        /* Newest first from the daemon: the chart wants the oldest first. */
        for (gsize i = n; i > 0; i--) {
                g_autoptr(GVariant) run = g_variant_get_child_value(runs, i - 1);
                double created = 0, id = 0, v;
                gboolean measured = FALSE;
                g_autofree char *label = NULL;

                (void) lab_variant_lookup_double(run, "created", &created);
                (void) lab_variant_lookup_double(run, "run", &id);
                (void) lab_variant_lookup_bool(run, "energy.measured", &measured);
                if ((guint64) created < self->session_started ||
                    !lab_variant_lookup_double(run, "energy.wh_per_1000_etokens", &v))
                        continue;
                label = g_strdup_printf("#%.0f", id);
                lab_trend_chart_add(self->trend, label, v, measured);
        }
        for (gsize i = 0; i < n && shown < HISTORY_ROWS; i++, shown++) {
                g_autoptr(GVariant) run = g_variant_get_child_value(runs, i);

                gtk_list_box_append(self->list, history_row(run));
        }
        if (shown == 0)
                gtk_list_box_append(self->list,
                                    GTK_WIDGET(lab_action_row_new("No stored runs yet", NULL, NULL)));
}

static void on_runs(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GVariant) runs = NULL;
        g_autoptr(GError) error = NULL;

        if (!llmlab_manager_call_list_runs_finish(LLMLAB_MANAGER(source), &runs, res, &error)) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        lab_application_report_error(LAB_HISTORY(user_data)->app, "Cannot list the runs",
                                                     error);
                return;
        }
        show_runs(LAB_HISTORY(user_data), runs);
}

static void on_summary(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GVariant) summary = NULL;
        g_autoptr(GError) error = NULL;
        LabHistory *self;
        GVariantDict filter;

        if (!llmlab_manager_call_get_session_summary_finish(LLMLAB_MANAGER(source), &summary, res, &error)) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        lab_application_report_error(LAB_HISTORY(user_data)->app,
                                                     "Cannot read the session summary", error);
                return;
        }
        self = LAB_HISTORY(user_data);
        show_summary(self, summary);
        g_variant_dict_init(&filter, NULL);
        g_variant_dict_insert(&filter, "limit", "u", (guint32) LIST_LIMIT);
        llmlab_manager_call_list_runs(LLMLAB_MANAGER(source), g_variant_dict_end(&filter), self->cancellable,
                                      on_runs, self);
}

void lab_history_reload(LabHistory *self) {
        LlmlabManager *manager;

        g_return_if_fail(LAB_IS_HISTORY(self));
        g_cancellable_cancel(self->cancellable);
        g_clear_object(&self->cancellable);
        manager = lab_application_get_manager(self->app);
        if (!manager)
                return;
        self->cancellable = g_cancellable_new();
        llmlab_manager_call_get_session_summary(manager, self->cancellable, on_summary, self);
}

static void on_cleared(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GError) error = NULL;

        if (!llmlab_manager_call_clear_session_finish(LLMLAB_MANAGER(source), res, &error)) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        lab_application_report_error(LAB_HISTORY(user_data)->app, "Cannot clear the session",
                                                     error);
                return;
        }
        lab_history_reload(LAB_HISTORY(user_data));
}

static void on_clear_session(GtkButton *button, gpointer user_data) {
        LabHistory *self = user_data;
        LlmlabManager *manager = lab_application_get_manager(self->app);

        if (manager)
                llmlab_manager_call_clear_session(manager, self->cancellable, on_cleared, self);
}

static void build(LabHistory *self) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12), *button, *facts_row;
        GtkGrid *left = lab_fact_grid_new(), *right = lab_fact_grid_new();
        AdwPreferencesGroup *group;

        self->runs = lab_fact_grid_add(left, "Session runs", NULL);
        self->total =
                lab_fact_grid_add(left, "Session energy", "Measured and estimated energy of the session");
        self->co2 = lab_fact_grid_add(left, "Session CO₂", NULL);
        self->weight = lab_fact_grid_add(right, "Energy weight",
                                         "Mean Wh per 1000 e-tokens over the session's runs");
        self->tokens = lab_fact_grid_add(right, "Session tokens", NULL);
        facts_row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 24);
        gtk_box_set_homogeneous(GTK_BOX(facts_row), TRUE);
        gtk_box_append(GTK_BOX(facts_row), GTK_WIDGET(left));
        gtk_box_append(GTK_BOX(facts_row), GTK_WIDGET(right));
        gtk_box_append(GTK_BOX(box), facts_row);
        self->trend = LAB_TREND_CHART(lab_trend_chart_new());
        gtk_box_append(GTK_BOX(box), GTK_WIDGET(self->trend));
        group = lab_group_new("Session", "Energy weight is the mean Wh per 1000 e-tokens of the session",
                              lab_card_new(box));
        button = gtk_button_new_with_mnemonic("_New Session");
        gtk_widget_add_css_class(button, "flat");
        gtk_widget_set_tooltip_text(button, "Start a new session (stored runs are kept)");
        g_signal_connect(button, "clicked", G_CALLBACK(on_clear_session), self);
        adw_preferences_group_set_header_suffix(group, button);
        self->summary_group = g_object_ref_sink(GTK_WIDGET(group));

        self->list = GTK_LIST_BOX(gtk_list_box_new());
        gtk_list_box_set_selection_mode(self->list, GTK_SELECTION_NONE);
        gtk_widget_add_css_class(GTK_WIDGET(self->list), "boxed-list");
        gtk_accessible_update_property(GTK_ACCESSIBLE(self->list), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       "Run history", -1);
        group = lab_group_new("History", "Your stored runs, newest first", GTK_WIDGET(self->list));
        self->list_group = g_object_ref_sink(GTK_WIDGET(group));
}

static void lab_history_dispose(GObject *object) {
        LabHistory *self = LAB_HISTORY(object);

        g_cancellable_cancel(self->cancellable);
        g_clear_object(&self->cancellable);
        g_clear_object(&self->app);
        g_clear_object(&self->summary_group);
        g_clear_object(&self->list_group);
        G_OBJECT_CLASS(lab_history_parent_class)->dispose(object);
}

static void lab_history_class_init(LabHistoryClass *klass) {
        G_OBJECT_CLASS(klass)->dispose = lab_history_dispose;
}

static void lab_history_init(LabHistory *self) {
}

LabHistory *lab_history_new(LabApplication *app) {
        LabHistory *self = g_object_new(LAB_TYPE_HISTORY, NULL);

        self->app = g_object_ref(app);
        build(self);
        return self;
}
