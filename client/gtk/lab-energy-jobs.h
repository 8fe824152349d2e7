/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Energy lab's long tests: the calibration and crossover controls (for the configuration
 * column) and the results of jobs (batch statistics, crossover steps, calibration fit) for the
 * results column. Starting the jobs is the page's business (actions app.calibrate and
 * app.run-crossover). */

#include <adwaita.h>

#define LAB_TYPE_ENERGY_JOBS (lab_energy_jobs_get_type())
G_DECLARE_FINAL_TYPE(LabEnergyJobs, lab_energy_jobs, LAB, ENERGY_JOBS, GObject)

LabEnergyJobs *lab_energy_jobs_new(void);
GtkWidget *lab_energy_jobs_get_controls(LabEnergyJobs *jobs);
GtkWidget *lab_energy_jobs_get_results(LabEnergyJobs *jobs);
/* Options of Calibrate and StartCrossover as a{sv}, from the controls. */
GVariant *lab_energy_jobs_calibration_options(LabEnergyJobs *jobs);
GVariant *lab_energy_jobs_crossover_options(LabEnergyJobs *jobs);
/* Show a finished job's Summary; kind is "batch", "crossover" or "calibration"; title names it. */
void lab_energy_jobs_show_summary(LabEnergyJobs *jobs, const char *kind, const char *title,
                                  GVariant *summary);
void lab_energy_jobs_set_status(LabEnergyJobs *jobs, const char *kind, const char *text);
void lab_energy_jobs_clear(LabEnergyJobs *jobs);
