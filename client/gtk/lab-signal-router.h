/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One subscription to every signal the daemon sends on the Run and Job interfaces, dispatched by
 * object path. Chunk and Finished are unicast to the run's owner and may arrive before the client
 * has learnt the path they belong to (a job's runs, or the reply of a Start* call racing the first
 * chunk), so signals for paths nobody watches yet are kept for a while and replayed to the first
 * watcher. */

#include <gio/gio.h>

#define LAB_TYPE_SIGNAL_ROUTER (lab_signal_router_get_type())
G_DECLARE_FINAL_TYPE(LabSignalRouter, lab_signal_router, LAB, SIGNAL_ROUTER, GObject)

typedef void (*LabSignalFunc)(const char *path, const char *interface, const char *member, GVariant *params,
                              gpointer user_data);

/* owner: the daemon's unique bus name (signals from anybody else are ignored). */
LabSignalRouter *lab_signal_router_new(GDBusConnection *bus, const char *owner);
GDBusConnection *lab_signal_router_get_connection(LabSignalRouter *router);
const char *lab_signal_router_get_owner(LabSignalRouter *router);

/* Deliver the signals of `path` (those kept so far first) until lab_signal_router_unwatch(). */
guint lab_signal_router_watch(LabSignalRouter *router, const char *path, LabSignalFunc func,
                              gpointer user_data);
void lab_signal_router_unwatch(LabSignalRouter *router, guint id);
