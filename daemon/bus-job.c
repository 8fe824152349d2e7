/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-errors.h"
#include "bus-json.h"
#include "bus-manager.h"
#include "bus-request.h"
#include "bus-util.h"
#include "energy-monitor.h"
#include "job.h"
#include "log.h"

static Job *job_from_path(LabBus *b, const char *path) {
        uint64_t id;

        if (bus_path_get_id(path, LAB_JOB_PREFIX, &id) < 0)
                return NULL;
        return manager_get_job(b->manager, id);
}

static int job_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **ret_found,
                    sd_bus_error *error) {
        Job *j = job_from_path(userdata, path);

        if (!j)
                return 0;
        *ret_found = j;
        return 1;
}

static int job_enumerate(sd_bus *bus, const char *path, void *userdata, char ***ret_nodes,
                         sd_bus_error *error) {
        LabBus *b = userdata;
        GHashTableIter it;
        gpointer v;
        char **nodes;
        size_t n = 0;

        nodes = calloc(g_hash_table_size(b->manager->jobs) + 1, sizeof(char *));
        if (!nodes)
                return -ENOMEM;
        g_hash_table_iter_init(&it, b->manager->jobs);
        while (g_hash_table_iter_next(&it, NULL, &v))
                nodes[n++] = strdup(((Job *) v)->path);
        *ret_nodes = nodes;
        return 0;
}

static int property_get_id(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", ((Job *) userdata)->id);
}

static int property_get_owner(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", ((Job *) userdata)->uid);
}

static int property_get_kind(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", job_kind_to_string(((Job *) userdata)->ops->kind));
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", job_state_to_string(((Job *) userdata)->state));
}

static int property_get_progress(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Job *j = userdata;

        return sd_bus_message_append(reply, "(uu)", j->done, j->total);
}

static int property_get_runs(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Job *j = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "o");
        if (r < 0)
                return r;
        for (guint i = 0; i < j->runs->len; i++) {
                r = sd_bus_message_append(reply, "o", ((Run *) g_ptr_array_index(j->runs, i))->path);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_error(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Job *j = userdata;

        if (j->state != JOB_FAILED && j->state != JOB_CANCELLED)
                return sd_bus_message_append(reply, "(ss)", "", "");
        return sd_bus_message_append(reply, "(ss)", lab_error_code_to_bus_name(j->error.code) ?: "",
                                     strempty(j->error.message));
}

/* The summary holds the owner's measurements: owner (and root) only, like Run.Result. */
/* The final summary, or the partial one of a job still running (a new object: unref it). */
static json_t *summary_ref(Job *j) {
        return j->summary ? json_incref(j->summary) : j->ops->summary(j);
}

/* Summary is private to the owner (and root), as Run.Result is; GetSummary() also lets a caller with
 * org.llmlab.manage read it. */
static int property_get_summary(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        sd_bus_message *call = sd_bus_get_current_message(bus);
        _cleanup_json_ json_t *summary = NULL;
        Job *j = userdata;
        uid_t uid = (uid_t) -1;

        if (call)
                (void) bus_message_sender_uid(call, &uid);
        if (uid != j->uid && uid != 0) {
                if (call && streq_ptr(sd_bus_message_get_member(call), "GetAll"))
                        return bus_message_append_json_dict(reply, NULL);
                return bus_error_setf_lab(error, LAB_ERROR_NOT_OWNER,
                                          "Job %" PRIu64 " belongs to another user", j->id);
        }
        summary = summary_ref(j);
        return bus_message_append_json_dict(reply, summary);
}

static int method_get_summary(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_t *summary = NULL;
        Job *j = userdata;
        int k;

        k = bus_authorize(j->manager->hooks_userdata, m, j->uid, error);
        if (k <= 0)
                return k < 0 ? k : 1;
        summary = summary_ref(j);
        return bus_reply_json_dict(m, summary);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Job *j = userdata;
        LabBus *b = j->manager->hooks_userdata;
        int k;

        k = bus_authorize(b, m, j->uid, error);
        if (k <= 0)
                return k < 0 ? k : 1;
        job_cancel(j);
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "t", property_get_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "u", property_get_owner, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Kind", "s", property_get_kind, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "(uu)", property_get_progress, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Runs", "ao", property_get_runs, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Summary", "a{sv}", property_get_summary, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Error", "(ss)", property_get_error, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_cancel,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetSummary", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", summary),
                                method_get_summary, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Progress", SD_BUS_ARGS("u", done, "u", total, "o", current), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Finished", SD_BUS_ARGS("s", result, "a{sv}", summary), 0),
        SD_BUS_VTABLE_END,
};

/* --- starting jobs (Manager methods) ------------------------------------------------------------ */

static int track_handler(sd_bus_track *t, void *userdata) {
        Job *j = userdata;

        j->bus_data = sd_bus_track_unref(j->bus_data); /* see bus-manager.c: track_handler() */
        if (j->state == JOB_RUNNING) {
                log_info("The owner of job %" PRIu64 " left the bus, cancelling it.", j->id);
                job_cancel(j);
        }
        return 0;
}

static int read_job_options(sd_bus_message *m, JobKind kind, JobOptions *o, sd_bus_error *error) {
        static const BusField fields[] = {
                {"runs", BUS_FIELD_UINT32, offsetof(JobOptions, runs), -1},
                {"warmup", BUS_FIELD_UINT32, offsetof(JobOptions, warmup), -1},
                {"bust_cache", BUS_FIELD_BOOL, offsetof(JobOptions, bust_cache), -1},
                {"idle_ms", BUS_FIELD_UINT32, offsetof(JobOptions, idle_ms), -1},
                {"start_tokens", BUS_FIELD_UINT32, offsetof(JobOptions, start_tokens), -1},
                {"step_tokens", BUS_FIELD_UINT32, offsetof(JobOptions, step_tokens), -1},
                {"max_steps", BUS_FIELD_UINT32, offsetof(JobOptions, max_steps), -1},
        };
        /* Each kind accepts only its own options. */
        static const char *const allowed[_JOB_KIND_MAX] = {
                [JOB_BATCH] = " runs warmup bust_cache idle_ms ",
                [JOB_CROSSOVER] = " start_tokens step_tokens max_steps ",
                [JOB_CALIBRATION] = " runs ",
                [JOB_COMPARISON] = " ",
        };
        BusField mine[ELEMENTSOF(fields)];
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                g_autofree char *needle = g_strdup_printf(" %s ", fields[i].key);

                if (strstr(allowed[kind], needle))
                        mine[n++] = fields[i];
        }
        return bus_read_dict(m, mine, n, o, "options", error);
}

static int start_job(LabBus *b, sd_bus_message *m, JobKind kind, bool has_panes, sd_bus_error *error) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        g_autoptr(LabRequest) req = NULL;
        sd_bus_track *track = NULL;
        JobOptions options;
        Job *j = NULL;
        uid_t uid;
        int r;

        job_options_init(&options, kind);
        r = bus_read_request(m, &req, error);
        if (r < 0)
                return r;
        if (has_panes) {
                r = bus_message_read_json(m, &options.panes);
                if (r < 0)
                        return bus_error_setf_lab(error, LAB_ERROR_INVALID_ARGUMENT, "Malformed panes");
        }
        r = read_job_options(m, kind, &options, error);
        if (r < 0) {
                job_options_done(&options);
                return r;
        }
        if (kind == JOB_CALIBRATION && !energy_monitor_can_measure(b->manager->energy)) {
                job_options_done(&options);
                return bus_error_setf_lab(
                        error, LAB_ERROR_ENERGY_UNAVAILABLE,
                        "Calibration needs readable energy counters, and this machine has none");
        }
        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error); /* Calibrate: manage, the others: run */
        if (r <= 0) {
                job_options_done(&options);
                return r < 0 ? r : 1;
        }
        r = bus_message_sender_uid(m, &uid);
        if (r < 0) {
                job_options_done(&options);
                return r;
        }

        r = manager_create_job(b->manager, kind, TAKE_PTR(req), &options, uid, sd_bus_message_get_sender(m),
                               &j, &err);
        if (r < 0)
                return bus_error_set_lab(error, &err);

        r = sd_bus_track_new(b->bus, &track, track_handler, j);
        if (r >= 0)
                r = sd_bus_track_add_sender(track, m);
        if (r < 0)
                log_warning_errno(r, "Failed to track the owner of job %" PRIu64 ", ignoring: %m", j->id);
        j->bus_data = track;

        r = sd_bus_reply_method_return(m, "o", j->path);
        job_begin(j); /* after the reply: Progress never precedes it */
        return r;
}

int bus_method_start_batch(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return start_job(userdata, m, JOB_BATCH, false, error);
}

int bus_method_start_crossover(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return start_job(userdata, m, JOB_CROSSOVER, false, error);
}

int bus_method_calibrate(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return start_job(userdata, m, JOB_CALIBRATION, false, error);
}

int bus_method_start_comparison(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return start_job(userdata, m, JOB_COMPARISON, true, error);
}

int bus_job_register(LabBus *b) {
        int r;

        r = bus_auth_check_vtable(LAB_JOB_IFACE, job_vtable);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(b->bus, NULL, LAB_JOB_PREFIX, LAB_JOB_IFACE, job_vtable, job_find, b);
        if (r < 0)
                return log_error_errno(r, "Failed to register the Job objects: %m");
        r = sd_bus_add_node_enumerator(b->bus, NULL, LAB_JOB_PREFIX, job_enumerate, b);
        if (r < 0)
                return log_error_errno(r, "Failed to add the Job enumerator: %m");
        return 0;
}

/* --- hooks ----------------------------------------------------------------------------------- */

void bus_hook_job_new(Manager *m, Job *j, void *userdata) {
        LabBus *b = userdata;

        (void) sd_bus_emit_signal(b->bus, LAB_OBJECT_PATH, LAB_MANAGER_IFACE, "JobNew", "o", j->path);
}

void bus_hook_job_changed(Manager *m, Job *j, const char *const *properties, void *userdata) {
        LabBus *b = userdata;
        int k;

        k = sd_bus_emit_properties_changed_strv(b->bus, j->path, LAB_JOB_IFACE, (char **) properties);
        if (k < 0)
                log_debug_errno(k, "Failed to emit PropertiesChanged for job %" PRIu64 ": %m", j->id);
}

void bus_hook_job_progress(Manager *m, Job *j, Run *current, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        LabBus *b = userdata;
        int k;

        if (!j->owner)
                return;
        k = bus_new_unicast_signal(b->bus, j->owner, j->path, LAB_JOB_IFACE, "Progress", &sig);
        if (k >= 0)
                k = sd_bus_message_append(sig, "uuo", j->done, j->total, current ? current->path : "/");
        if (k >= 0)
                k = sd_bus_send(b->bus, sig, NULL);
        if (k < 0)
                log_debug_errno(k, "Failed to send Progress of job %" PRIu64 ": %m", j->id);
}

void bus_hook_job_finished(Manager *m, Job *j, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        LabBus *b = userdata;
        int k;

        j->bus_data = sd_bus_track_unref(j->bus_data);
        bus_hook_job_changed(m, j, (const char *const[]){"State", "Progress", "Error", "Summary", NULL},
                             userdata);
        if (!j->owner)
                return;
        k = bus_new_unicast_signal(b->bus, j->owner, j->path, LAB_JOB_IFACE, "Finished", &sig);
        if (k >= 0)
                k = sd_bus_message_append(sig, "s", job_state_to_string(j->state));
        if (k >= 0)
                k = bus_message_append_json_dict(sig, j->summary);
        if (k >= 0)
                k = sd_bus_send(b->bus, sig, NULL);
        if (k < 0)
                log_warning_errno(k, "Failed to send Finished of job %" PRIu64 ": %m", j->id);
}

void bus_hook_job_removed(Manager *m, Job *j, void *userdata) {
        LabBus *b = userdata;

        j->bus_data = sd_bus_track_unref(j->bus_data);
        (void) sd_bus_emit_signal(b->bus, LAB_OBJECT_PATH, LAB_MANAGER_IFACE, "JobRemoved", "os", j->path,
                                  job_state_to_string(j->state));
}
