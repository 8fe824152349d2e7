/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-energy-results.h"
#include "lab-format.h"
#include "lab-widgets.h"

typedef enum {
        FMT_ENERGY,
        FMT_FIGURE,
        FMT_CO2,
        FMT_POWER,
        FMT_COUNT,
        FMT_DURATION,
        FMT_PERCENT,
} Format;

typedef struct {
        const char *key;  /* label shown, and the accessible name of the value */
        const char *path; /* in the Result dictionary */
        Format format;
        const char *tooltip;
} Fact;

static const Fact energy_facts[] = {
        {"Model load", "energy.load_wh", FMT_ENERGY,
         "From the request until the server started on the prompt"},
        {"Prefill", "energy.prefill_wh", FMT_ENERGY, "Processing the prompt (input tokens)"},
        {"Decode", "energy.decode_wh", FMT_ENERGY, "Generating the output tokens"},
        {"Total energy", "energy.total_wh", FMT_ENERGY, "Gross energy of the summed components"},
        {"Net energy", "energy.net_total_wh", FMT_ENERGY, "Total minus idle power × duration"},
        {"Idle power", "energy.idle_w", FMT_POWER, "Baseline power of the same components"},
        {"Wh/1000 e-tokens", "energy.wh_per_1000_etokens", FMT_FIGURE,
         "Total energy per 1000 output tokens (energy-weighted output tokens)"},
        {"Prefill Wh/1K input", "energy.prefill_wh_per_1000_input_tokens", FMT_FIGURE,
         "Prefill energy per 1000 input tokens"},
        {"Decode Wh/1K output", "energy.decode_wh_per_1000_output_tokens", FMT_FIGURE,
         "Decode energy per 1000 output tokens"},
        {"J per output token", "energy.j_per_output_token", FMT_FIGURE, NULL},
        {"CO₂", "carbon.co2_g", FMT_CO2, "Total energy × the grid intensity of the configured region"},
        {"Estimate (benchmark)", "estimate.total_wh", FMT_ENERGY,
         "What the benchmark coefficients predict for the same token counts"},
};

static const Fact token_facts[] = {
        {"Input tokens", "tokens.input", FMT_COUNT, "Prompt tokens as counted by the server"},
        {"User query", "breakdown.input.user", FMT_COUNT, NULL},
        {"System prompt", "breakdown.input.system", FMT_COUNT, NULL},
        {"Context", "breakdown.input.context", FMT_COUNT, NULL},
        {"Injections", "breakdown.input.injections", FMT_COUNT, NULL},
        {"Template", "breakdown.input.template", FMT_COUNT, "Chat template and serialization overhead"},
        {"Injected share", "breakdown.injected_share", FMT_PERCENT,
         "Input tokens the user did not type (system, context, injections, template)"},
        {"Output tokens", "tokens.output", FMT_COUNT, NULL},
        {"Thinking tokens", "tokens.thinking", FMT_COUNT, NULL},
        {"Answer tokens", "tokens.answer", FMT_COUNT, NULL},
};

static const Fact timing_facts[] = {
        {"Time to first token", "timing.ttft_ms", FMT_DURATION, NULL},
        {"Time per output token", "timing.tpot_ms", FMT_DURATION, "Excluding the first token"},
        {"End to end", "timing.e2e_ms", FMT_DURATION, NULL},
        {"Load time", "timing.load_ms", FMT_DURATION, NULL},
        {"Prefill time", "timing.prefill_ms", FMT_DURATION, NULL},
        {"Decode time", "timing.decode_ms", FMT_DURATION, NULL},
        {"Tokens per second", "timing.tokens_per_s", FMT_FIGURE, NULL},
};

struct _LabEnergyResults {
        GtkBox parent_instance;

        GtkLabel *method;
        GtkLabel *energy[G_N_ELEMENTS(energy_facts)];
        GtkLabel *tokens[G_N_ELEMENTS(token_facts)];
        GtkLabel *timing[G_N_ELEMENTS(timing_facts)];
};

G_DEFINE_FINAL_TYPE(LabEnergyResults, lab_energy_results, GTK_TYPE_BOX)

static char *format_value(Format f, double v) {
        switch (f) {
        case FMT_ENERGY: return lab_format_energy(v);
        case FMT_FIGURE: return lab_format_figure(v);
        case FMT_CO2: return lab_format_co2(v);
        case FMT_POWER: return lab_format_power(v);
        case FMT_COUNT: return lab_format_count(v);
        case FMT_DURATION: return lab_format_duration_ms(v);
        case FMT_PERCENT: return lab_format_percent(v);
        }
        g_assert_not_reached();
}

static void fill(GVariant *result, const Fact *facts, GtkLabel **labels, size_t n) {
        for (size_t i = 0; i < n; i++) {
                double v;

                if (result && lab_variant_lookup_double(result, facts[i].path, &v))
                        lab_fact_set(labels[i], format_value(facts[i].format, v));
                else
                        lab_fact_set(labels[i], NULL);
        }
}

static char *method_text(GVariant *result) {
        g_autofree char *method = lab_variant_lookup_string(result, "energy.method");
        g_autofree char *split = lab_variant_lookup_string(result, "energy.split_method");
        g_autofree char *benchmark = lab_variant_lookup_string(result, "energy.benchmark");
        g_autofree char *region = lab_variant_lookup_string(result, "carbon.region_name");
        gboolean measured = FALSE;
        double samples = 0, g_per_kwh = 0;

        (void) lab_variant_lookup_bool(result, "energy.measured", &measured);
        (void) lab_variant_lookup_double(result, "energy.samples", &samples);
        (void) lab_variant_lookup_double(result, "carbon.g_per_kwh", &g_per_kwh);
        if (!method)
                return g_strdup("Not measured (measurement off)");
        if (measured)
                return g_strdup_printf("Measured live: %.0f samples, split by %s · grid %s, %.0f g/kWh",
                                       samples, split ?: "?", region ?: "?", g_per_kwh);
        return g_strdup_printf("Estimated from benchmark %s · grid %s, %.0f g/kWh", benchmark ?: "?",
                               region ?: "?", g_per_kwh);
}

void lab_energy_results_clear(LabEnergyResults *self) {
        g_return_if_fail(LAB_IS_ENERGY_RESULTS(self));
        gtk_label_set_text(self->method, "No run yet");
        fill(NULL, energy_facts, self->energy, G_N_ELEMENTS(energy_facts));
        fill(NULL, token_facts, self->tokens, G_N_ELEMENTS(token_facts));
        fill(NULL, timing_facts, self->timing, G_N_ELEMENTS(timing_facts));
}

void lab_energy_results_set_result(LabEnergyResults *self, GVariant *result) {
        g_autofree char *method = NULL;

        g_return_if_fail(LAB_IS_ENERGY_RESULTS(self));
        method = method_text(result);
        gtk_label_set_text(self->method, method);
        fill(result, energy_facts, self->energy, G_N_ELEMENTS(energy_facts));
        fill(result, token_facts, self->tokens, G_N_ELEMENTS(token_facts));
        fill(result, timing_facts, self->timing, G_N_ELEMENTS(timing_facts));
}

static GtkWidget *fact_card(const char *title, const Fact *facts, GtkLabel **labels, size_t n) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 10), *heading = gtk_label_new(title);
        GtkGrid *grid = lab_fact_grid_new();

        gtk_label_set_xalign(GTK_LABEL(heading), 0.0f);
        gtk_widget_add_css_class(heading, "heading");
        gtk_box_append(GTK_BOX(box), heading);
        for (size_t i = 0; i < n; i++)
                labels[i] = lab_fact_grid_add(grid, facts[i].key, facts[i].tooltip);
        gtk_box_append(GTK_BOX(box), GTK_WIDGET(grid));
        return lab_card_new(box);
}

static void lab_energy_results_class_init(LabEnergyResultsClass *klass) {
}

static void lab_energy_results_init(LabEnergyResults *self) {
        GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12),
                  *right = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
        GtkWidget *energy = fact_card("Energy", energy_facts, self->energy, G_N_ELEMENTS(energy_facts));

        gtk_orientable_set_orientation(GTK_ORIENTABLE(self), GTK_ORIENTATION_VERTICAL);
        gtk_box_set_spacing(GTK_BOX(self), 8);
        self->method = GTK_LABEL(gtk_label_new("No run yet"));
        gtk_label_set_xalign(self->method, 0.0f);
        gtk_label_set_wrap(self->method, TRUE);
        gtk_widget_add_css_class(GTK_WIDGET(self->method), "dim-label");
        gtk_box_append(GTK_BOX(self), lab_named_group_new(GTK_WIDGET(self->method), "Measurement method"));

        gtk_widget_set_hexpand(energy, TRUE);
        gtk_box_append(GTK_BOX(row), energy);
        gtk_box_append(GTK_BOX(right),
                       fact_card("Tokens", token_facts, self->tokens, G_N_ELEMENTS(token_facts)));
        gtk_box_append(GTK_BOX(right),
                       fact_card("Timing", timing_facts, self->timing, G_N_ELEMENTS(timing_facts)));
        gtk_widget_set_hexpand(right, TRUE);
        gtk_box_append(GTK_BOX(row), right);
        gtk_box_set_homogeneous(GTK_BOX(row), TRUE);
        gtk_box_append(GTK_BOX(self), row);
        lab_energy_results_clear(self);
}

LabEnergyResults *lab_energy_results_new(void) {
        return g_object_new(LAB_TYPE_ENERGY_RESULTS, NULL);
}
