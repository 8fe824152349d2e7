/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <systemd/sd-bus.h>
#include <sys/types.h>

#include "macro.h"

#define LAB_BUS_NAME      "org.llmlab.Lab1"
#define LAB_OBJECT_PATH   "/org/llmlab/Lab1"
#define LAB_RUN_PREFIX    "/org/llmlab/Lab1/run"
#define LAB_JOB_PREFIX    "/org/llmlab/Lab1/job"
#define LAB_MANAGER_IFACE "org.llmlab.Lab1.Manager"
#define LAB_RUN_IFACE     "org.llmlab.Lab1.Run"
#define LAB_JOB_IFACE     "org.llmlab.Lab1.Job"

/* The effective uid of the message's sender (from the bus daemon, not from the message). */
int bus_message_sender_uid(sd_bus_message *m, uid_t *ret);

/* Starts a signal addressed to @destination only (unicast); append arguments, then send. */
int bus_new_unicast_signal(sd_bus *bus, const char *destination, const char *path, const char *interface,
                           const char *member, sd_bus_message **ret);

/* Parses "<prefix>/<number>" into the number. */
int bus_path_get_id(const char *path, const char *prefix, uint64_t *ret);

/* Replies to the method call @m with one a{sv} built from the JSON object @obj (NULL: empty), or an
 * aa{sv} from the array of objects @array; sends the reply. 0 or a negative errno. */
int bus_reply_json_dict(sd_bus_message *m, json_t *obj);
int bus_reply_json_dict_array(sd_bus_message *m, json_t *array);

/* sd-bus.h already defines sd_bus_message_unrefp(), sd_bus_creds_unrefp(), sd_bus_track_unrefp(),
 * sd_bus_flush_close_unrefp() and friends for _cleanup_(). */
