/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The session summary (GetSessionSummary), a chart of Wh per 1000 e-tokens across the session's
 * runs, and the history of stored runs (ListRuns), with Clear Session. */

#include <adwaita.h>

#include "lab-application.h"

#define LAB_TYPE_HISTORY (lab_history_get_type())
G_DECLARE_FINAL_TYPE(LabHistory, lab_history, LAB, HISTORY, GObject)

LabHistory *lab_history_new(LabApplication *app);
/* Read the summary and the runs again (asynchronously). */
void lab_history_reload(LabHistory *history);
/* The session-summary group and the history group, to be placed by the page. */
GtkWidget *lab_history_get_summary_widget(LabHistory *history);
GtkWidget *lab_history_get_list_widget(LabHistory *history);
