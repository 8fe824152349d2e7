/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A bar chart of one figure across the session's runs (Wh per 1000 e-tokens): measured runs in
 * the accent colour, estimated ones hatched, oldest on the left. */

#include <gtk/gtk.h>

#define LAB_TYPE_TREND_CHART (lab_trend_chart_get_type())
G_DECLARE_FINAL_TYPE(LabTrendChart, lab_trend_chart, LAB, TREND_CHART, GtkWidget)

GtkWidget *lab_trend_chart_new(void);
void lab_trend_chart_clear(LabTrendChart *chart);
/* Append a bar; label is shown under it (e.g. the run id). */
void lab_trend_chart_add(LabTrendChart *chart, const char *label, double value, gboolean measured);
guint lab_trend_chart_get_count(LabTrendChart *chart);
