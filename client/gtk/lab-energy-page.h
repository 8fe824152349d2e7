/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Energy lab: test configuration (model, benchmark, thinking, query, temperature, max tokens,
 * seed, middleware, live/estimate, batch size), Run / Stop / Clear / Export, the streamed response
 * with thinking apart from the answer, the run's results and power chart, calibration and the
 * crossover finder, the session summary and the history. */

#include <adwaita.h>

#include "lab-application.h"

#define LAB_TYPE_ENERGY_PAGE (lab_energy_page_get_type())
G_DECLARE_FINAL_TYPE(LabEnergyPage, lab_energy_page, LAB, ENERGY_PAGE, GtkBox)

LabEnergyPage *lab_energy_page_new(LabApplication *app);

/* Run an energy test (a batch when the run count is above 1). */
void lab_energy_page_run(LabEnergyPage *page);
void lab_energy_page_calibrate(LabEnergyPage *page);
void lab_energy_page_run_crossover(LabEnergyPage *page);
void lab_energy_page_stop(LabEnergyPage *page);
void lab_energy_page_clear(LabEnergyPage *page);
/* Ask for a file and export the runs there; or export straight to `path` ("json" or "csv" by
 * the extension). */
void lab_energy_page_export(LabEnergyPage *page);
void lab_energy_page_export_to(LabEnergyPage *page, const char *path);
gboolean lab_energy_page_is_busy(LabEnergyPage *page);

/* Setters of the configuration (for the actions; FALSE when the value is not valid). */
gboolean lab_energy_page_set_model(LabEnergyPage *page, const char *model);
void lab_energy_page_set_user_prompt(LabEnergyPage *page, const char *text);
gboolean lab_energy_page_set_measure(LabEnergyPage *page, const char *measure);
void lab_energy_page_set_include_thinking(LabEnergyPage *page, gboolean include);
void lab_energy_page_set_temperature(LabEnergyPage *page, double temperature);
void lab_energy_page_set_max_tokens(LabEnergyPage *page, guint max_tokens);
void lab_energy_page_set_batch_runs(LabEnergyPage *page, guint runs, guint warmup);
void lab_energy_page_set_system_prompt(LabEnergyPage *page, const char *text);
gboolean lab_energy_page_select_preset(LabEnergyPage *page, const char *id);
void lab_energy_page_add_injection(LabEnergyPage *page, const char *description, const char *content);
void lab_energy_page_reload(LabEnergyPage *page);
