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

/* Authorization (bus-manager.c): every method of the three interfaces has one rule in a table,
 * found by the interface and member of the message being handled. */
typedef enum BusAuthKind {
        BUS_AUTH_ANYONE,                 /* no check */
        BUS_AUTH_ACTION,                 /* the polkit action */
        BUS_AUTH_OWNER_OR_MANAGE,        /* the object's owner; anyone else needs org.llmlab.manage */
        BUS_AUTH_OWNER_ACTION_OR_MANAGE, /* the owner with the action; anyone else org.llmlab.manage */
} BusAuthKind;

typedef struct BusAuthRule {
        const char *interface;
        const char *member;
        BusAuthKind kind;
        const char *action;
} BusAuthRule;

#define BUS_AUTH_NO_OWNER ((uint32_t) -1)

/* The rule of a method, NULL when it has none (denied). */
const BusAuthRule *bus_auth_rule(const char *interface, const char *member);
/* Fails (-EPERM, logged) if a method of @vtable has no rule: checked when the objects are
 * registered, so that a forgotten rule stops the daemon instead of opening a method. */
int bus_auth_check_vtable(const char *interface, const sd_bus_vtable *vtable);

/* Applies the rule of the method being handled; @owner_uid is the object's owner
 * (BUS_AUTH_NO_OWNER for the manager). Returns 1 = allowed, 0 = pending (polkit; return 1 from
 * the handler without replying: it runs again once polkit answered), < 0 = denied with @error set
 * (PermissionDenied; NotOwner for another user's object). */
int bus_authorize(LabBus *b, sd_bus_message *m, uint32_t owner_uid, sd_bus_error *error);
/* One polkit action, for decisions that depend on arguments (ListRuns all_users). */
int bus_check_action(LabBus *b, sd_bus_message *m, const char *action, sd_bus_error *error);
