/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* D-Bus glue of llmlabctl: connecting, calling the daemon and reporting its errors in one format,
 * "llmlabctl: Failed to <what>: <daemon message>", followed by a hint for well-known errors. */

#include <jansson.h>
#include <systemd/sd-bus.h>

#include "ctl.h"

#define LAB_BUS_NAME      "org.llmlab.Lab1"
#define LAB_OBJECT_PATH   "/org/llmlab/Lab1"
#define LAB_MANAGER_IFACE "org.llmlab.Lab1.Manager"
#define LAB_RUN_IFACE     "org.llmlab.Lab1.Run"
#define LAB_JOB_IFACE     "org.llmlab.Lab1.Job"

#define _cleanup_bus_ _cleanup_(sd_bus_flush_close_unrefp)

/* Connects to the bus chosen by --user/--system (later -H/-M), with interactive polkit
 * authorization unless --no-ask-password. Logs failures. */
int ctl_bus_connect(sd_bus **ret);

/* The hint for an error, or NULL. @name is the D-Bus error name (may be NULL), @error the negative
 * errno (used when there is no name, e.g. connecting failed). */
const char *ctl_error_hint(const char *name, int error);

/* Logs "Failed to <what>: <message>" (the D-Bus error's message, or strerror(-r)) and the hint;
 * returns a negative errno. */
int ctl_log_bus_error(int r, const sd_bus_error *error, const char *what);
/* The same for an error known by name and message only (e.g. a failed run's Error). */
int ctl_log_error_name(const char *name, const char *message, const char *what);

/* A new method call to the manager. */
int ctl_new_manager_call(sd_bus *bus, const char *member, sd_bus_message **ret);

/* Calls @m; on failure logs as ctl_log_bus_error(…, @what). */
int ctl_call(sd_bus *bus, sd_bus_message *m, const char *what, sd_bus_message **ret_reply);

/* Calls a manager method whose arguments are given by @types (sd_bus_message_append() style). */
int ctl_call_manager(sd_bus *bus, const char *member, const char *what, sd_bus_message **ret_reply,
                     const char *types, ...);

/* Reads the next value of @reply as JSON; logs failures. */
int ctl_read_json(sd_bus_message *reply, const char *what, json_t **ret);

/* All properties of @iface at @path as a JSON object keyed by property name. */
int ctl_get_all_properties(sd_bus *bus, const char *path, const char *iface, const char *what, json_t **ret);
