/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A chart of power over a run's time, drawn from Run.GetPowerTimeline(): the power between
 * consecutive energy samples as a line, with the load, prefill and decode phases shaded behind it.
 * Shows a message instead when there is nothing to draw (an estimated run, no run yet). */

#include <gtk/gtk.h>

#define LAB_TYPE_POWER_CHART (lab_power_chart_get_type())
G_DECLARE_FINAL_TYPE(LabPowerChart, lab_power_chart, LAB, POWER_CHART, GtkWidget)

GtkWidget *lab_power_chart_new(void);
/* samples a(tt): (ns since the request was sent, cumulative µJ); phases a(stt): (name, start, end). */
void lab_power_chart_set_timeline(LabPowerChart *chart, GVariant *samples, GVariant *phases);
/* Clear the data and show `message` in the middle. */
void lab_power_chart_set_message(LabPowerChart *chart, const char *message);
/* The drawn series, for the accessible description: peak and mean power in W (FALSE if none). */
gboolean lab_power_chart_get_stats(LabPowerChart *chart, double *ret_peak_w, double *ret_mean_w);
