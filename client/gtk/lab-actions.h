/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The application's actions (app.*): what the buttons, the menu and the keyboard do, and what
 * scripts and the tests drive over org.gtk.Actions (gapplication action org.llmlab.Desktop …).
 *
 *   run-energy stop-energy clear-energy calibrate run-crossover export export-to(s)
 *   set-energy-model(s) set-energy-prompt(s) set-system-prompt(s) select-preset(s)
 *   add-injection((ss)) set-measure(s) set-include-thinking(b) set-temperature(d)
 *   set-max-tokens(u) set-batch-runs((uu))
 *   show-page(s) add-pane((ssdu)) add-selected-panes set-compare-prompts((ss)) generate-all
 *   stop-all remove-all-panes refresh about quit */

#include "lab-application.h"
#include "lab-energy-page.h"

void lab_actions_install(LabApplication *app);
/* Enable run/stop actions from the page's "busy" and "can-stop" properties. */
void lab_actions_track_energy_page(LabApplication *app, LabEnergyPage *page);
