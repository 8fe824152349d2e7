/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The results of one energy run: the energy table (load, prefill, decode, total, net, Wh per
 * 1000 e-tokens, per-1K figures, CO2), the token analysis and the timing. */

#include <gtk/gtk.h>

#define LAB_TYPE_ENERGY_RESULTS (lab_energy_results_get_type())
G_DECLARE_FINAL_TYPE(LabEnergyResults, lab_energy_results, LAB, ENERGY_RESULTS, GtkBox)

LabEnergyResults *lab_energy_results_new(void);
void lab_energy_results_clear(LabEnergyResults *results);
/* result: the run's Result dictionary (a{sv}). */
void lab_energy_results_set_result(LabEnergyResults *results, GVariant *result);
