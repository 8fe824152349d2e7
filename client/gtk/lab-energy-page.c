/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>

#include "lab-energy-page-private.h"
#include "lab-format.h"
#include "lab-widgets.h"

enum { PROP_0, PROP_BUSY, PROP_CAN_STOP, N_PROPS };
static GParamSpec *props[N_PROPS];

G_DEFINE_FINAL_TYPE(LabEnergyPage, lab_energy_page, GTK_TYPE_BOX)

gboolean lab_energy_page_is_busy(LabEnergyPage *self) {
        g_return_val_if_fail(LAB_IS_ENERGY_PAGE(self), FALSE);
        return self->state != PAGE_IDLE;
}

void lab_energy_page_set_state(LabEnergyPage *self, PageState state, const char *status) {
        gboolean was_busy = self->state != PAGE_IDLE;
        gboolean could_stop = self->state == PAGE_STARTING || self->state == PAGE_RUNNING;

        self->state = state;
        if (status)
                gtk_label_set_text(self->status, status);
        gtk_button_set_label(self->stop_button, state == PAGE_STOPPING ? "Stopping…" : "_Stop");
        gtk_widget_set_visible(GTK_WIDGET(self->progress), state != PAGE_IDLE && self->job != NULL);
        if (was_busy != (state != PAGE_IDLE))
                g_object_notify_by_pspec(G_OBJECT(self), props[PROP_BUSY]);
        if (could_stop != (state == PAGE_STARTING || state == PAGE_RUNNING))
                g_object_notify_by_pspec(G_OBJECT(self), props[PROP_CAN_STOP]);
}

/* ---------------------------------------------------------------- the lists from the daemon */

char *lab_energy_page_selected_model(LabEnergyPage *self) {
        guint i = adw_combo_row_get_selected(self->model_row);

        if (i == GTK_INVALID_LIST_POSITION || i >= g_list_model_get_n_items(G_LIST_MODEL(self->models)))
                return NULL;
        return g_strdup(gtk_string_list_get_string(self->models, i));
}

static void on_model_info(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GVariant) info = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) s = g_string_new(NULL);
        g_autoptr(GVariant) caps = NULL;
        g_autofree char *family = NULL, *size = NULL, *quant = NULL;
        gboolean thinking = FALSE;
        LabEnergyPage *self;
        double ctx;

        if (!llmlab_manager_call_get_model_info_finish(LLMLAB_MANAGER(source), &info, res, &error)) {
                if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        return;
                self = LAB_ENERGY_PAGE(user_data);
                adw_action_row_set_subtitle(ADW_ACTION_ROW(self->model_row),
                                            "No details: the server did not answer");
                return;
        }
        self = LAB_ENERGY_PAGE(user_data);
        if (lab_variant_lookup_double(info, "context_length", &ctx)) {
                g_autofree char *n = lab_format_count(ctx);

                g_string_append_printf(s, "Context length %s tokens", n);
        } else
                g_string_append(s, "Context length unknown");
        family = lab_variant_lookup_string(info, "family");
        size = lab_variant_lookup_string(info, "parameter_size");
        quant = lab_variant_lookup_string(info, "quantization");
        if (family && *family)
                g_string_append_printf(s, " · %s", family);
        if (size && *size)
                g_string_append_printf(s, " · %s", size);
        if (quant && *quant)
                g_string_append_printf(s, " · %s", quant);
        caps = lab_variant_lookup_value(info, "capabilities");
        if (caps && g_variant_is_of_type(caps, G_VARIANT_TYPE_STRING_ARRAY)) {
                g_autofree const char **list = g_variant_get_strv(caps, NULL);

                thinking = g_strv_contains(list, "thinking");
        }
        adw_action_row_set_subtitle(ADW_ACTION_ROW(self->model_row), s->str);
        adw_action_row_set_subtitle(self->thinking_row,
                                    thinking ? "The model can reason before it answers"
                                             : "This model does not report a thinking mode");
}

static void on_model_selected(AdwComboRow *row, GParamSpec *pspec, gpointer user_data) {
        LabEnergyPage *self = user_data;
        LlmlabManager *manager = lab_application_get_manager(self->app);
        g_autofree char *model = lab_energy_page_selected_model(self);
        GVariantDict options;

        g_cancellable_cancel(self->info_cancellable);
        g_clear_object(&self->info_cancellable);
        if (!model || !manager) {
                adw_action_row_set_subtitle(ADW_ACTION_ROW(self->model_row),
                                            model ? NULL : "No models: is the inference server up?");
                return;
        }
        self->info_cancellable = g_cancellable_new();
        g_variant_dict_init(&options, NULL);
        llmlab_manager_call_get_model_info(manager, model, g_variant_dict_end(&options),
                                           self->info_cancellable, on_model_info, self);
}

static void on_models(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GVariant) models = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *previous = NULL;
        LabEnergyPage *self;
        GVariantIter iter;
        GVariant *m;
        guint keep = GTK_INVALID_LIST_POSITION, n = 0;

        if (!llmlab_manager_call_list_models_finish(LLMLAB_MANAGER(source), &models, res, &error)) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        lab_application_report_error(LAB_ENERGY_PAGE(user_data)->app,
                                                     "Cannot list the models", error);
                return;
        }
        self = LAB_ENERGY_PAGE(user_data);
        previous = lab_energy_page_selected_model(self);
        gtk_string_list_splice(self->models, 0, g_list_model_get_n_items(G_LIST_MODEL(self->models)), NULL);
        g_variant_iter_init(&iter, models);
        while ((m = g_variant_iter_next_value(&iter))) {
                const char *name = NULL;

                if (g_variant_lookup(m, "name", "&s", &name)) {
                        if (previous && g_str_equal(previous, name))
                                keep = n;
                        gtk_string_list_append(self->models, name);
                        n++;
                }
                g_variant_unref(m);
        }
        adw_combo_row_set_selected(self->model_row, keep != GTK_INVALID_LIST_POSITION ? keep : 0);
        on_model_selected(self->model_row, NULL, self);
}

static void on_benchmarks(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GVariant) list = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *def_title = NULL;
        const char *def;
        LabEnergyPage *self;
        GVariantIter iter;
        GVariant *b;

        if (!llmlab_manager_call_list_benchmarks_finish(LLMLAB_MANAGER(source), &list, res, &error)) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        lab_application_report_error(LAB_ENERGY_PAGE(user_data)->app,
                                                     "Cannot list the benchmarks", error);
                return;
        }
        self = LAB_ENERGY_PAGE(user_data);
        def = llmlab_manager_get_default_benchmark(LLMLAB_MANAGER(source));
        gtk_string_list_splice(self->benchmark_titles, 0,
                               g_list_model_get_n_items(G_LIST_MODEL(self->benchmark_titles)), NULL);
        g_ptr_array_set_size(self->benchmark_ids, 0);
        def_title = g_strdup_printf("Daemon default (%s)", def && *def ? def : "none");
        gtk_string_list_append(self->benchmark_titles, def_title);
        g_ptr_array_add(self->benchmark_ids, NULL);
        g_variant_iter_init(&iter, list);
        while ((b = g_variant_iter_next_value(&iter))) {
                const char *id = NULL;
                double out = 0;
                g_autofree char *title = NULL;

                if (g_variant_lookup(b, "id", "&s", &id)) {
                        (void) g_variant_lookup(b, "wh_per_1000_output_tokens", "d", &out);
                        title = g_strdup_printf("%s (%.4g Wh/1K output)", id, out);
                        gtk_string_list_append(self->benchmark_titles, title);
                        g_ptr_array_add(self->benchmark_ids, g_strdup(id));
                }
                g_variant_unref(b);
        }
        adw_combo_row_set_selected(self->benchmark_row, 0);
}

/* Live measurement needs at least one readable, summed counter. */
static void update_energy_sources(LabEnergyPage *self, LlmlabManager *manager) {
        GVariant *sources = manager ? llmlab_manager_get_energy_sources(manager) : NULL;
        g_autoptr(GString) zones = g_string_new(NULL);
        g_autofree char *reason = NULL;
        g_autofree char *subtitle = NULL;
        guint available = 0;
        GVariantIter iter;
        GVariant *s;

        if (sources) {
                g_variant_iter_init(&iter, sources);
                while ((s = g_variant_iter_next_value(&iter))) {
                        gboolean ok = FALSE, summed = FALSE, nested = FALSE;
                        const char *id = NULL, *why = NULL;

                        (void) g_variant_lookup(s, "available", "b", &ok);
                        (void) g_variant_lookup(s, "nested", "b", &nested);
                        /* "summed" per the contract; without it, whatever is not nested is summed. */
                        if (!g_variant_lookup(s, "summed", "b", &summed))
                                summed = !nested;
                        (void) g_variant_lookup(s, "id", "&s", &id);
                        (void) g_variant_lookup(s, "reason", "&s", &why);
                        if (ok && summed) {
                                const char *colon = id ? strchr(id, ':') : NULL;

                                g_string_append_printf(zones, "%s%s", available ? ", " : "",
                                                       colon ? colon + 1 : id ?: "?");
                                available++;
                        } else if (!ok && why && !reason)
                                reason = g_strdup(why);
                        g_variant_unref(s);
                }
        }
        self->live_available = available > 0;
        if (self->live_available)
                subtitle = g_strdup_printf("RAPL counters: %s", zones->str);
        else
                subtitle = g_strdup_printf(
                        "No readable energy counters%s%s: energy is estimated from the benchmark",
                        reason ? " — " : "", reason ?: "");
        adw_action_row_set_subtitle(self->live_row, subtitle);
        gtk_widget_set_sensitive(GTK_WIDGET(self->live), self->live_available);
        gtk_switch_set_active(self->live, self->live_available);
}

static void on_sources_changed(GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer user_data) {
        g_autoptr(GVariant) sources = g_variant_lookup_value(changed, "EnergySources", NULL);

        if (sources)
                update_energy_sources(user_data, LLMLAB_MANAGER(proxy));
}

void lab_energy_page_reload(LabEnergyPage *self) {
        LlmlabManager *manager = lab_application_get_manager(self->app);
        GVariantDict options;

        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        g_cancellable_cancel(self->cancellable);
        g_clear_object(&self->cancellable);
        self->cancellable = g_cancellable_new();
        if (self->watched_manager != manager) {
                if (self->watched_manager)
                        g_clear_signal_handler(&self->sources_handler, self->watched_manager);
                g_set_object(&self->watched_manager, manager);
                if (manager)
                        self->sources_handler = g_signal_connect(manager, "g-properties-changed",
                                                                 G_CALLBACK(on_sources_changed), self);
        }
        update_energy_sources(self, manager);
        lab_middleware_reload(self->middleware);
        lab_history_reload(self->history);
        if (!manager)
                return;
        g_variant_dict_init(&options, NULL);
        llmlab_manager_call_list_models(manager, g_variant_dict_end(&options), self->cancellable, on_models,
                                        self);
        llmlab_manager_call_list_benchmarks(manager, self->cancellable, on_benchmarks, self);
}

static void on_daemon_changed(LabApplication *app, gpointer user_data) {
        LabEnergyPage *self = user_data;

        if (!lab_application_get_manager(app))
                lab_energy_page_abandon(self);
        lab_energy_page_reload(self);
}

/* ---------------------------------------------------------------- the request */

static gboolean parse_seed(const char *text, gint64 *ret, gboolean *ret_set) {
        g_autofree char *t = g_strstrip(g_strdup(text));
        char *end = NULL;
        gint64 v;

        *ret_set = FALSE;
        if (t[0] == '\0')
                return TRUE;
        errno = 0;
        v = g_ascii_strtoll(t, &end, 10);
        if (errno != 0 || !end || *end != '\0')
                return FALSE;
        *ret = v;
        *ret_set = TRUE;
        return TRUE;
}

GVariant *lab_energy_page_build_request(LabEnergyPage *self, char **ret_problem) {
        g_autofree char *model = lab_energy_page_selected_model(self);
        g_autofree char *query = lab_text_view_get_text(self->query);
        guint bench = adw_combo_row_get_selected(self->benchmark_row);
        gboolean seed_set;
        GVariantDict d;
        gint64 seed = 0;

        if (!model) {
                *ret_problem = g_strdup("Choose a model first");
                return NULL;
        }
        if (lab_is_blank(query)) {
                *ret_problem = g_strdup("Write a user query first");
                return NULL;
        }
        if (!parse_seed(gtk_editable_get_text(GTK_EDITABLE(self->seed)), &seed, &seed_set)) {
                *ret_problem = g_strdup("The seed must be a whole number (or empty for a random one)");
                return NULL;
        }
        g_variant_dict_init(&d, NULL);
        g_variant_dict_insert(&d, "model", "s", model);
        g_variant_dict_insert(&d, "user_prompt", "s", query);
        g_variant_dict_insert(&d, "include_thinking", "b", gtk_switch_get_active(self->thinking));
        g_variant_dict_insert(&d, "temperature", "d", gtk_range_get_value(GTK_RANGE(self->temperature)));
        g_variant_dict_insert(&d, "max_tokens", "u",
                              (guint32) gtk_spin_button_get_value_as_int(self->max_tokens));
        g_variant_dict_insert(&d, "measure", "s",
                              self->live_available && gtk_switch_get_active(self->live) ? "live"
                                                                                        : "estimate");
        if (seed_set)
                g_variant_dict_insert(&d, "seed", "x", seed);
        if (bench != GTK_INVALID_LIST_POSITION && bench > 0 && bench < self->benchmark_ids->len)
                g_variant_dict_insert(&d, "benchmark", "s",
                                      (const char *) g_ptr_array_index(self->benchmark_ids, bench));
        lab_middleware_add_to_request(self->middleware, &d);
        return g_variant_dict_end(&d);
}

/* ---------------------------------------------------------------- setters */

gboolean lab_energy_page_set_model(LabEnergyPage *self, const char *model) {
        guint n = g_list_model_get_n_items(G_LIST_MODEL(self->models));

        g_return_val_if_fail(LAB_IS_ENERGY_PAGE(self), FALSE);
        for (guint i = 0; i < n; i++)
                if (g_str_equal(gtk_string_list_get_string(self->models, i), model)) {
                        adw_combo_row_set_selected(self->model_row, i);
                        return TRUE;
                }
        return FALSE;
}

void lab_energy_page_set_user_prompt(LabEnergyPage *self, const char *text) {
        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        lab_text_view_set_text(self->query, text);
}

gboolean lab_energy_page_set_measure(LabEnergyPage *self, const char *measure) {
        g_return_val_if_fail(LAB_IS_ENERGY_PAGE(self), FALSE);
        if (g_str_equal(measure, "live") && self->live_available)
                gtk_switch_set_active(self->live, TRUE);
        else if (g_str_equal(measure, "estimate"))
                gtk_switch_set_active(self->live, FALSE);
        else
                return FALSE;
        return TRUE;
}

void lab_energy_page_set_include_thinking(LabEnergyPage *self, gboolean include) {
        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        gtk_switch_set_active(self->thinking, include);
}

void lab_energy_page_set_temperature(LabEnergyPage *self, double temperature) {
        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        gtk_range_set_value(GTK_RANGE(self->temperature), temperature);
}

void lab_energy_page_set_max_tokens(LabEnergyPage *self, guint max_tokens) {
        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        gtk_spin_button_set_value(self->max_tokens, max_tokens);
}

void lab_energy_page_set_batch_runs(LabEnergyPage *self, guint runs, guint warmup) {
        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        gtk_spin_button_set_value(self->runs, runs);
        gtk_spin_button_set_value(self->warmup, warmup);
}

void lab_energy_page_set_system_prompt(LabEnergyPage *self, const char *text) {
        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        lab_middleware_set_system_prompt(self->middleware, text);
}

gboolean lab_energy_page_select_preset(LabEnergyPage *self, const char *id) {
        g_return_val_if_fail(LAB_IS_ENERGY_PAGE(self), FALSE);
        return lab_middleware_select_preset(self->middleware, id);
}

void lab_energy_page_add_injection(LabEnergyPage *self, const char *description, const char *content) {
        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        lab_middleware_add_injection(self->middleware, description, content);
}

/* ---------------------------------------------------------------- building */

static GtkWidget *action_button(const char *label, const char *action, const char *css) {
        GtkWidget *b = gtk_button_new_with_mnemonic(label);

        gtk_actionable_set_action_name(GTK_ACTIONABLE(b), action);
        if (css)
                gtk_widget_add_css_class(b, css);
        return b;
}

static GtkWidget *build_control_bar(LabEnergyPage *self) {
        GtkWidget *bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 8), *run, *w;

        gtk_widget_add_css_class(bar, "toolbar");
        gtk_widget_add_css_class(bar, "lab-control-bar");
        run = action_button("_Run Energy Test", "app.run-energy", "suggested-action");
        gtk_widget_set_tooltip_text(run, "Run the test (Ctrl+Return); a batch when Runs is above 1");
        gtk_box_append(GTK_BOX(bar), run);
        w = action_button("_Stop", "app.stop-energy", "destructive-action");
        self->stop_button = GTK_BUTTON(w);
        gtk_box_append(GTK_BOX(bar), w);
        gtk_box_append(GTK_BOX(bar), gtk_separator_new(GTK_ORIENTATION_VERTICAL));
        gtk_box_append(GTK_BOX(bar), action_button("C_lear", "app.clear-energy", NULL));
        gtk_box_append(GTK_BOX(bar), action_button("_Export…", "app.export", NULL));

        self->status = GTK_LABEL(gtk_label_new("Ready"));
        gtk_label_set_xalign(self->status, 1.0f);
        gtk_label_set_ellipsize(self->status, PANGO_ELLIPSIZE_END);
        gtk_widget_set_hexpand(GTK_WIDGET(self->status), TRUE);
        gtk_widget_add_css_class(GTK_WIDGET(self->status), "dim-label");
        gtk_box_append(GTK_BOX(bar), lab_named_group_new(GTK_WIDGET(self->status), "Test status"));
        self->progress = GTK_PROGRESS_BAR(gtk_progress_bar_new());
        gtk_widget_set_valign(GTK_WIDGET(self->progress), GTK_ALIGN_CENTER);
        gtk_widget_set_size_request(GTK_WIDGET(self->progress), 160, -1);
        gtk_widget_set_visible(GTK_WIDGET(self->progress), FALSE);
        gtk_box_append(GTK_BOX(bar), GTK_WIDGET(self->progress));
        return bar;
}

static GtkWidget *build_model_group(LabEnergyPage *self) {
        AdwPreferencesGroup *group = lab_group_new("Model", NULL, NULL);

        self->model_row = ADW_COMBO_ROW(adw_combo_row_new());
        adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->model_row), "Model");
        adw_combo_row_set_model(self->model_row, G_LIST_MODEL(self->models));
        g_signal_connect(self->model_row, "notify::selected", G_CALLBACK(on_model_selected), self);
        adw_preferences_group_add(group, GTK_WIDGET(self->model_row));

        self->benchmark_row = ADW_COMBO_ROW(adw_combo_row_new());
        adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->benchmark_row), "Energy benchmark");
        adw_action_row_set_subtitle(ADW_ACTION_ROW(self->benchmark_row),
                                    "Coefficients for estimates (and for comparison)");
        adw_combo_row_set_model(self->benchmark_row, G_LIST_MODEL(self->benchmark_titles));
        adw_preferences_group_add(group, GTK_WIDGET(self->benchmark_row));

        self->thinking = GTK_SWITCH(gtk_switch_new());
        self->thinking_row = lab_action_row_new("Include thinking", NULL, GTK_WIDGET(self->thinking));
        adw_preferences_group_add(group, GTK_WIDGET(self->thinking_row));
        return GTK_WIDGET(group);
}

static GtkWidget *build_query_group(LabEnergyPage *self) {
        AdwPreferencesGroup *group = lab_group_new("User query", NULL, NULL);
        GtkWidget *area = lab_text_area_new(&self->query, 110, "User query", TRUE);

        adw_preferences_group_add(group, area);
        return GTK_WIDGET(group);
}

static GtkWidget *build_generation_group(LabEnergyPage *self) {
        AdwPreferencesGroup *group = lab_group_new("Generation", NULL, NULL);

        self->temperature = GTK_SCALE(gtk_scale_new_with_range(GTK_ORIENTATION_HORIZONTAL, 0.0, 2.0, 0.05));
        gtk_range_set_value(GTK_RANGE(self->temperature), 0.7);
        gtk_scale_set_draw_value(self->temperature, TRUE);
        gtk_scale_set_digits(self->temperature, 2);
        gtk_scale_set_value_pos(self->temperature, GTK_POS_LEFT);
        gtk_widget_set_size_request(GTK_WIDGET(self->temperature), 220, -1);
        adw_preferences_group_add(
                group, GTK_WIDGET(lab_action_row_new("Temperature", "0 = deterministic, 2 = chaotic",
                                                     GTK_WIDGET(self->temperature))));
        self->max_tokens = lab_int_spin_new(1, 32768, 1000, "Max tokens");
        adw_preferences_group_add(group, GTK_WIDGET(lab_action_row_new("Max tokens", "Output limit",
                                                                       GTK_WIDGET(self->max_tokens))));
        self->seed = GTK_ENTRY(gtk_entry_new());
        gtk_entry_set_placeholder_text(self->seed, "random");
        gtk_entry_set_input_purpose(self->seed, GTK_INPUT_PURPOSE_NUMBER);
        gtk_editable_set_width_chars(GTK_EDITABLE(self->seed), 10);
        adw_preferences_group_add(group, GTK_WIDGET(lab_action_row_new("Seed", "For reproducible output",
                                                                       GTK_WIDGET(self->seed))));
        return GTK_WIDGET(group);
}

static GtkWidget *build_measure_group(LabEnergyPage *self) {
        AdwPreferencesGroup *group = lab_group_new("Measurement", NULL, NULL);

        self->live = GTK_SWITCH(gtk_switch_new());
        self->live_row = lab_action_row_new("Live power measurement", NULL, GTK_WIDGET(self->live));
        adw_action_row_set_subtitle_lines(self->live_row, 2);
        adw_preferences_group_add(group, GTK_WIDGET(self->live_row));
        self->runs = lab_int_spin_new(1, 100, 1, "Runs");
        adw_preferences_group_add(group,
                                  GTK_WIDGET(lab_action_row_new("Runs", "Above 1: a batch with statistics",
                                                                GTK_WIDGET(self->runs))));
        self->warmup = lab_int_spin_new(0, 10, 1, "Warm-up runs");
        adw_preferences_group_add(
                group, GTK_WIDGET(lab_action_row_new("Warm-up runs",
                                                     "Run first and left out of a batch's statistics",
                                                     GTK_WIDGET(self->warmup))));
        return GTK_WIDGET(group);
}

static GtkWidget *build_response_group(LabEnergyPage *self) {
        AdwPreferencesGroup *group = lab_group_new("Response", NULL, NULL);
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 8), *thinking_box, *label, *area;

        self->response_state = GTK_LABEL(gtk_label_new(""));
        gtk_widget_add_css_class(GTK_WIDGET(self->response_state), "dim-label");
        adw_preferences_group_set_header_suffix(
                group, lab_named_group_new(GTK_WIDGET(self->response_state), "Response state"));

        thinking_box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
        label = gtk_label_new("Thinking");
        gtk_label_set_xalign(GTK_LABEL(label), 0.0f);
        gtk_widget_add_css_class(label, "caption-heading");
        gtk_widget_add_css_class(label, "dim-label");
        gtk_box_append(GTK_BOX(thinking_box), label);
        area = lab_text_area_new(&self->thinking_view, 50, "Thinking", FALSE);
        gtk_widget_add_css_class(GTK_WIDGET(self->thinking_view), "lab-thinking");
        gtk_box_append(GTK_BOX(thinking_box), area);
        self->thinking_revealer = GTK_REVEALER(gtk_revealer_new());
        gtk_revealer_set_child(self->thinking_revealer, thinking_box);
        gtk_box_append(GTK_BOX(box), GTK_WIDGET(self->thinking_revealer));

        label = gtk_label_new("Answer");
        gtk_label_set_xalign(GTK_LABEL(label), 0.0f);
        gtk_widget_add_css_class(label, "caption-heading");
        gtk_widget_add_css_class(label, "dim-label");
        gtk_box_append(GTK_BOX(box), label);
        gtk_box_append(GTK_BOX(box), lab_text_area_new(&self->answer_view, 110, "Answer", FALSE));
        adw_preferences_group_add(group, box);
        return GTK_WIDGET(group);
}

static GtkWidget *column(GtkWidget *content, int width) {
        GtkWidget *scrolled = gtk_scrolled_window_new(), *clamp = adw_clamp_new();

        gtk_widget_set_margin_top(content, 18);
        gtk_widget_set_margin_bottom(content, 24);
        gtk_widget_set_margin_start(content, 18);
        gtk_widget_set_margin_end(content, 18);
        adw_clamp_set_maximum_size(ADW_CLAMP(clamp), width);
        adw_clamp_set_child(ADW_CLAMP(clamp), content);
        gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scrolled), clamp);
        gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scrolled), GTK_POLICY_NEVER,
                                       GTK_POLICY_AUTOMATIC);
        return scrolled;
}

static void build(LabEnergyPage *self) {
        GtkWidget *left = gtk_box_new(GTK_ORIENTATION_VERTICAL, 24),
                  *right = gtk_box_new(GTK_ORIENTATION_VERTICAL, 24);
        GtkWidget *columns = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 0), *w;

        gtk_box_append(GTK_BOX(left), build_model_group(self));
        gtk_box_append(GTK_BOX(left), build_query_group(self));
        gtk_box_append(GTK_BOX(left), build_generation_group(self));
        self->middleware = lab_middleware_new(self->app);
        gtk_box_append(GTK_BOX(left), GTK_WIDGET(self->middleware));
        gtk_box_append(GTK_BOX(left), build_measure_group(self));
        self->jobs = lab_energy_jobs_new();
        gtk_box_append(GTK_BOX(left), lab_energy_jobs_get_controls(self->jobs));

        gtk_box_append(GTK_BOX(right), build_response_group(self));
        self->power = LAB_POWER_CHART(lab_power_chart_new());
        gtk_box_append(GTK_BOX(right), GTK_WIDGET(lab_group_new("Power over the run",
                                                                "Summed energy counters, phases shaded",
                                                                lab_card_new(GTK_WIDGET(self->power)))));
        self->results = lab_energy_results_new();
        gtk_box_append(GTK_BOX(right),
                       GTK_WIDGET(lab_group_new("Results", NULL, GTK_WIDGET(self->results))));
        self->history = lab_history_new(self->app);
        gtk_box_append(GTK_BOX(right), lab_history_get_summary_widget(self->history));
        gtk_box_append(GTK_BOX(right), lab_energy_jobs_get_results(self->jobs));
        gtk_box_append(GTK_BOX(right), lab_history_get_list_widget(self->history));

        w = column(left, 560);
        gtk_widget_set_size_request(w, 440, -1);
        gtk_box_append(GTK_BOX(columns), w);
        gtk_box_append(GTK_BOX(columns), gtk_separator_new(GTK_ORIENTATION_VERTICAL));
        w = column(right, 1000);
        gtk_widget_set_hexpand(w, TRUE);
        gtk_box_append(GTK_BOX(columns), w);
        gtk_widget_set_vexpand(columns, TRUE);

        gtk_box_append(GTK_BOX(self), build_control_bar(self));
        gtk_box_append(GTK_BOX(self), gtk_separator_new(GTK_ORIENTATION_HORIZONTAL));
        gtk_box_append(GTK_BOX(self), columns);
}

static void lab_energy_page_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec) {
        LabEnergyPage *self = LAB_ENERGY_PAGE(object);

        switch (prop_id) {
        case PROP_BUSY: g_value_set_boolean(value, self->state != PAGE_IDLE); break;
        case PROP_CAN_STOP:
                g_value_set_boolean(value, self->state == PAGE_STARTING || self->state == PAGE_RUNNING);
                break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        }
}

static void lab_energy_page_dispose(GObject *object) {
        LabEnergyPage *self = LAB_ENERGY_PAGE(object);

        g_cancellable_cancel(self->cancellable);
        g_cancellable_cancel(self->info_cancellable);
        g_cancellable_cancel(self->op_cancellable);
        if (self->watched_manager)
                g_clear_signal_handler(&self->sources_handler, self->watched_manager);
        g_clear_object(&self->watched_manager);
        if (self->app)
                g_clear_signal_handler(&self->daemon_handler, self->app);
        if (self->stream)
                g_signal_handlers_disconnect_by_data(self->stream, self);
        if (self->job)
                g_signal_handlers_disconnect_by_data(self->job, self);
        g_clear_object(&self->stream);
        g_clear_object(&self->job);
        g_clear_object(&self->jobs);
        g_clear_object(&self->history);
        g_clear_object(&self->cancellable);
        g_clear_object(&self->info_cancellable);
        g_clear_object(&self->op_cancellable);
        g_clear_object(&self->app);
        G_OBJECT_CLASS(lab_energy_page_parent_class)->dispose(object);
}

static void lab_energy_page_finalize(GObject *object) {
        LabEnergyPage *self = LAB_ENERGY_PAGE(object);

        g_object_unref(self->models);
        g_object_unref(self->benchmark_titles);
        g_ptr_array_unref(self->benchmark_ids);
        g_free(self->op_kind);
        g_free(self->op_model);
        g_free(self->op_query);
        G_OBJECT_CLASS(lab_energy_page_parent_class)->finalize(object);
}

static void lab_energy_page_class_init(LabEnergyPageClass *klass) {
        GObjectClass *object_class = G_OBJECT_CLASS(klass);

        object_class->get_property = lab_energy_page_get_property;
        object_class->dispose = lab_energy_page_dispose;
        object_class->finalize = lab_energy_page_finalize;
        props[PROP_BUSY] =
                g_param_spec_boolean("busy", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        props[PROP_CAN_STOP] = g_param_spec_boolean("can-stop", NULL, NULL, FALSE,
                                                    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
        g_object_class_install_properties(object_class, N_PROPS, props);
}

static void lab_energy_page_init(LabEnergyPage *self) {
        self->models = gtk_string_list_new(NULL);
        self->benchmark_titles = gtk_string_list_new(NULL);
        self->benchmark_ids = g_ptr_array_new_with_free_func(g_free);
}

LabEnergyPage *lab_energy_page_new(LabApplication *app) {
        LabEnergyPage *self =
                g_object_new(LAB_TYPE_ENERGY_PAGE, "orientation", GTK_ORIENTATION_VERTICAL, NULL);

        self->app = g_object_ref(app);
        build(self);
        lab_energy_results_clear(self->results);
        lab_power_chart_set_message(self->power, NULL);
        self->daemon_handler = g_signal_connect(app, "daemon-changed", G_CALLBACK(on_daemon_changed), self);
        lab_energy_page_reload(self);
        return self;
}
