/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Comparison lab: a shared system prompt and user input, a multi-select of models with
 * "Add Selected", panes side by side, Generate All / Stop All (one StartComparison job) and a
 * status line with the active runs. */

#include <adwaita.h>

#include "lab-application.h"

#define LAB_TYPE_COMPARE_PAGE (lab_compare_page_get_type())
G_DECLARE_FINAL_TYPE(LabComparePage, lab_compare_page, LAB, COMPARE_PAGE, GtkBox)

LabComparePage *lab_compare_page_new(LabApplication *app);
void lab_compare_page_reload(LabComparePage *page);
/* Add a pane (FALSE for a model the daemon does not list). */
gboolean lab_compare_page_add_pane(LabComparePage *page, const char *model, const char *alias,
                                   double temperature, guint max_tokens);
/* Add a pane for every model checked in the list. */
void lab_compare_page_add_selected(LabComparePage *page);
void lab_compare_page_set_prompts(LabComparePage *page, const char *system_prompt, const char *user_prompt);
void lab_compare_page_generate_all(LabComparePage *page);
void lab_compare_page_stop_all(LabComparePage *page);
void lab_compare_page_remove_all(LabComparePage *page);
guint lab_compare_page_get_n_active(LabComparePage *page);
