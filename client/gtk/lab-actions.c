/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "build-config.h"
#include "lab-actions.h"
#include "lab-window.h"

static LabWindow *window_of(gpointer app) {
        GtkWindow *win = gtk_application_get_active_window(GTK_APPLICATION(app));
        GList *windows;

        if (LAB_IS_WINDOW(win))
                return LAB_WINDOW(win);
        windows = gtk_application_get_windows(GTK_APPLICATION(app));
        return windows && LAB_IS_WINDOW(windows->data) ? LAB_WINDOW(windows->data) : NULL;
}

#define ENERGY_PAGE(app)  (window_of(app) ? lab_window_get_energy_page(window_of(app)) : NULL)
#define COMPARE_PAGE(app) (window_of(app) ? lab_window_get_compare_page(window_of(app)) : NULL)

static void refuse(gpointer app, const char *what, const char *value, const char *why) {
        g_autofree char *text = g_strdup_printf("%s “%s”%s", what, value, why ?: "");

        lab_application_show_error(LAB_APPLICATION(app), text);
}

/* ---------------------------------------------------------------- Energy lab */

static void run_energy(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_run(ENERGY_PAGE(app));
}

static void stop_energy(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_stop(ENERGY_PAGE(app));
}

static void clear_energy(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_clear(ENERGY_PAGE(app));
}

static void calibrate(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_calibrate(ENERGY_PAGE(app));
}

static void run_crossover(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_run_crossover(ENERGY_PAGE(app));
}

static void export(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_export(ENERGY_PAGE(app));
}

static void export_to(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_export_to(ENERGY_PAGE(app), g_variant_get_string(p, NULL));
}

static void set_energy_model(GSimpleAction *a, GVariant *p, gpointer app) {
        const char *model = g_variant_get_string(p, NULL);

        if (ENERGY_PAGE(app) && !lab_energy_page_set_model(ENERGY_PAGE(app), model))
                refuse(app, "No model", model, " on the inference servers");
}

static void set_energy_prompt(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_set_user_prompt(ENERGY_PAGE(app), g_variant_get_string(p, NULL));
}

static void set_system_prompt(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_set_system_prompt(ENERGY_PAGE(app), g_variant_get_string(p, NULL));
}

static void select_preset(GSimpleAction *a, GVariant *p, gpointer app) {
        const char *id = g_variant_get_string(p, NULL);

        if (ENERGY_PAGE(app) && !lab_energy_page_select_preset(ENERGY_PAGE(app), id))
                refuse(app, "No system prompt preset", id, NULL);
}

static void add_injection(GSimpleAction *a, GVariant *p, gpointer app) {
        const char *desc, *content;

        g_variant_get(p, "(&s&s)", &desc, &content);
        if (ENERGY_PAGE(app))
                lab_energy_page_add_injection(ENERGY_PAGE(app), desc, content);
}

static void set_measure(GSimpleAction *a, GVariant *p, gpointer app) {
        const char *m = g_variant_get_string(p, NULL);

        if (ENERGY_PAGE(app) && !lab_energy_page_set_measure(ENERGY_PAGE(app), m))
                refuse(app, "Cannot measure", m, " here (live needs readable energy counters)");
}

static void set_include_thinking(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_set_include_thinking(ENERGY_PAGE(app), g_variant_get_boolean(p));
}

static void set_temperature(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_set_temperature(ENERGY_PAGE(app), g_variant_get_double(p));
}

static void set_max_tokens(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_set_max_tokens(ENERGY_PAGE(app), g_variant_get_uint32(p));
}

static void set_batch_runs(GSimpleAction *a, GVariant *p, gpointer app) {
        guint runs, warmup;

        g_variant_get(p, "(uu)", &runs, &warmup);
        if (ENERGY_PAGE(app))
                lab_energy_page_set_batch_runs(ENERGY_PAGE(app), runs, warmup);
}

/* ---------------------------------------------------------------- Comparison lab and window */

static void show_page(GSimpleAction *a, GVariant *p, gpointer app) {
        const char *name = g_variant_get_string(p, NULL);

        if (window_of(app) && !lab_window_show_page(window_of(app), name))
                refuse(app, "No page", name, " (energy or comparison)");
}

static void add_pane(GSimpleAction *a, GVariant *p, gpointer app) {
        const char *model, *alias;
        double temperature;
        guint max_tokens;

        g_variant_get(p, "(&s&sdu)", &model, &alias, &temperature, &max_tokens);
        if (COMPARE_PAGE(app))
                lab_compare_page_add_pane(COMPARE_PAGE(app), model, alias, temperature, max_tokens);
}

static void add_selected_panes(GSimpleAction *a, GVariant *p, gpointer app) {
        if (COMPARE_PAGE(app))
                lab_compare_page_add_selected(COMPARE_PAGE(app));
}

static void set_compare_prompts(GSimpleAction *a, GVariant *p, gpointer app) {
        const char *system, *user;

        g_variant_get(p, "(&s&s)", &system, &user);
        if (COMPARE_PAGE(app))
                lab_compare_page_set_prompts(COMPARE_PAGE(app), system, user);
}

static void generate_all(GSimpleAction *a, GVariant *p, gpointer app) {
        if (COMPARE_PAGE(app))
                lab_compare_page_generate_all(COMPARE_PAGE(app));
}

static void stop_all(GSimpleAction *a, GVariant *p, gpointer app) {
        if (COMPARE_PAGE(app))
                lab_compare_page_stop_all(COMPARE_PAGE(app));
}

static void remove_all_panes(GSimpleAction *a, GVariant *p, gpointer app) {
        if (COMPARE_PAGE(app))
                lab_compare_page_remove_all(COMPARE_PAGE(app));
}

static void refresh(GSimpleAction *a, GVariant *p, gpointer app) {
        if (ENERGY_PAGE(app))
                lab_energy_page_reload(ENERGY_PAGE(app));
        if (COMPARE_PAGE(app))
                lab_compare_page_reload(COMPARE_PAGE(app));
}

static void about(GSimpleAction *a, GVariant *p, gpointer app) {
        static const char *const developers[] = {"The llmlab authors", NULL};
        GtkWidget *about = adw_about_window_new();

        adw_about_window_set_application_name(ADW_ABOUT_WINDOW(about), "llmlab");
        adw_about_window_set_application_icon(ADW_ABOUT_WINDOW(about), LAB_APPLICATION_ID);
        adw_about_window_set_version(ADW_ABOUT_WINDOW(about), VERSION);
        adw_about_window_set_comments(
                ADW_ABOUT_WINDOW(about),
                "Measure what running a language model locally costs in energy, and compare "
                "models side by side.");
        adw_about_window_set_developers(ADW_ABOUT_WINDOW(about), (const char **) developers);
        adw_about_window_set_license_type(ADW_ABOUT_WINDOW(about), GTK_LICENSE_LGPL_2_1);
        if (window_of(app))
                gtk_window_set_transient_for(GTK_WINDOW(about), GTK_WINDOW(window_of(app)));
        gtk_window_present(GTK_WINDOW(about));
}

static void quit(GSimpleAction *a, GVariant *p, gpointer app) {
        g_application_quit(G_APPLICATION(app));
}

static const GActionEntry entries[] = {
        {"run-energy", run_energy, NULL, NULL, NULL},
        {"stop-energy", stop_energy, NULL, NULL, NULL},
        {"clear-energy", clear_energy, NULL, NULL, NULL},
        {"calibrate", calibrate, NULL, NULL, NULL},
        {"run-crossover", run_crossover, NULL, NULL, NULL},
        {"export", export, NULL, NULL, NULL},
        {"export-to", export_to, "s", NULL, NULL},
        {"set-energy-model", set_energy_model, "s", NULL, NULL},
        {"set-energy-prompt", set_energy_prompt, "s", NULL, NULL},
        {"set-system-prompt", set_system_prompt, "s", NULL, NULL},
        {"select-preset", select_preset, "s", NULL, NULL},
        {"add-injection", add_injection, "(ss)", NULL, NULL},
        {"set-measure", set_measure, "s", NULL, NULL},
        {"set-include-thinking", set_include_thinking, "b", NULL, NULL},
        {"set-temperature", set_temperature, "d", NULL, NULL},
        {"set-max-tokens", set_max_tokens, "u", NULL, NULL},
        {"set-batch-runs", set_batch_runs, "(uu)", NULL, NULL},
        {"show-page", show_page, "s", NULL, NULL},
        {"add-pane", add_pane, "(ssdu)", NULL, NULL},
        {"add-selected-panes", add_selected_panes, NULL, NULL, NULL},
        {"set-compare-prompts", set_compare_prompts, "(ss)", NULL, NULL},
        {"generate-all", generate_all, NULL, NULL, NULL},
        {"stop-all", stop_all, NULL, NULL, NULL},
        {"remove-all-panes", remove_all_panes, NULL, NULL, NULL},
        {"refresh", refresh, NULL, NULL, NULL},
        {"about", about, NULL, NULL, NULL},
        {"quit", quit, NULL, NULL, NULL},
};

static void set_enabled(LabApplication *app, const char *name, gboolean enabled) {
        GAction *action = g_action_map_lookup_action(G_ACTION_MAP(app), name);

        if (G_IS_SIMPLE_ACTION(action))
                g_simple_action_set_enabled(G_SIMPLE_ACTION(action), enabled);
}

static void on_busy_changed(LabEnergyPage *page, GParamSpec *pspec, gpointer user_data) {
        LabApplication *app = user_data;
        gboolean busy = FALSE, can_stop = FALSE;

        g_object_get(page, "busy", &busy, "can-stop", &can_stop, NULL);
        set_enabled(app, "run-energy", !busy);
        set_enabled(app, "calibrate", !busy);
        set_enabled(app, "run-crossover", !busy);
        set_enabled(app, "stop-energy", can_stop);
}

void lab_actions_track_energy_page(LabApplication *app, LabEnergyPage *page) {
        g_signal_connect_object(page, "notify::busy", G_CALLBACK(on_busy_changed), app, 0);
        g_signal_connect_object(page, "notify::can-stop", G_CALLBACK(on_busy_changed), app, 0);
        on_busy_changed(page, NULL, app);
}

void lab_actions_install(LabApplication *app) {
        g_action_map_add_action_entries(G_ACTION_MAP(app), entries, G_N_ELEMENTS(entries), app);
        gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.run-energy",
                                              (const char *[]){"<Control>Return", NULL});
        gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.refresh",
                                              (const char *[]){"<Control>r", "F5", NULL});
        gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.export",
                                              (const char *[]){"<Control>e", NULL});
        gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.quit",
                                              (const char *[]){"<Control>q", NULL});
}
