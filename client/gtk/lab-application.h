/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The application: command line (--user), the connection to llmlabd (followed with
 * g_bus_watch_name: "daemon-changed" is emitted when it appears or vanishes), the Manager proxy,
 * the signal router and error reporting. */

#include <adwaita.h>

#include "lab-dbus.h"
#include "lab-signal-router.h"

#define LAB_APPLICATION_ID "org.llmlab.Desktop"
#define LAB_BUS_NAME       "org.llmlab.Lab1"
#define LAB_MANAGER_PATH   "/org/llmlab/Lab1"

#define LAB_TYPE_APPLICATION (lab_application_get_type())
G_DECLARE_FINAL_TYPE(LabApplication, lab_application, LAB, APPLICATION, AdwApplication)

LabApplication *lab_application_new(void);

/* NULL while the daemon is not on the bus. */
LlmlabManager *lab_application_get_manager(LabApplication *app);
LabSignalRouter *lab_application_get_router(LabApplication *app);
gboolean lab_application_is_user_bus(LabApplication *app);

/* Call a Manager method that starts work (Start*, Calibrate) with interactive authorization
 * allowed; the reply is "(o)". Finish with lab_application_call_start_finish(). */
void lab_application_call_start(LabApplication *app, const char *method, GVariant *params,
                                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
char *lab_application_call_start_finish(LabApplication *app, GAsyncResult *res, GError **error);

/* Show an error in the active window (a toast): "what: the daemon's message". */
void lab_application_report_error(LabApplication *app, const char *what, const GError *error);
/* Show an error text in the active window (a toast that stays until dismissed). */
void lab_application_show_error(LabApplication *app, const char *text);
/* Show a message in the active window. */
void lab_application_notify(LabApplication *app, const char *message);

/* The text of a D-Bus error as the daemon wrote it (without the remote error name). */
char *lab_error_message(const GError *error);
