/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-errors.h"
#include "bus-json.h"
#include "bus-manager.h"
#include "bus-util.h"
#include "energy-monitor.h"
#include "log.h"
#include "run-energy.h"

static Run *run_from_path(LabBus *b, const char *path) {
        uint64_t id;

        if (bus_path_get_id(path, LAB_RUN_PREFIX, &id) < 0)
                return NULL;
        return manager_get_run(b->manager, id);
}

static int run_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **ret_found,
                    sd_bus_error *error) {
        Run *r = run_from_path(userdata, path);

        if (!r)
                return 0;
        *ret_found = r;
        return 1;
}

static int run_enumerate(sd_bus *bus, const char *path, void *userdata, char ***ret_nodes,
                         sd_bus_error *error) {
        LabBus *b = userdata;
        GHashTableIter it;
        gpointer v;
        char **nodes;
        size_t n = 0;

        nodes = calloc(g_hash_table_size(b->manager->runs) + 1, sizeof(char *));
        if (!nodes)
                return -ENOMEM;
        g_hash_table_iter_init(&it, b->manager->runs);
        while (g_hash_table_iter_next(&it, NULL, &v))
                nodes[n++] = strdup(((Run *) v)->path);
        *ret_nodes = nodes;
        return 0;
}

/* The LabBus is reachable from any run through its manager's hooks. */
static LabBus *bus_of(Run *r) {
        return r->manager->hooks_userdata;
}

static int property_get_id(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", ((Run *) userdata)->id);
}

static int property_get_owner(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", ((Run *) userdata)->uid);
}

static int property_get_model(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", ((Run *) userdata)->request->model);
}

static int property_get_backend(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", ((Run *) userdata)->backend->id);
}

static int property_get_measure(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", measure_mode_to_string(((Run *) userdata)->measure));
}

static int property_get_job(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Run *r = userdata;
        g_autofree char *p = NULL;

        if (r->job_id == 0)
                return sd_bus_message_append(reply, "o", "/");
        p = g_strdup_printf(LAB_JOB_PREFIX "/%" PRIu64, r->job_id);
        return sd_bus_message_append(reply, "o", p);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", run_state_to_string(((Run *) userdata)->state));
}

static int property_get_queue_position(sd_bus *bus, const char *path, const char *interface,
                                       const char *property, sd_bus_message *reply, void *userdata,
                                       sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", ((Run *) userdata)->queue_position);
}

static int property_get_error(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Run *r = userdata;

        if (r->state != RUN_FAILED && r->state != RUN_CANCELLED)
                return sd_bus_message_append(reply, "(ss)", "", "");
        return sd_bus_message_append(reply, "(ss)", lab_error_code_to_bus_name(r->error.code) ?: "",
                                     strempty(r->error.message));
}

/* Result is private to the owner (and root). Get by others fails with NotOwner; GetAll leaves it
 * empty so that generic tools listing all properties keep working. Property getters cannot wait for
 * polkit: a caller with org.llmlab.manage reads another user's result with GetResult(). */
static int property_get_result(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        sd_bus_message *call = sd_bus_get_current_message(bus);
        Run *r = userdata;
        uid_t uid = (uid_t) -1;

        if (call)
                (void) bus_message_sender_uid(call, &uid);
        if (uid != r->uid && uid != 0) {
                if (call && streq_ptr(sd_bus_message_get_member(call), "GetAll"))
                        return bus_message_append_json_dict(reply, NULL);
                return bus_error_setf_lab(error, LAB_ERROR_NOT_OWNER,
                                          "The result of run %" PRIu64 " belongs to another user", r->id);
        }
        return bus_message_append_json_dict(reply, r->result);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Run *r = userdata;
        int k;

        k = bus_authorize(bus_of(r), m, r->uid, error);
        if (k <= 0)
                return k < 0 ? k : 1;
        run_cancel(r);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_get_transcript(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Run *r = userdata;
        int k;

        k = bus_authorize(bus_of(r), m, r->uid, error);
        if (k <= 0)
                return k < 0 ? k : 1;
        return sd_bus_reply_method_return(m, "ss", r->answer->str, r->thinking->str);
}

static int method_get_result(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Run *r = userdata;
        int k;

        k = bus_authorize(bus_of(r), m, r->uid, error);
        if (k <= 0)
                return k < 0 ? k : 1;
        return bus_reply_json_dict(m, r->result);
}

static int append_phases(sd_bus_message *reply, Run *r) {
        RunPhases p;
        int k;

        run_phases_compute(&r->t, &r->chat_result, &p);
        k = sd_bus_message_open_container(reply, 'a', "(stt)");
        if (k < 0)
                return k;
        if (r->t.sent && run_state_is_final(r->state)) {
                if (p.has_load)
                        k = sd_bus_message_append(reply, "(stt)", "load", 0, p.load_end - p.start);
                if (k >= 0)
                        k = sd_bus_message_append(reply, "(stt)", "prefill", p.load_end - p.start,
                                                  p.prefill_end - p.start);
                if (k >= 0)
                        k = sd_bus_message_append(reply, "(stt)", "decode", p.prefill_end - p.start,
                                                  p.end - p.start);
                if (k < 0)
                        return k;
        }
        return sd_bus_message_close_container(reply);
}

static int method_get_power_timeline(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Run *r = userdata;
        int k;

        k = bus_authorize(bus_of(r), m, r->uid, error);
        if (k <= 0)
                return k < 0 ? k : 1;

        k = sd_bus_message_new_method_return(m, &reply);
        if (k < 0)
                return k;
        k = sd_bus_message_open_container(reply, 'a', "(tt)");
        if (k < 0)
                return k;
        if (r->recording) {
                const EnergyTimeline *tl = energy_recording_timeline(r->recording);

                for (size_t i = 0; i < energy_timeline_n_samples(tl); i++) {
                        uint64_t t = 0;
                        double uj = 0;

                        if (energy_timeline_sample(tl, i, &t, NULL) < 0 || t < r->t.sent)
                                continue;
                        (void) energy_timeline_energy_uj(tl, ENERGY_ALL_SUMMED, r->t.sent, t, &uj);
                        k = sd_bus_message_append(reply, "(tt)", t - r->t.sent, (uint64_t) (uj + 0.5));
                        if (k < 0)
                                return k;
                }
        }
        k = sd_bus_message_close_container(reply);
        if (k >= 0)
                k = append_phases(reply, r);
        if (k < 0)
                return k;
        return sd_bus_send(NULL, reply, NULL);
}

static const sd_bus_vtable run_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "t", property_get_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "u", property_get_owner, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Model", "s", property_get_model, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Backend", "s", property_get_backend, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Measure", "s", property_get_measure, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Job", "o", property_get_job, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("QueuePosition", "u", property_get_queue_position, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Result", "a{sv}", property_get_result, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("Error", "(ss)", property_get_error, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_cancel,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetTranscript", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", answer, "s", thinking),
                                method_get_transcript, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetResult", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", result),
                                method_get_result, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetPowerTimeline", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(tt)", samples, "a(stt)", phases), method_get_power_timeline,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Chunk", SD_BUS_ARGS("t", seq, "s", text, "b", thinking), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Finished", SD_BUS_ARGS("s", result, "a{sv}", metrics), 0),
        SD_BUS_VTABLE_END,
};

int bus_run_register(LabBus *b) {
        int r;

        r = bus_auth_check_vtable(LAB_RUN_IFACE, run_vtable);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(b->bus, NULL, LAB_RUN_PREFIX, LAB_RUN_IFACE, run_vtable, run_find, b);
        if (r < 0)
                return log_error_errno(r, "Failed to register the Run objects: %m");
        r = sd_bus_add_node_enumerator(b->bus, NULL, LAB_RUN_PREFIX, run_enumerate, b);
        if (r < 0)
                return log_error_errno(r, "Failed to add the Run enumerator: %m");
        return 0;
}

/* --- hooks ----------------------------------------------------------------------------------- */

static void hook_run_new(Manager *m, Run *r, void *userdata) {
        LabBus *b = userdata;
        int k;

        k = sd_bus_emit_signal(b->bus, LAB_OBJECT_PATH, LAB_MANAGER_IFACE, "RunNew", "o", r->path);
        if (k < 0)
                log_debug_errno(k, "Failed to emit RunNew: %m");
}

static void hook_run_changed(Manager *m, Run *r, const char *const *properties, void *userdata) {
        LabBus *b = userdata;
        int k;

        k = sd_bus_emit_properties_changed_strv(b->bus, r->path, LAB_RUN_IFACE, (char **) properties);
        if (k < 0)
                log_debug_errno(k, "Failed to emit PropertiesChanged for run %" PRIu64 ": %m", r->id);
}

/* NUL bytes are legal in JSON strings but not in D-Bus strings: they become U+FFFD. */
static char *text_for_bus(const char *text, size_t size) {
        GString *s;

        if (!memchr(text, '\0', size))
                return g_strndup(text, size);
        s = g_string_sized_new(size + 8);
        for (size_t i = 0; i < size; i++) {
                if (text[i] == '\0')
                        g_string_append(s, "\xEF\xBF\xBD");
                else
                        g_string_append_c(s, text[i]);
        }
        return g_string_free(s, FALSE);
}

static void hook_run_chunk(Manager *m, Run *r, uint64_t seq, const char *text, size_t size, bool thinking,
                           void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        g_autofree char *t = NULL;
        LabBus *b = userdata;
        int k;

        if (!r->owner)
                return;
        t = text_for_bus(text, size);
        k = bus_new_unicast_signal(b->bus, r->owner, r->path, LAB_RUN_IFACE, "Chunk", &sig);
        if (k >= 0)
                k = sd_bus_message_append(sig, "tsb", seq, t, thinking);
        if (k >= 0)
                k = sd_bus_send(b->bus, sig, NULL);
        if (k < 0)
                log_debug_errno(k, "Failed to send a Chunk of run %" PRIu64 ": %m", r->id);
}

static void hook_run_finished(Manager *m, Run *r, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        LabBus *b = userdata;
        int k;

        r->bus_data = sd_bus_track_unref(r->bus_data); /* the owner leaving no longer matters */
        hook_run_changed(m, r, (const char *const[]){"State", "Error", "Result", NULL}, userdata);
        if (!r->owner)
                return;
        k = bus_new_unicast_signal(b->bus, r->owner, r->path, LAB_RUN_IFACE, "Finished", &sig);
        if (k >= 0)
                k = sd_bus_message_append(sig, "s", run_state_to_string(r->state));
        if (k >= 0)
                k = bus_message_append_json_dict(sig, r->result);
        if (k >= 0)
                k = sd_bus_send(b->bus, sig, NULL);
        if (k < 0)
                log_warning_errno(k, "Failed to send Finished for run %" PRIu64 ": %m", r->id);
}

static void hook_run_removed(Manager *m, Run *r, void *userdata) {
        LabBus *b = userdata;
        int k;

        k = sd_bus_emit_signal(b->bus, LAB_OBJECT_PATH, LAB_MANAGER_IFACE, "RunRemoved", "os", r->path,
                               run_state_to_string(r->state));
        if (k < 0)
                log_debug_errno(k, "Failed to emit RunRemoved: %m");
}

static void hook_manager_changed(Manager *m, const char *const *properties, void *userdata) {
        LabBus *b = userdata;
        int k;

        k = sd_bus_emit_properties_changed_strv(b->bus, LAB_OBJECT_PATH, LAB_MANAGER_IFACE,
                                                (char **) properties);
        if (k < 0)
                log_debug_errno(k, "Failed to emit PropertiesChanged for the manager: %m");
}

const ManagerHooks bus_manager_hooks = {
        .run_new = hook_run_new,
        .run_changed = hook_run_changed,
        .run_chunk = hook_run_chunk,
        .run_finished = hook_run_finished,
        .run_removed = hook_run_removed,
        .manager_changed = hook_manager_changed,
        .job_new = bus_hook_job_new,
        .job_changed = bus_hook_job_changed,
        .job_progress = bus_hook_job_progress,
        .job_finished = bus_hook_job_finished,
        .job_removed = bus_hook_job_removed,
};
