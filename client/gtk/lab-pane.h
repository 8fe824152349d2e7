/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One pane of the Comparison lab: a model with alias, temperature and max tokens; Generate, Stop
 * ("Stopping…"), Clear and Remove; the streamed output; prompt and completion tokens, latency and
 * tokens per second. The page starts the runs (it owns the shared prompt) and hands the pane the
 * run's path. */

#include <adwaita.h>

#include "lab-signal-router.h"

#define LAB_TYPE_PANE (lab_pane_get_type())
G_DECLARE_FINAL_TYPE(LabPane, lab_pane, LAB, PANE, GtkBox)

LabPane *lab_pane_new(const char *model, const char *alias, double temperature, guint max_tokens);
const char *lab_pane_get_model(LabPane *pane);
/* "model [alias]" or "model". */
char *lab_pane_get_title(LabPane *pane);
/* The pane as a StartComparison pane dictionary (model, alias, temperature, max_tokens). */
GVariant *lab_pane_get_spec(LabPane *pane);
/* Add the pane's settings to a StartRun request. */
void lab_pane_add_to_request(LabPane *pane, GVariantDict *request);

/* Starting (the call is on its way): clears the output, shows "Generating…". */
void lab_pane_begin(LabPane *pane);
/* The run to stream; a Stop pressed before is applied now. */
void lab_pane_attach_run(LabPane *pane, LabSignalRouter *router, const char *path);
/* The run could not start (or the daemon went away): shows the error, back to idle. */
void lab_pane_fail(LabPane *pane, const char *message);
/* Starting or running. */
gboolean lab_pane_is_active(LabPane *pane);
/* Waiting for a run path from a comparison job. */
gboolean lab_pane_is_waiting(LabPane *pane);
void lab_pane_stop(LabPane *pane);
void lab_pane_clear(LabPane *pane);
