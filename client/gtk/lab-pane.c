/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-application.h"
#include "lab-format.h"
#include "lab-pane.h"
#include "lab-run-stream.h"
#include "lab-widgets.h"

typedef enum {
        PANE_IDLE,
        PANE_STARTING,
        PANE_RUNNING,
        PANE_STOPPING,
} PaneState;

struct _LabPane {
        GtkBox parent_instance;

        char *model;
        PaneState state;
        gboolean stop_requested;
        LabRunStream *stream;
        GtkLabel *title;
        GtkEntry *alias;
        GtkSpinButton *temperature;
        GtkSpinButton *max_tokens;
        GtkButton *generate;
        GtkButton *stop;
        GtkSpinner *spinner;
        GtkLabel *indicator;
        GtkLabel *tokens;
        GtkLabel *speed;
        GtkWidget *indicator_group;
        GtkWidget *tokens_group;
        GtkWidget *speed_group;
        GtkTextView *output;
};

enum { SIGNAL_GENERATE, SIGNAL_REMOVE, SIGNAL_STATE_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE(LabPane, lab_pane, GTK_TYPE_BOX)

const char *lab_pane_get_model(LabPane *self) {
        g_return_val_if_fail(LAB_IS_PANE(self), NULL);
        return self->model;
}

char *lab_pane_get_title(LabPane *self) {
        g_autofree char *alias = NULL;

        g_return_val_if_fail(LAB_IS_PANE(self), NULL);
        alias = g_strstrip(g_strdup(gtk_editable_get_text(GTK_EDITABLE(self->alias))));
        if (alias[0] == '\0')
                return g_strdup(self->model);
        return g_strdup_printf("%s [%s]", self->model, alias);
}

GVariant *lab_pane_get_spec(LabPane *self) {
        g_autofree char *alias = g_strstrip(g_strdup(gtk_editable_get_text(GTK_EDITABLE(self->alias))));
        GVariantDict d;

        g_variant_dict_init(&d, NULL);
        g_variant_dict_insert(&d, "model", "s", self->model);
        if (alias[0] != '\0')
                g_variant_dict_insert(&d, "alias", "s", alias);
        g_variant_dict_insert(&d, "temperature", "d", gtk_spin_button_get_value(self->temperature));
        g_variant_dict_insert(&d, "max_tokens", "u",
                              (guint32) gtk_spin_button_get_value_as_int(self->max_tokens));
        return g_variant_dict_end(&d);
}

void lab_pane_add_to_request(LabPane *self, GVariantDict *request) {
        g_autofree char *title = lab_pane_get_title(self);

        g_variant_dict_insert(request, "model", "s", self->model);
        g_variant_dict_insert(request, "label", "s", title);
        g_variant_dict_insert(request, "temperature", "d", gtk_spin_button_get_value(self->temperature));
        g_variant_dict_insert(request, "max_tokens", "u",
                              (guint32) gtk_spin_button_get_value_as_int(self->max_tokens));
}

static void set_state(LabPane *self, PaneState state, const char *indicator) {
        gboolean active = state != PANE_IDLE;

        self->state = state;
        gtk_widget_set_sensitive(GTK_WIDGET(self->generate), !active);
        gtk_widget_set_sensitive(GTK_WIDGET(self->stop), state == PANE_STARTING || state == PANE_RUNNING);
        gtk_button_set_label(self->stop, state == PANE_STOPPING ? "Stopping…" : "Stop");
        gtk_spinner_set_spinning(self->spinner, active);
        gtk_widget_set_visible(GTK_WIDGET(self->spinner), active);
        if (indicator)
                gtk_label_set_text(self->indicator, indicator);
        g_signal_emit(self, signals[SIGNAL_STATE_CHANGED], 0);
}

gboolean lab_pane_is_active(LabPane *self) {
        g_return_val_if_fail(LAB_IS_PANE(self), FALSE);
        return self->state != PANE_IDLE;
}

gboolean lab_pane_is_waiting(LabPane *self) {
        g_return_val_if_fail(LAB_IS_PANE(self), FALSE);
        return self->state != PANE_IDLE && !self->stream;
}

static void detach(LabPane *self) {
        if (!self->stream)
                return;
        g_signal_handlers_disconnect_by_data(self->stream, self);
        g_clear_object(&self->stream);
}

static void reset_metrics(LabPane *self) {
        gtk_label_set_text(self->tokens, "prompt — • output — (total —)");
        gtk_label_set_text(self->speed, "—");
}

void lab_pane_begin(LabPane *self) {
        g_return_if_fail(LAB_IS_PANE(self));
        detach(self);
        self->stop_requested = FALSE;
        lab_text_view_set_text(self->output, "");
        reset_metrics(self);
        set_state(self, PANE_STARTING, "Generating response…");
}

static void on_chunk(LabRunStream *stream, const char *text, gboolean thinking, gpointer user_data) {
        LabPane *self = user_data;

        /* Reasoning goes in italics before the answer. */
        lab_text_view_append(self->output, text, thinking ? "thinking" : NULL);
}

static void on_resync(LabRunStream *stream, gpointer user_data) {
        LabPane *self = user_data;

        lab_text_view_set_text(self->output, "");
        if (lab_run_stream_get_thinking(stream)[0])
                lab_text_view_append(self->output, lab_run_stream_get_thinking(stream), "thinking");
        lab_text_view_append(self->output, lab_run_stream_get_answer(stream), NULL);
}

static void show_metrics(LabPane *self, GVariant *metrics) {
        double in = 0, out = 0, e2e = 0, tps = 0;

        (void) lab_variant_lookup_double(metrics, "tokens.input", &in);
        (void) lab_variant_lookup_double(metrics, "tokens.output", &out);
        (void) lab_variant_lookup_double(metrics, "timing.e2e_ms", &e2e);
        (void) lab_variant_lookup_double(metrics, "timing.tokens_per_s", &tps);
        lab_fact_set(self->tokens,
                     g_strdup_printf("prompt %.0f • output %.0f (total %.0f)", in, out, in + out));
        lab_fact_set(self->speed, g_strdup_printf("%.2f s (%.1f t/s)", e2e / 1000.0, tps));
}

static void on_finished(LabRunStream *stream, const char *result, GVariant *metrics, const char *message,
                        gpointer user_data) {
        LabPane *self = user_data;

        if (g_str_equal(result, "done")) {
                show_metrics(self, metrics);
                set_state(self, PANE_IDLE, "Done");
        } else if (g_str_equal(result, "cancelled")) {
                gtk_label_set_text(self->tokens, "Cancelled");
                gtk_label_set_text(self->speed, "cancelled");
                set_state(self, PANE_IDLE, "Cancelled");
        } else {
                g_autofree char *text = g_strdup_printf("\nError: %s", message ?: "the run failed");

                lab_text_view_append(self->output, text, "error");
                set_state(self, PANE_IDLE, "Failed");
        }
        detach(self);
}

static void on_stream_error(LabRunStream *stream, GError *error, gpointer user_data) {
        LabPane *self = user_data;
        g_autofree char *message = lab_error_message(error);

        gtk_label_set_text(self->indicator, message);
}

void lab_pane_attach_run(LabPane *self, LabSignalRouter *router, const char *path) {
        g_return_if_fail(LAB_IS_PANE(self));
        detach(self);
        self->stream = lab_run_stream_new(router, path);
        g_signal_connect(self->stream, "chunk", G_CALLBACK(on_chunk), self);
        g_signal_connect(self->stream, "resync", G_CALLBACK(on_resync), self);
        g_signal_connect(self->stream, "finished", G_CALLBACK(on_finished), self);
        g_signal_connect(self->stream, "error", G_CALLBACK(on_stream_error), self);
        if (self->stop_requested) {
                lab_run_stream_cancel(self->stream);
                return;
        }
        set_state(self, PANE_RUNNING, "Generating response…");
}

void lab_pane_fail(LabPane *self, const char *message) {
        g_autofree char *text = NULL;

        g_return_if_fail(LAB_IS_PANE(self));
        if (self->stream) {
                lab_run_stream_abandon(self->stream); /* → on_finished */
                return;
        }
        text = g_strdup_printf("Error: %s", message);
        lab_text_view_append(self->output, text, "error");
        set_state(self, PANE_IDLE, "Failed");
}

void lab_pane_stop(LabPane *self) {
        g_return_if_fail(LAB_IS_PANE(self));
        if (self->state == PANE_STARTING)
                self->stop_requested = TRUE;
        else if (self->state == PANE_RUNNING && self->stream)
                lab_run_stream_cancel(self->stream);
        else
                return;
        set_state(self, PANE_STOPPING, "Stopping…");
}

void lab_pane_clear(LabPane *self) {
        g_return_if_fail(LAB_IS_PANE(self));
        lab_text_view_set_text(self->output, "");
        reset_metrics(self);
        if (self->state == PANE_IDLE)
                gtk_label_set_text(self->indicator, "");
}

static void update_title(LabPane *self) {
        g_autofree char *title = lab_pane_get_title(self);
        g_autofree char *output = g_strdup_printf("Output of %s", title);
        g_autofree char *tokens = g_strdup_printf("Tokens of %s", title);
        g_autofree char *speed = g_strdup_printf("Speed of %s", title);
        g_autofree char *state = g_strdup_printf("State of %s", title);

        gtk_label_set_text(self->title, title);
        gtk_accessible_update_property(GTK_ACCESSIBLE(self->output), GTK_ACCESSIBLE_PROPERTY_LABEL, output,
                                       -1);
        lab_named_group_set_name(self->tokens_group, tokens);
        lab_named_group_set_name(self->speed_group, speed);
        lab_named_group_set_name(self->indicator_group, state);
        gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);
}

static void on_generate(GtkButton *b, gpointer user_data) {
        g_signal_emit(user_data, signals[SIGNAL_GENERATE], 0);
}

static void on_stop(GtkButton *b, gpointer user_data) {
        lab_pane_stop(user_data);
}

static void on_clear(GtkButton *b, gpointer user_data) {
        lab_pane_clear(user_data);
}

static void on_remove(GtkButton *b, gpointer user_data) {
        LabPane *self = user_data;

        /* A removed pane does not leave its run behind. */
        if (self->stream)
                lab_run_stream_cancel(self->stream);
        g_signal_emit(self, signals[SIGNAL_REMOVE], 0);
}

static GtkWidget *button(const char *label, const char *css, GCallback cb, gpointer data) {
        GtkWidget *b = gtk_button_new_with_label(label);

        if (css)
                gtk_widget_add_css_class(b, css);
        g_signal_connect(b, "clicked", cb, data);
        return b;
}

static GtkWidget *labelled(const char *text, GtkWidget *w) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2), *l = gtk_label_new(text);

        gtk_label_set_xalign(GTK_LABEL(l), 0.0f);
        gtk_widget_add_css_class(l, "caption");
        gtk_widget_add_css_class(l, "dim-label");
        gtk_box_append(GTK_BOX(box), l);
        gtk_box_append(GTK_BOX(box), w);
        return box;
}

static void build(LabPane *self, const char *alias, double temperature, guint max_tokens) {
        GtkWidget *top = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6), *settings = gtk_grid_new();
        GtkWidget *buttons = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6),
                  *status = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
        GtkWidget *metrics = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2), *w, *area;
        GtkTextBuffer *buffer;

        self->title = GTK_LABEL(gtk_label_new(NULL));
        gtk_label_set_xalign(self->title, 0.0f);
        gtk_label_set_ellipsize(self->title, PANGO_ELLIPSIZE_END);
        gtk_widget_set_hexpand(GTK_WIDGET(self->title), TRUE);
        gtk_widget_add_css_class(GTK_WIDGET(self->title), "heading");
        w = gtk_button_new_from_icon_name("window-close-symbolic");
        gtk_widget_add_css_class(w, "flat");
        gtk_widget_add_css_class(w, "circular");
        gtk_widget_set_tooltip_text(w, "Remove this pane");
        gtk_accessible_update_property(GTK_ACCESSIBLE(w), GTK_ACCESSIBLE_PROPERTY_LABEL, "Remove", -1);
        g_signal_connect(w, "clicked", G_CALLBACK(on_remove), self);
        gtk_box_append(GTK_BOX(top), GTK_WIDGET(self->title));
        gtk_box_append(GTK_BOX(top), w);

        self->alias = GTK_ENTRY(gtk_entry_new());
        gtk_entry_set_placeholder_text(self->alias, "alias");
        gtk_editable_set_text(GTK_EDITABLE(self->alias), alias ?: "");
        gtk_editable_set_width_chars(GTK_EDITABLE(self->alias), 6);
        gtk_grid_set_row_spacing(GTK_GRID(settings), 6);
        gtk_grid_set_column_spacing(GTK_GRID(settings), 8);
        gtk_grid_set_column_homogeneous(GTK_GRID(settings), TRUE);
        gtk_widget_set_hexpand(GTK_WIDGET(self->alias), TRUE);
        g_signal_connect_swapped(self->alias, "changed", G_CALLBACK(update_title), self);
        self->temperature = GTK_SPIN_BUTTON(gtk_spin_button_new_with_range(0.0, 2.0, 0.05));
        gtk_spin_button_set_digits(self->temperature, 2);
        gtk_spin_button_set_value(self->temperature, temperature);
        self->max_tokens = lab_int_spin_new(1, 32768, max_tokens, "Max tokens");
        w = labelled("Alias", GTK_WIDGET(self->alias));
        gtk_grid_attach(GTK_GRID(settings), w, 0, 0, 2, 1);
        gtk_grid_attach(GTK_GRID(settings), labelled("Temperature", GTK_WIDGET(self->temperature)), 0, 1, 1,
                        1);
        gtk_grid_attach(GTK_GRID(settings), labelled("Max tokens", GTK_WIDGET(self->max_tokens)), 1, 1, 1,
                        1);
        gtk_widget_set_hexpand(GTK_WIDGET(self->temperature), TRUE);
        gtk_widget_set_hexpand(GTK_WIDGET(self->max_tokens), TRUE);
        gtk_editable_set_width_chars(GTK_EDITABLE(self->max_tokens), 5);
        gtk_editable_set_width_chars(GTK_EDITABLE(self->temperature), 4);

        self->generate = GTK_BUTTON(button("Generate", "suggested-action", G_CALLBACK(on_generate), self));
        self->stop = GTK_BUTTON(button("Stop", "destructive-action", G_CALLBACK(on_stop), self));
        gtk_box_append(GTK_BOX(buttons), GTK_WIDGET(self->generate));
        gtk_box_append(GTK_BOX(buttons), GTK_WIDGET(self->stop));
        gtk_box_append(GTK_BOX(buttons), button("Clear", NULL, G_CALLBACK(on_clear), self));

        self->spinner = GTK_SPINNER(gtk_spinner_new());
        self->indicator = GTK_LABEL(gtk_label_new(""));
        gtk_widget_add_css_class(GTK_WIDGET(self->indicator), "dim-label");
        gtk_label_set_ellipsize(self->indicator, PANGO_ELLIPSIZE_END);
        self->indicator_group = lab_named_group_new(GTK_WIDGET(self->indicator), "State");
        gtk_box_append(GTK_BOX(status), GTK_WIDGET(self->spinner));
        gtk_box_append(GTK_BOX(status), self->indicator_group);
        gtk_widget_set_halign(status, GTK_ALIGN_END);
        gtk_widget_set_hexpand(status, TRUE);

        self->tokens = GTK_LABEL(gtk_label_new(NULL));
        self->speed = GTK_LABEL(gtk_label_new(NULL));
        gtk_label_set_xalign(self->tokens, 0.0f);
        gtk_label_set_xalign(self->speed, 0.0f);
        gtk_widget_add_css_class(GTK_WIDGET(self->tokens), "numeric");
        gtk_widget_add_css_class(GTK_WIDGET(self->speed), "numeric");
        gtk_widget_add_css_class(GTK_WIDGET(self->speed), "dim-label");
        self->tokens_group = lab_named_group_new(GTK_WIDGET(self->tokens), "Tokens");
        self->speed_group = lab_named_group_new(GTK_WIDGET(self->speed), "Speed");
        gtk_box_append(GTK_BOX(metrics), self->tokens_group);
        w = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
        gtk_box_append(GTK_BOX(w), self->speed_group);
        gtk_box_append(GTK_BOX(w), status);
        gtk_box_append(GTK_BOX(metrics), w);

        area = lab_text_area_new(&self->output, 280, "Output", FALSE);
        gtk_widget_set_vexpand(area, TRUE);
        buffer = gtk_text_view_get_buffer(self->output);
        gtk_text_buffer_create_tag(buffer, "thinking", "style", PANGO_STYLE_ITALIC, "foreground", "#77767b",
                                   NULL);
        gtk_text_buffer_create_tag(buffer, "error", "foreground", "#e01b24", "weight", PANGO_WEIGHT_BOLD,
                                   NULL);

        gtk_box_append(GTK_BOX(self), top);
        gtk_box_append(GTK_BOX(self), settings);
        gtk_box_append(GTK_BOX(self), buttons);
        gtk_box_append(GTK_BOX(self), metrics);
        gtk_box_append(GTK_BOX(self), area);
        reset_metrics(self);
        update_title(self);
        set_state(self, PANE_IDLE, "");
}

static void lab_pane_dispose(GObject *object) {
        LabPane *self = LAB_PANE(object);

        if (self->stream && !lab_run_stream_is_finished(self->stream))
                lab_run_stream_cancel(self->stream);
        detach(self);
        G_OBJECT_CLASS(lab_pane_parent_class)->dispose(object);
}

static void lab_pane_finalize(GObject *object) {
        g_free(LAB_PANE(object)->model);
        G_OBJECT_CLASS(lab_pane_parent_class)->finalize(object);
}

static void lab_pane_class_init(LabPaneClass *klass) {
        G_OBJECT_CLASS(klass)->dispose = lab_pane_dispose;
        G_OBJECT_CLASS(klass)->finalize = lab_pane_finalize;
        signals[SIGNAL_GENERATE] = g_signal_new("generate", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                                NULL, NULL, NULL, G_TYPE_NONE, 0);
        signals[SIGNAL_REMOVE] = g_signal_new("remove", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                              NULL, NULL, G_TYPE_NONE, 0);
        signals[SIGNAL_STATE_CHANGED] = g_signal_new("state-changed", G_TYPE_FROM_CLASS(klass),
                                                     G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
        gtk_widget_class_set_accessible_role(GTK_WIDGET_CLASS(klass), GTK_ACCESSIBLE_ROLE_GROUP);
}

static void lab_pane_init(LabPane *self) {
}

LabPane *lab_pane_new(const char *model, const char *alias, double temperature, guint max_tokens) {
        LabPane *self =
                g_object_new(LAB_TYPE_PANE, "orientation", GTK_ORIENTATION_VERTICAL, "spacing", 10, NULL);

        self->model = g_strdup(model);
        gtk_widget_add_css_class(GTK_WIDGET(self), "card");
        gtk_widget_add_css_class(GTK_WIDGET(self), "lab-pane");
        gtk_widget_set_size_request(GTK_WIDGET(self), 280, -1);
        gtk_widget_set_hexpand(GTK_WIDGET(self), TRUE);
        build(self, alias, temperature, max_tokens);
        return self;
}
