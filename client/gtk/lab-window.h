/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The main window: a header bar with the view switcher, the two labs in an AdwViewStack, a
 * "daemon not running" status page while llmlabd is absent, and toasts for errors. */

#include <adwaita.h>

#include "lab-application.h"
#include "lab-compare-page.h"
#include "lab-energy-page.h"

#define LAB_TYPE_WINDOW (lab_window_get_type())
G_DECLARE_FINAL_TYPE(LabWindow, lab_window, LAB, WINDOW, AdwApplicationWindow)

LabWindow *lab_window_new(LabApplication *app);
void lab_window_add_toast(LabWindow *win, const char *text, gboolean error);
/* "energy" or "comparison"; FALSE for another name. */
gboolean lab_window_show_page(LabWindow *win, const char *name);
LabEnergyPage *lab_window_get_energy_page(LabWindow *win);
LabComparePage *lab_window_get_compare_page(LabWindow *win);
