/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The D-Bus face of llmlabd: org.llmlab.Lab1.Manager at /org/llmlab/Lab1 and the Run and Job
 * objects below it. Handlers parse, validate, authorize, call into the core, emit and reply. */

#include <systemd/sd-bus.h>

#include "bus-polkit.h"
#include "manager.h"

typedef struct LabBus {
        sd_bus *bus;
        Manager *manager;
        PolkitRegistry *polkit;
        bool user_mode;
} LabBus;

/* Registers every object and installs the manager hooks. */
int lab_bus_register(LabBus *b);
void lab_bus_unregister(LabBus *b);

/* bus-run.c */
int bus_run_register(LabBus *b);
extern const ManagerHooks bus_manager_hooks;

/* bus-job.c */
int bus_job_register(LabBus *b);
int bus_method_start_batch(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_start_crossover(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_calibrate(sd_bus_message *m, void *userdata, sd_bus_error *error);
int bus_method_start_comparison(sd_bus_message *m, void *userdata, sd_bus_error *error);
void bus_hook_job_new(Manager *m, Job *j, void *userdata);
void bus_hook_job_changed(Manager *m, Job *j, const char *const *properties, void *userdata);
void bus_hook_job_progress(Manager *m, Job *j, Run *current, void *userdata);
void bus_hook_job_finished(Manager *m, Job *j, void *userdata);
void bus_hook_job_removed(Manager *m, Job *j, void *userdata);

/* Authorization: 1 = allowed, 0 = pending (polkit; return 1 without replying), < 0 = denied.
 * "Owner or manage": the owner is allowed at once, anyone else needs org.llmlab.manage. */
int bus_check_owner_or_manage(LabBus *b, sd_bus_message *m, uint32_t owner_uid, sd_bus_error *error);
int bus_check_action(LabBus *b, sd_bus_message *m, const char *action, sd_bus_error *error);
