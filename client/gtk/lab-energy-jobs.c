/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-energy-jobs.h"
#include "lab-format.h"
#include "lab-widgets.h"

struct _LabEnergyJobs {
        GObject parent_instance;

        GtkWidget *controls;
        GtkWidget *results;
        GtkSpinButton *calib_runs;
        GtkSpinButton *start_tokens;
        GtkSpinButton *step_tokens;
        GtkSpinButton *max_steps;
        AdwActionRow *calib_row;
        AdwActionRow *crossover_row;
        GtkBox *cards; /* newest first */
        GtkWidget *placeholder;
};

G_DEFINE_FINAL_TYPE(LabEnergyJobs, lab_energy_jobs, G_TYPE_OBJECT)

/* The batch metrics shown, in order: summary key, label, format (e: energy, f: figure, d: ms, n: count). */
static const struct {
        const char *key;
        const char *label;
        char format;
} batch_metrics[] = {
        {"wh_per_1000_etokens", "Wh/1000 e-tokens", 'f'},
        {"total_wh", "Total energy", 'e'},
        {"net_total_wh", "Net energy", 'e'},
        {"prefill_wh_per_1000_input_tokens", "Prefill Wh/1K input", 'f'},
        {"decode_wh_per_1000_output_tokens", "Decode Wh/1K output", 'f'},
        {"ttft_ms", "Time to first token", 'd'},
        {"tokens_per_s", "Tokens per second", 'f'},
        {"input_tokens", "Input tokens", 'n'},
        {"output_tokens", "Output tokens", 'n'},
};

static char *fmt(char format, double v) {
        switch (format) {
        case 'e': return lab_format_energy(v);
        case 'd': return lab_format_duration_ms(v);
        case 'n': return g_strdup_printf("%.1f", v);
        default: return lab_format_figure(v);
        }
}

static GtkWidget *cell(const char *text, gboolean header, float xalign, const char *accessible) {
        GtkWidget *l = gtk_label_new(text);

        gtk_label_set_xalign(GTK_LABEL(l), xalign);
        if (header)
                gtk_widget_add_css_class(l, "heading");
        else
                gtk_widget_add_css_class(l, "numeric");
        gtk_widget_set_hexpand(l, !header || xalign > 0.5f);
        return accessible ? lab_named_group_new(l, accessible) : l;
}

static GtkWidget *table_new(const char *const *headers) {
        GtkWidget *grid = gtk_grid_new();

        gtk_grid_set_column_spacing(GTK_GRID(grid), 14);
        gtk_grid_set_row_spacing(GTK_GRID(grid), 5);
        for (int c = 0; headers[c]; c++)
                gtk_grid_attach(GTK_GRID(grid), cell(headers[c], TRUE, c == 0 ? 0.0f : 1.0f, NULL), c, 0, 1,
                                1);
        return grid;
}

static void table_add_cell(GtkWidget *grid, int row, int col, char *text, const char *row_name,
                           const char *col_name) {
        g_autofree char *owned = text;
        g_autofree char *name = g_strdup_printf("%s %s", row_name, col_name);

        gtk_grid_attach(GTK_GRID(grid), cell(owned ?: "—", FALSE, 1.0f, name), col, row, 1, 1);
}

static GtkWidget *batch_table(GVariant *summary) {
        static const char *const headers[] = {"Metric", "Mean",    "Median", "Std",
                                              "CV",     "95 % CI", "p5–p95", NULL};
        GtkWidget *grid = table_new(headers);
        int row = 1;

        for (size_t i = 0; i < G_N_ELEMENTS(batch_metrics); i++) {
                g_autoptr(GVariant) s = lab_variant_lookup_value(summary, batch_metrics[i].key);
                double mean, median, std, cv, lo, hi, p5, p95;
                char f = batch_metrics[i].format;
                const char *name = batch_metrics[i].label;

                if (!s || !g_variant_is_of_type(s, G_VARIANT_TYPE_VARDICT) ||
                    !lab_variant_lookup_double(s, "mean", &mean))
                        continue;
                gtk_grid_attach(GTK_GRID(grid), cell(name, FALSE, 0.0f, NULL), 0, row, 1, 1);
                table_add_cell(grid, row, 1, fmt(f, mean), name, "mean");
                table_add_cell(grid, row, 2,
                               lab_variant_lookup_double(s, "median", &median) ? fmt(f, median) : NULL, name,
                               "median");
                table_add_cell(grid, row, 3, lab_variant_lookup_double(s, "std", &std) ? fmt(f, std) : NULL,
                               name, "std");
                table_add_cell(grid, row, 4,
                               lab_variant_lookup_double(s, "cv", &cv) ? lab_format_percent(cv) : NULL, name,
                               "CV");
                if (lab_variant_lookup_double(s, "ci95_low", &lo) &&
                    lab_variant_lookup_double(s, "ci95_high", &hi)) {
                        g_autofree char *a = fmt(f, lo), *b = fmt(f, hi);

                        table_add_cell(grid, row, 5, g_strdup_printf("%s – %s", a, b), name, "CI");
                } else
                        table_add_cell(grid, row, 5, NULL, name, "CI");
                if (lab_variant_lookup_double(s, "p5", &p5) && lab_variant_lookup_double(s, "p95", &p95)) {
                        g_autofree char *a = fmt(f, p5), *b = fmt(f, p95);

                        table_add_cell(grid, row, 6, g_strdup_printf("%s – %s", a, b), name, "p5–p95");
                } else
                        table_add_cell(grid, row, 6, NULL, name, "p5–p95");
                row++;
        }
        return grid;
}

static GtkWidget *crossover_table(GVariant *summary) {
        static const char *const headers[] = {"Step",  "Input tokens",     "Prefill", "Decode",
                                              "Total", "Wh/1000 e-tokens", "Crossed", NULL};
        g_autoptr(GVariant) steps = lab_variant_lookup_value(summary, "steps");
        GtkWidget *grid = table_new(headers);
        gsize n = steps && g_variant_is_of_type(steps, G_VARIANT_TYPE("aa{sv}"))
                          ? g_variant_n_children(steps)
                          : 0;

        for (gsize i = 0; i < n; i++) {
                g_autoptr(GVariant) s = g_variant_get_child_value(steps, i);
                g_autofree char *row_name = g_strdup_printf("Step %zu", i + 1);
                double v;
                gboolean crossed = FALSE;
                int row = (int) i + 1;

                gtk_grid_attach(GTK_GRID(grid), cell(row_name, FALSE, 0.0f, NULL), 0, row, 1, 1);
                table_add_cell(grid, row, 1,
                               lab_variant_lookup_double(s, "input_tokens", &v) ? lab_format_count(v) : NULL,
                               row_name, "input tokens");
                table_add_cell(grid, row, 2,
                               lab_variant_lookup_double(s, "prefill_wh", &v) ? lab_format_energy(v) : NULL,
                               row_name, "prefill");
                table_add_cell(grid, row, 3,
                               lab_variant_lookup_double(s, "decode_wh", &v) ? lab_format_energy(v) : NULL,
                               row_name, "decode");
                table_add_cell(grid, row, 4,
                               lab_variant_lookup_double(s, "total_wh", &v) ? lab_format_energy(v) : NULL,
                               row_name, "total");
                table_add_cell(grid, row, 5,
                               lab_variant_lookup_double(s, "wh_per_1000_etokens", &v) ? lab_format_figure(v)
                                                                                       : NULL,
                               row_name, "Wh/1000 e-tokens");
                (void) lab_variant_lookup_bool(s, "crossed", &crossed);
                table_add_cell(grid, row, 6, g_strdup(crossed ? "yes" : "no"), row_name, "crossed");
        }
        return grid;
}

static GtkWidget *calibration_facts(GVariant *summary) {
        GtkGrid *grid = lab_fact_grid_new();
        g_autofree char *benchmark = lab_variant_lookup_string(summary, "benchmark");
        double v;

        lab_fact_set(lab_fact_grid_add(grid, "Benchmark", NULL), g_strdup(benchmark));
        lab_fact_set(lab_fact_grid_add(grid, "Wh per 1000 input tokens", NULL),
                     lab_variant_lookup_double(summary, "wh_per_1000_input_tokens", &v)
                             ? lab_format_figure(v)
                             : NULL);
        lab_fact_set(lab_fact_grid_add(grid, "Wh per 1000 output tokens", NULL),
                     lab_variant_lookup_double(summary, "wh_per_1000_output_tokens", &v)
                             ? lab_format_figure(v)
                             : NULL);
        lab_fact_set(lab_fact_grid_add(grid, "Intercept", "Energy per run not explained by tokens"),
                     lab_variant_lookup_double(summary, "intercept_wh", &v) ? lab_format_energy(v) : NULL);
        lab_fact_set(lab_fact_grid_add(grid, "R²", NULL),
                     lab_variant_lookup_double(summary, "r2", &v) ? g_strdup_printf("%.4f", v) : NULL);
        lab_fact_set(lab_fact_grid_add(grid, "Runs fitted", NULL),
                     lab_variant_lookup_double(summary, "n", &v) ? lab_format_count(v) : NULL);
        return GTK_WIDGET(grid);
}

static void on_remove_card(GtkButton *button, gpointer user_data) {
        LabEnergyJobs *self = user_data;
        GtkWidget *card = g_object_get_data(G_OBJECT(button), "lab-card");

        gtk_box_remove(self->cards, card);
        gtk_widget_set_visible(self->placeholder,
                               gtk_widget_get_first_child(GTK_WIDGET(self->cards)) == NULL);
}

static char *subtitle_for(const char *kind, GVariant *summary) {
        double n = 0, warmup = 0, failed = 0, idle = 0, tokens = 0;
        gboolean crossed = FALSE;

        if (g_str_equal(kind, "batch")) {
                g_autofree char *idle_text = NULL;

                (void) lab_variant_lookup_double(summary, "n", &n);
                (void) lab_variant_lookup_double(summary, "warmup", &warmup);
                (void) lab_variant_lookup_double(summary, "failed", &failed);
                idle_text = lab_variant_lookup_double(summary, "idle_w", &idle) ? lab_format_power(idle)
                                                                                : g_strdup("—");
                return g_strdup_printf("%.0f runs (%.0f warm-up left out, %.0f failed) · idle %s", n, warmup,
                                       failed, idle_text);
        }
        if (g_str_equal(kind, "crossover")) {
                (void) lab_variant_lookup_bool(summary, "crossed", &crossed);
                if (crossed && lab_variant_lookup_double(summary, "crossover_input_tokens", &tokens))
                        return g_strdup_printf(
                                "Prefill energy passed decode energy at about %.0f input tokens", tokens);
                return g_strdup("Prefill energy stayed below decode energy in every step");
        }
        return g_strdup("energy = a × input tokens + b × output tokens + c, fitted by least squares");
}

void lab_energy_jobs_show_summary(LabEnergyJobs *self, const char *kind, const char *title,
                                  GVariant *summary) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 10),
                  *top = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
        GtkWidget *heading = gtk_label_new(title), *sub, *remove, *body, *card;
        g_autofree char *subtitle = subtitle_for(kind, summary);

        g_return_if_fail(LAB_IS_ENERGY_JOBS(self));
        gtk_label_set_xalign(GTK_LABEL(heading), 0.0f);
        gtk_widget_add_css_class(heading, "heading");
        gtk_widget_set_hexpand(heading, TRUE);
        remove = gtk_button_new_from_icon_name("window-close-symbolic");
        gtk_widget_add_css_class(remove, "flat");
        gtk_widget_add_css_class(remove, "circular");
        gtk_widget_set_tooltip_text(remove, "Remove these results");
        gtk_box_append(GTK_BOX(top), heading);
        gtk_box_append(GTK_BOX(top), remove);
        sub = gtk_label_new(subtitle);
        gtk_label_set_xalign(GTK_LABEL(sub), 0.0f);
        gtk_label_set_wrap(GTK_LABEL(sub), TRUE);
        gtk_widget_add_css_class(sub, "dim-label");
        if (g_str_equal(kind, "batch"))
                body = batch_table(summary);
        else if (g_str_equal(kind, "crossover"))
                body = crossover_table(summary);
        else
                body = calibration_facts(summary);
        gtk_box_append(GTK_BOX(box), top);
        gtk_box_append(GTK_BOX(box), sub);
        gtk_box_append(GTK_BOX(box), body);
        card = lab_card_new(box);
        gtk_accessible_update_property(GTK_ACCESSIBLE(card), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);
        g_object_set_data(G_OBJECT(remove), "lab-card", card);
        g_signal_connect(remove, "clicked", G_CALLBACK(on_remove_card), self);
        gtk_box_prepend(self->cards, card);
        gtk_widget_set_visible(self->placeholder, FALSE);
}

void lab_energy_jobs_set_status(LabEnergyJobs *self, const char *kind, const char *text) {
        g_return_if_fail(LAB_IS_ENERGY_JOBS(self));
        adw_action_row_set_subtitle(g_str_equal(kind, "calibration") ? self->calib_row : self->crossover_row,
                                    text);
}

void lab_energy_jobs_clear(LabEnergyJobs *self) {
        GtkWidget *child;

        g_return_if_fail(LAB_IS_ENERGY_JOBS(self));
        while ((child = gtk_widget_get_first_child(GTK_WIDGET(self->cards))))
                gtk_box_remove(self->cards, child);
        gtk_widget_set_visible(self->placeholder, TRUE);
}

GVariant *lab_energy_jobs_calibration_options(LabEnergyJobs *self) {
        GVariantDict d;

        g_variant_dict_init(&d, NULL);
        g_variant_dict_insert(&d, "runs", "u", (guint32) gtk_spin_button_get_value_as_int(self->calib_runs));
        return g_variant_dict_end(&d);
}

GVariant *lab_energy_jobs_crossover_options(LabEnergyJobs *self) {
        GVariantDict d;

        g_variant_dict_init(&d, NULL);
        g_variant_dict_insert(&d, "start_tokens", "u",
                              (guint32) gtk_spin_button_get_value_as_int(self->start_tokens));
        g_variant_dict_insert(&d, "step_tokens", "u",
                              (guint32) gtk_spin_button_get_value_as_int(self->step_tokens));
        g_variant_dict_insert(&d, "max_steps", "u",
                              (guint32) gtk_spin_button_get_value_as_int(self->max_steps));
        return g_variant_dict_end(&d);
}

GtkWidget *lab_energy_jobs_get_controls(LabEnergyJobs *self) {
        return self->controls;
}

GtkWidget *lab_energy_jobs_get_results(LabEnergyJobs *self) {
        return self->results;
}

static GtkWidget *action_button(const char *label, const char *action) {
        GtkWidget *b = gtk_button_new_with_mnemonic(label);

        gtk_actionable_set_action_name(GTK_ACTIONABLE(b), action);
        gtk_widget_set_valign(b, GTK_ALIGN_CENTER);
        return b;
}

static void build_controls(LabEnergyJobs *self) {
        AdwPreferencesGroup *group = lab_group_new(
                "Live hardware tests", "Measured runs of the current model, query and injections", NULL);
        AdwExpanderRow *crossover = ADW_EXPANDER_ROW(adw_expander_row_new());

        self->calib_runs = lab_int_spin_new(3, 100, 8, "Calibration runs");
        self->calib_row = lab_action_row_new(
                "Calibration", "Fit Wh per input and output token; creates benchmark calibrated:MODEL",
                GTK_WIDGET(self->calib_runs));
        adw_action_row_add_suffix(self->calib_row, action_button("_Calibrate", "app.calibrate"));
        adw_preferences_group_add(group, GTK_WIDGET(self->calib_row));

        adw_preferences_row_set_title(ADW_PREFERENCES_ROW(crossover), "Prefill/decode crossover finder");
        adw_expander_row_set_subtitle(crossover,
                                      "Grow the input until prefill energy exceeds decode energy");
        self->crossover_row = lab_action_row_new("Run the finder", NULL,
                                                 action_button("_Run Crossover", "app.run-crossover"));
        self->start_tokens = lab_int_spin_new(1, 100000, 100, "Start input tokens");
        self->step_tokens = lab_int_spin_new(1, 100000, 200, "Step tokens");
        self->max_steps = lab_int_spin_new(1, 50, 10, "Max steps");
        adw_expander_row_add_row(crossover, GTK_WIDGET(lab_action_row_new("Start input tokens", NULL,
                                                                          GTK_WIDGET(self->start_tokens))));
        adw_expander_row_add_row(crossover, GTK_WIDGET(lab_action_row_new("Step tokens", NULL,
                                                                          GTK_WIDGET(self->step_tokens))));
        adw_expander_row_add_row(
                crossover, GTK_WIDGET(lab_action_row_new("Max steps", NULL, GTK_WIDGET(self->max_steps))));
        adw_expander_row_add_row(crossover, GTK_WIDGET(self->crossover_row));
        adw_preferences_group_add(group, GTK_WIDGET(crossover));
        self->controls = g_object_ref_sink(GTK_WIDGET(group));
}

static void build_results(LabEnergyJobs *self) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
        AdwPreferencesGroup *group;

        self->placeholder =
                gtk_label_new("Batch statistics, crossover steps and calibration fits appear here");
        gtk_widget_add_css_class(self->placeholder, "dim-label");
        gtk_label_set_wrap(GTK_LABEL(self->placeholder), TRUE);
        self->cards = GTK_BOX(gtk_box_new(GTK_ORIENTATION_VERTICAL, 12));
        gtk_box_append(GTK_BOX(box), self->placeholder);
        gtk_box_append(GTK_BOX(box), GTK_WIDGET(self->cards));
        group = lab_group_new("Batch and test results", "Warm-up runs are left out of the statistics", box);
        self->results = g_object_ref_sink(GTK_WIDGET(group));
}

static void lab_energy_jobs_dispose(GObject *object) {
        LabEnergyJobs *self = LAB_ENERGY_JOBS(object);

        g_clear_object(&self->controls);
        g_clear_object(&self->results);
        G_OBJECT_CLASS(lab_energy_jobs_parent_class)->dispose(object);
}

static void lab_energy_jobs_class_init(LabEnergyJobsClass *klass) {
        G_OBJECT_CLASS(klass)->dispose = lab_energy_jobs_dispose;
}

static void lab_energy_jobs_init(LabEnergyJobs *self) {
        build_controls(self);
        build_results(self);
}

LabEnergyJobs *lab_energy_jobs_new(void) {
        return g_object_new(LAB_TYPE_ENERGY_JOBS, NULL);
}
