/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "benchmark.h"
#include "build-config.h"
#include "bus-errors.h"
#include "bus-json.h"
#include "bus-manager.h"
#include "bus-request.h"
#include "bus-util.h"
#include "carbon.h"
#include "energy-monitor.h"
#include "job.h"
#include "log.h"
#include "store.h"

#define ACTION_RUN         "org.llmlab.run"
#define ACTION_READ_ENERGY "org.llmlab.read-energy"
#define ACTION_MANAGE      "org.llmlab.manage"

/* Who may call what: one explicit decision per method of the three interfaces, documented with
 * the same words in the dbus/ XML files ("Authorization: …"). A method missing here is denied, and
 * llmlabd refuses to start if one of its vtables has a method without a rule
 * (bus_auth_check_vtable()). Properties are readable by anyone except Run.Result and Job.Summary
 * (owner only, see their getters); configuration, backends and URLs are never settable. */
static const BusAuthRule auth_table[] = {
        /* Manager: the catalogue is public; starting work needs org.llmlab.run. */
        {LAB_MANAGER_IFACE, "ListModels", BUS_AUTH_ANYONE, NULL},
        {LAB_MANAGER_IFACE, "GetModelInfo", BUS_AUTH_ANYONE, NULL},
        {LAB_MANAGER_IFACE, "ListSystemPrompts", BUS_AUTH_ANYONE, NULL},
        {LAB_MANAGER_IFACE, "GetSystemPrompt", BUS_AUTH_ANYONE, NULL},
        {LAB_MANAGER_IFACE, "StartRun", BUS_AUTH_ACTION, ACTION_RUN},
        {LAB_MANAGER_IFACE, "StartBatch", BUS_AUTH_ACTION, ACTION_RUN},
        {LAB_MANAGER_IFACE, "StartCrossover", BUS_AUTH_ACTION, ACTION_RUN},
        {LAB_MANAGER_IFACE, "Calibrate", BUS_AUTH_ACTION, ACTION_MANAGE},
        {LAB_MANAGER_IFACE, "StartComparison", BUS_AUTH_ACTION, ACTION_RUN},
        {LAB_MANAGER_IFACE, "ListBenchmarks", BUS_AUTH_ANYONE, NULL},
        {LAB_MANAGER_IFACE, "SetDefaultBenchmark", BUS_AUTH_ACTION, ACTION_MANAGE},
        {LAB_MANAGER_IFACE, "AddBenchmark", BUS_AUTH_ACTION, ACTION_MANAGE},
        {LAB_MANAGER_IFACE, "RemoveBenchmark", BUS_AUTH_ACTION, ACTION_MANAGE},
        {LAB_MANAGER_IFACE, "ListRegions", BUS_AUTH_ANYONE, NULL},
        /* Per user by construction: each caller sees and clears only their own. */
        {LAB_MANAGER_IFACE, "GetSessionSummary", BUS_AUTH_ANYONE, NULL},
        {LAB_MANAGER_IFACE, "ClearSession", BUS_AUTH_ANYONE, NULL},
        /* Own runs; filter["all_users"] needs org.llmlab.manage (read_filter()). */
        {LAB_MANAGER_IFACE, "ListRuns", BUS_AUTH_ANYONE, NULL},
        {LAB_MANAGER_IFACE, "ExportRuns", BUS_AUTH_ANYONE, NULL},
        /* Raw counters are a side channel (Platypus). */
        {LAB_MANAGER_IFACE, "GetEnergyStatus", BUS_AUTH_ACTION, ACTION_READ_ENERGY},

        {LAB_RUN_IFACE, "Cancel", BUS_AUTH_OWNER_OR_MANAGE, ACTION_MANAGE},
        {LAB_RUN_IFACE, "GetTranscript", BUS_AUTH_OWNER_OR_MANAGE, ACTION_MANAGE},
        {LAB_RUN_IFACE, "GetResult", BUS_AUTH_OWNER_OR_MANAGE, ACTION_MANAGE},
        {LAB_RUN_IFACE, "GetPowerTimeline", BUS_AUTH_OWNER_ACTION_OR_MANAGE, ACTION_READ_ENERGY},

        {LAB_JOB_IFACE, "Cancel", BUS_AUTH_OWNER_OR_MANAGE, ACTION_MANAGE},
        {LAB_JOB_IFACE, "GetSummary", BUS_AUTH_OWNER_OR_MANAGE, ACTION_MANAGE},
};

const BusAuthRule *bus_auth_rule(const char *interface, const char *member) {
        for (size_t i = 0; i < ELEMENTSOF(auth_table); i++)
                if (streq_ptr(auth_table[i].interface, interface) && streq_ptr(auth_table[i].member, member))
                        return &auth_table[i];
        return NULL;
}

int bus_auth_check_vtable(const char *interface, const sd_bus_vtable *vtable) {
        for (const sd_bus_vtable *v = vtable; v->type != _SD_BUS_VTABLE_END; v++)
                if (v->type == _SD_BUS_VTABLE_METHOD && !bus_auth_rule(interface, v->x.method.member))
                        return log_error_errno(
                                -EPERM, "Method %s.%s has no authorization rule, refusing to serve it.",
                                interface, v->x.method.member);
        return 0;
}

int bus_check_action(LabBus *b, sd_bus_message *m, const char *action, sd_bus_error *error) {
        return bus_verify_polkit_async(m, action, b->polkit, error);
}

/* The owner passes at once (or needs @owner_action, when given); anyone else needs
 * org.llmlab.manage and is told NotOwner without it. */
static int check_owner_or_manage(LabBus *b, sd_bus_message *m, uint32_t owner_uid, const char *owner_action,
                                 sd_bus_error *error) {
        uid_t uid;
        int r;

        r = bus_message_sender_uid(m, &uid);
        if (r < 0)
                return r;
        if (uid == owner_uid)
                return owner_action ? bus_check_action(b, m, owner_action, error) : 1;
        if (!polkit_registry_enabled(b->polkit))
                return bus_error_setf_lab(error, LAB_ERROR_NOT_OWNER, "This belongs to another user");
        r = bus_check_action(b, m, ACTION_MANAGE, error);
        if (r < 0) {
                sd_bus_error_free(error);
                return bus_error_setf_lab(error, LAB_ERROR_NOT_OWNER, "This belongs to another user");
        }
        return r;
}

int bus_authorize(LabBus *b, sd_bus_message *m, uint32_t owner_uid, sd_bus_error *error) {
        const char *interface = sd_bus_message_get_interface(m), *member = sd_bus_message_get_member(m);
        const BusAuthRule *rule = bus_auth_rule(interface, member);

        if (!rule)
                return bus_error_setf_lab(error, LAB_ERROR_PERMISSION_DENIED,
                                          "%s.%s has no authorization rule", strna(interface),
                                          strna(member));
        switch (rule->kind) {
        case BUS_AUTH_ANYONE: return 1;
        case BUS_AUTH_ACTION: return bus_check_action(b, m, rule->action, error);
        case BUS_AUTH_OWNER_OR_MANAGE: return check_owner_or_manage(b, m, owner_uid, NULL, error);
        case BUS_AUTH_OWNER_ACTION_OR_MANAGE:
                return check_owner_or_manage(b, m, owner_uid, rule->action, error);
        }
        return bus_error_setf_lab(error, LAB_ERROR_PERMISSION_DENIED, "Unknown authorization rule");
}

static int reply_lab_error(sd_bus_message *m, const LabError *e) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void) bus_error_set_lab(&error, e);
        return sd_bus_reply_method_error(m, &error);
}

/* --- properties ------------------------------------------------------------------------------ */

static int property_get_json_array(sd_bus_message *reply, json_t *array) {
        _cleanup_json_ json_t *a = array;

        return bus_message_append_json_dict_array(reply, a);
}

static int property_get_backends(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        LabBus *b = userdata;

        return property_get_json_array(reply, manager_backends_json(b->manager));
}

static int property_get_energy_sources(sd_bus *bus, const char *path, const char *interface,
                                       const char *property, sd_bus_message *reply, void *userdata,
                                       sd_bus_error *error) {
        LabBus *b = userdata;

        return property_get_json_array(reply, energy_monitor_sources_json(b->manager->energy));
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", VERSION);
}

static int property_get_default_benchmark(sd_bus *bus, const char *path, const char *interface,
                                          const char *property, sd_bus_message *reply, void *userdata,
                                          sd_bus_error *error) {
        LabBus *b = userdata;

        return sd_bus_message_append(reply, "s", strempty(b->manager->default_benchmark));
}

static int property_get_region(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        LabBus *b = userdata;

        return sd_bus_message_append(reply, "s", b->manager->config->region);
}

static int property_get_grid_intensity(sd_bus *bus, const char *path, const char *interface,
                                       const char *property, sd_bus_message *reply, void *userdata,
                                       sd_bus_error *error) {
        LabBus *b = userdata;
        const GridRegion *g = grid_table_lookup(b->manager->grid, b->manager->config->region);

        return sd_bus_message_append(reply, "d", g ? g->g_per_kwh : 0.0);
}

static int property_get_sample_interval(sd_bus *bus, const char *path, const char *interface,
                                        const char *property, sd_bus_message *reply, void *userdata,
                                        sd_bus_error *error) {
        LabBus *b = userdata;

        return sd_bus_message_append(reply, "u", b->manager->config->sample_interval_ms);
}

static int property_get_queue_length(sd_bus *bus, const char *path, const char *interface,
                                     const char *property, sd_bus_message *reply, void *userdata,
                                     sd_bus_error *error) {
        LabBus *b = userdata;

        return sd_bus_message_append(reply, "u", manager_queue_length(b->manager));
}

/* --- models and presets ---------------------------------------------------------------------- */

typedef struct BackendOptions {
        char *backend;
} BackendOptions;

static int read_backend_options(sd_bus_message *m, BackendOptions *o, sd_bus_error *error) {
        static const BusField fields[] = {
                {"backend", BUS_FIELD_STRING, offsetof(BackendOptions, backend), -1},
        };

        return bus_read_dict(m, fields, ELEMENTSOF(fields), o, "options", error);
}

typedef struct ModelsQuery {
        sd_bus_message *call;
        json_t *models;
        unsigned pending;
        unsigned ok;
        LabError first_error;
} ModelsQuery;

static void models_query_destroy(void *userdata) {
        ModelsQuery *q = userdata;

        if (--q->pending > 0)
                return;
        if (q->ok > 0 || !lab_error_is_set(&q->first_error))
                (void) bus_reply_json_dict_array(q->call, q->models);
        else
                (void) reply_lab_error(q->call, &q->first_error);
        sd_bus_message_unref(q->call);
        json_decref(q->models);
        lab_error_clear(&q->first_error);
        free(q);
}

static void models_query_done(Backend *backend, json_t *reply, const LabError *error, void *userdata) {
        ModelsQuery *q = userdata;

        if (reply) {
                q->ok++;
                json_array_extend(q->models, reply);
        } else {
                log_debug("Listing models of %s failed: %s", backend->id, strna(error->message));
                (void) lab_error_copy(&q->first_error, error);
        }
}

static int method_list_models(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *only = NULL;
        LabBus *b = userdata;
        BackendOptions o = {};
        ModelsQuery *q;
        int r;

        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = read_backend_options(m, &o, error);
        only = o.backend;
        if (r < 0)
                return r;
        if (only && !manager_find_backend(b->manager, only))
                return bus_error_setf_lab(error, LAB_ERROR_INVALID_ARGUMENT,
                                          "No backend \"%s\" is configured", only);

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->call = sd_bus_message_ref(m);
        q->models = json_array();
        q->first_error = LAB_ERROR_INIT;
        q->pending = 1; /* held until every backend was asked */
        for (guint i = 0; i < b->manager->backends->len; i++) {
                Backend *be = g_ptr_array_index(b->manager->backends, i);

                if (only && !streq(only, be->id))
                        continue;
                q->pending++;
                (void) be->ops->list_models(be,
                                            &(BackendReply){.cb = models_query_done,
                                                            .userdata = q,
                                                            .destroy = models_query_destroy},
                                            NULL);
        }
        models_query_destroy(q);
        return 1;
}

typedef struct InfoQuery {
        sd_bus_message *call;
} InfoQuery;

static void info_query_done(Backend *backend, json_t *reply, const LabError *error, void *userdata) {
        InfoQuery *q = userdata;

        if (reply)
                (void) bus_reply_json_dict(q->call, reply);
        else
                (void) reply_lab_error(q->call, error);
}

static void info_query_destroy(void *userdata) {
        InfoQuery *q = userdata;

        sd_bus_message_unref(q->call);
        free(q);
}

static int method_get_model_info(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *backend_id = NULL;
        LabBus *b = userdata;
        BackendOptions o = {};
        const char *model;
        InfoQuery *q;
        Backend *be;
        int r;

        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = sd_bus_message_read(m, "s", &model);
        if (r < 0)
                return r;
        r = read_backend_options(m, &o, error);
        backend_id = o.backend;
        if (r < 0)
                return r;
        if (isempty(model) || strlen(model) > REQUEST_MAX_SHORT_BYTES)
                return bus_error_setf_lab(error, LAB_ERROR_INVALID_ARGUMENT, "Invalid model name");
        be = manager_find_backend(b->manager, backend_id);
        if (!be)
                return bus_error_setf_lab(error, LAB_ERROR_INVALID_ARGUMENT,
                                          "No backend \"%s\" is configured", strempty(backend_id));

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->call = sd_bus_message_ref(m);
        (void) backend_get_model_info(
                be, model,
                &(BackendReply){.cb = info_query_done, .userdata = q, .destroy = info_query_destroy}, NULL);
        return 1;
}

static int method_list_system_prompts(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_t *list = NULL;
        LabBus *b = userdata;
        int r;

        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = prompt_catalog_list(b->manager->prompts, &list);
        if (r < 0)
                return r;
        return bus_reply_json_dict_array(m, list);
}

static int method_get_system_prompt(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        _cleanup_free_ char *text = NULL;
        LabBus *b = userdata;
        const char *id;
        int r;

        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        r = prompt_catalog_get(b->manager->prompts, id, &text, &err);
        if (r < 0)
                return bus_error_set_lab(error, &err);
        return sd_bus_reply_method_return(m, "s", text);
}

/* --- runs ------------------------------------------------------------------------------------ */

typedef struct StartQuery {
        LabBus *bus;
        sd_bus_message *call;
} StartQuery;

static int track_handler(sd_bus_track *t, void *userdata) {
        Run *r = userdata;

        /* Done with the track: an empty track left alive would be dispatched again and again. */
        r->bus_data = sd_bus_track_unref(r->bus_data);
        if (!run_state_is_final(r->state)) {
                log_info("The owner of run %" PRIu64 " left the bus, cancelling it.", r->id);
                run_cancel(r);
        }
        return 0;
}

static void start_query_done(Manager *mgr, Run *run, const LabError *error, void *userdata) {
        StartQuery *q = userdata;
        sd_bus_track *track = NULL;
        int r;

        if (!run) {
                (void) reply_lab_error(q->call, error);
                goto finish;
        }

        /* Tie the run to its owner's connection. */
        r = sd_bus_track_new(q->bus->bus, &track, track_handler, run);
        if (r >= 0)
                r = sd_bus_track_add_sender(track, q->call);
        if (r < 0)
                log_warning_errno(r, "Failed to track the owner of run %" PRIu64 ", ignoring: %m", run->id);
        run->bus_data = track;

        (void) sd_bus_reply_method_return(q->call, "o", run->path);
finish:
        sd_bus_message_unref(q->call);
        free(q);
}

static int method_start_run(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        g_autoptr(LabRequest) req = NULL;
        LabBus *b = userdata;
        StartQuery *q;
        uid_t uid;
        int r;

        r = bus_read_request(m, &req, error);
        if (r < 0)
                return r;
        /* Limits before polkit: nobody is asked for a password for a request that is refused anyway. */
        r = lab_request_validate(req, &err);
        if (r < 0)
                return bus_error_set_lab(error, &err);
        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = bus_message_sender_uid(m, &uid);
        if (r < 0)
                return r;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->bus = b;
        q->call = sd_bus_message_ref(m);
        r = manager_start_run(b->manager, TAKE_PTR(req), uid, sd_bus_message_get_sender(m), 0,
                              start_query_done, q, &err);
        if (r < 0) {
                sd_bus_message_unref(q->call);
                free(q);
                return bus_error_set_lab(error, &err);
        }
        return 1;
}

/* --- benchmarks and regions -------------------------------------------------------------------- */

static int method_list_benchmarks(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_t *list = NULL;
        LabBus *b = userdata;
        int r;

        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        list = benchmark_registry_to_json(b->manager->benchmarks, b->manager->default_benchmark);
        return bus_reply_json_dict_array(m, list);
}

static int method_set_default_benchmark(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        LabBus *b = userdata;
        const char *id;
        int r;

        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        if (!benchmark_registry_get(b->manager->benchmarks, id))
                return bus_error_setf_lab(error, LAB_ERROR_NO_SUCH_BENCHMARK, "No benchmark \"%s\"", id);
        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = store_set_setting(b->manager->store, "default_benchmark", id);
        if (r < 0)
                return log_error_errno(r, "Failed to store the default benchmark: %m");
        g_free(b->manager->default_benchmark);
        b->manager->default_benchmark = g_strdup(id);
        manager_notify(b->manager, (const char *const[]){"DefaultBenchmark", NULL});
        return sd_bus_reply_method_return(m, NULL);
}

static int method_add_benchmark(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        _cleanup_json_ json_t *obj = NULL, *saved = NULL;
        LabBus *b = userdata;
        Benchmark *bm = NULL;
        const char *id;
        int r;

        r = bus_message_read_json(m, &obj);
        if (r < 0)
                return bus_error_setf_lab(error, LAB_ERROR_INVALID_ARGUMENT,
                                          "Malformed benchmark dictionary");
        r = benchmark_from_json(obj, &bm, &err);
        if (r < 0)
                return bus_error_set_lab(error, &err);
        id = bm->id;
        if (benchmark_registry_get(b->manager->benchmarks, id) &&
            benchmark_registry_get(b->manager->benchmarks, id)->builtin) {
                /* The message first: @id points into @bm. */
                r = bus_error_setf_lab(error, LAB_ERROR_INVALID_ARGUMENT, "\"%s\" is a built-in benchmark",
                                       id);
                benchmark_free(bm);
                return r;
        }
        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0) {
                benchmark_free(bm);
                return r < 0 ? r : 1;
        }

        saved = benchmark_to_json(bm);
        r = benchmark_registry_add(b->manager->benchmarks, bm, /* replace= */ true, &err);
        if (r < 0)
                return bus_error_set_lab(error, &err);
        r = store_save_benchmark(b->manager->store, json_get_string(saved, "id"), saved);
        if (r < 0)
                log_error_errno(r, "Failed to store benchmark %s, it will be lost on restart: %m",
                                json_get_string(saved, "id"));
        return sd_bus_reply_method_return(m, NULL);
}

static int method_remove_benchmark(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        LabBus *b = userdata;
        const Benchmark *bm;
        const char *id;
        int r;

        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        bm = benchmark_registry_get(b->manager->benchmarks, id);
        if (!bm)
                return bus_error_setf_lab(error, LAB_ERROR_NO_SUCH_BENCHMARK, "No benchmark \"%s\"", id);
        if (bm->builtin)
                return bus_error_setf_lab(error, LAB_ERROR_INVALID_ARGUMENT,
                                          "\"%s\" is a built-in benchmark", id);
        if (streq_ptr(id, b->manager->default_benchmark))
                return bus_error_setf_lab(error, LAB_ERROR_INVALID_ARGUMENT,
                                          "\"%s\" is the default benchmark; choose another default first",
                                          id);
        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = store_remove_benchmark(b->manager->store, id);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Failed to remove benchmark %s from the database: %m", id);
        r = benchmark_registry_remove(b->manager->benchmarks, id, &err);
        if (r < 0)
                return bus_error_set_lab(error, &err);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_list_regions(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_t *list = json_array();
        LabBus *b = userdata;
        int r;

        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        for (size_t i = 0; i < grid_table_size(b->manager->grid); i++)
                json_array_append_new(list, grid_region_to_json(grid_table_nth(b->manager->grid, i)));
        return bus_reply_json_dict_array(m, list);
}

/* --- results --------------------------------------------------------------------------------- */

static int method_get_session_summary(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_t *summary = NULL;
        LabBus *b = userdata;
        uid_t uid;
        int r;

        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = bus_message_sender_uid(m, &uid);
        if (r < 0)
                return r;
        r = store_session_summary(b->manager->store, uid, &summary);
        if (r < 0)
                return log_error_errno(r, "Failed to compute the session summary: %m");
        return bus_reply_json_dict(m, summary);
}

static int method_clear_session(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        LabBus *b = userdata;
        uid_t uid;
        int r;

        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = bus_message_sender_uid(m, &uid);
        if (r < 0)
                return r;
        r = store_clear_session(b->manager->store, uid, now_usec(CLOCK_REALTIME));
        if (r < 0)
                return log_error_errno(r, "Failed to clear the session: %m");
        return sd_bus_reply_method_return(m, NULL);
}

typedef struct FilterArgs {
        char *model;
        uint64_t since;
        uint32_t limit;
        uint64_t job;
        bool all_users;
        bool include_warmup;
} FilterArgs;

static int read_filter(LabBus *b, sd_bus_message *m, uint32_t default_limit, RunFilter *ret,
                       char **ret_model, sd_bus_error *error) {
        static const BusField fields[] = {
                {"model", BUS_FIELD_STRING, offsetof(FilterArgs, model), -1},
                {"since", BUS_FIELD_UINT64, offsetof(FilterArgs, since), -1},
                {"limit", BUS_FIELD_UINT32, offsetof(FilterArgs, limit), -1},
                {"job", BUS_FIELD_UINT64, offsetof(FilterArgs, job), -1},
                {"all_users", BUS_FIELD_BOOL, offsetof(FilterArgs, all_users), -1},
                {"include_warmup", BUS_FIELD_BOOL, offsetof(FilterArgs, include_warmup), -1},
        };
        FilterArgs f = {.limit = default_limit};
        uid_t uid;
        int r;

        r = bus_read_dict(m, fields, ELEMENTSOF(fields), &f, "filter", error);
        *ret_model = f.model;
        if (r < 0)
                return r;
        if (f.limit == 0 || f.limit > 10000)
                return bus_error_setf_lab(error, LAB_ERROR_INVALID_ARGUMENT,
                                          "limit must be between 1 and 10000");
        r = bus_message_sender_uid(m, &uid);
        if (r < 0)
                return r;
        if (f.all_users) {
                r = bus_check_action(b, m, ACTION_MANAGE, error);
                if (r <= 0)
                        return r;
        }
        *ret = (RunFilter){
                .all_users = f.all_users,
                .uid = uid,
                .model = f.model,
                .since_usec = f.since,
                .limit = f.limit,
                .job_id = f.job,
                .include_warmup = f.include_warmup || f.job != 0,
        };
        return 1;
}

static int method_list_runs(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_t *list = NULL;
        _cleanup_free_ char *model = NULL;
        LabBus *b = userdata;
        RunFilter f;
        int r;

        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = read_filter(b, m, 50, &f, &model, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = store_list_runs(b->manager->store, &f, &list);
        if (r < 0)
                return log_error_errno(r, "Failed to list runs: %m");
        return bus_reply_json_dict_array(m, list);
}

static int method_export_runs(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *model = NULL;
        _cleanup_close_ int fd = -EBADF;
        LabBus *b = userdata;
        const char *format_s;
        ExportFormat format;
        RunFilter f;
        int r;

        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        r = sd_bus_message_read(m, "s", &format_s);
        if (r < 0)
                return r;
        format = export_format_from_string(format_s);
        if (format < 0)
                return bus_error_setf_lab(error, LAB_ERROR_INVALID_ARGUMENT,
                                          "Unknown export format \"%s\" (json, csv or openmetrics)",
                                          format_s);
        r = read_filter(b, m, 10000, &f, &model, error);
        if (r <= 0)
                return r < 0 ? r : 1;

        /* A sealed memfd: the caller reads it; the daemon never writes to a path a caller chose. */
        fd = memfd_create("llmlab-export", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to create the export buffer: %m");
        r = store_export_runs(b->manager->store, &f, format, fd);
        if (r < 0)
                return log_error_errno(r, "Failed to export runs: %m");
        if (lseek(fd, 0, SEEK_SET) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                return log_error_errno(negative_errno(), "Failed to seal the export buffer: %m");
        return sd_bus_reply_method_return(m, "h", fd);
}

static int method_get_energy_status(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_t *status = NULL;
        LabBus *b = userdata;
        int r;

        r = bus_authorize(b, m, BUS_AUTH_NO_OWNER, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        status = energy_monitor_status_json(b->manager->energy);
        return bus_reply_json_dict(m, status);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Backends", "aa{sv}", property_get_backends, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("EnergySources", "aa{sv}", property_get_energy_sources, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DefaultBenchmark", "s", property_get_default_benchmark, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Region", "s", property_get_region, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("GridIntensity", "d", property_get_grid_intensity, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("SampleIntervalMs", "u", property_get_sample_interval, 0,
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("QueueLength", "u", property_get_queue_length, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),

        SD_BUS_METHOD_WITH_ARGS("ListModels", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("aa{sv}", models),
                                method_list_models, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetModelInfo", SD_BUS_ARGS("s", model, "a{sv}", options),
                                SD_BUS_RESULT("a{sv}", info), method_get_model_info,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListSystemPrompts", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", prompts),
                                method_list_system_prompts, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetSystemPrompt", SD_BUS_ARGS("s", id), SD_BUS_RESULT("s", text),
                                method_get_system_prompt, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartRun", SD_BUS_ARGS("a{sv}", request), SD_BUS_RESULT("o", run),
                                method_start_run, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartBatch", SD_BUS_ARGS("a{sv}", request, "a{sv}", options),
                                SD_BUS_RESULT("o", job), bus_method_start_batch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartCrossover", SD_BUS_ARGS("a{sv}", request, "a{sv}", options),
                                SD_BUS_RESULT("o", job), bus_method_start_crossover,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Calibrate", SD_BUS_ARGS("a{sv}", request, "a{sv}", options),
                                SD_BUS_RESULT("o", job), bus_method_calibrate, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "StartComparison", SD_BUS_ARGS("a{sv}", request, "aa{sv}", panes, "a{sv}", options),
                SD_BUS_RESULT("o", job), bus_method_start_comparison, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListBenchmarks", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", benchmarks),
                                method_list_benchmarks, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetDefaultBenchmark", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT,
                                method_set_default_benchmark, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AddBenchmark", SD_BUS_ARGS("a{sv}", benchmark), SD_BUS_NO_RESULT,
                                method_add_benchmark, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveBenchmark", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT,
                                method_remove_benchmark, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListRegions", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", regions),
                                method_list_regions, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetSessionSummary", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", summary),
                                method_get_session_summary, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ClearSession", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_clear_session,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListRuns", SD_BUS_ARGS("a{sv}", filter), SD_BUS_RESULT("aa{sv}", runs),
                                method_list_runs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ExportRuns", SD_BUS_ARGS("s", format, "a{sv}", filter),
                                SD_BUS_RESULT("h", data), method_export_runs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetEnergyStatus", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", status),
                                method_get_energy_status, SD_BUS_VTABLE_UNPRIVILEGED),

        SD_BUS_SIGNAL_WITH_ARGS("RunNew", SD_BUS_ARGS("o", run), 0),
        SD_BUS_SIGNAL_WITH_ARGS("RunRemoved", SD_BUS_ARGS("o", run, "s", result), 0),
        SD_BUS_SIGNAL_WITH_ARGS("JobNew", SD_BUS_ARGS("o", job), 0),
        SD_BUS_SIGNAL_WITH_ARGS("JobRemoved", SD_BUS_ARGS("o", job, "s", result), 0),
        SD_BUS_VTABLE_END,
};

int lab_bus_register(LabBus *b) {
        int r;

        r = bus_auth_check_vtable(LAB_MANAGER_IFACE, manager_vtable);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(b->bus, NULL, LAB_OBJECT_PATH, LAB_MANAGER_IFACE, manager_vtable, b);
        if (r < 0)
                return log_error_errno(r, "Failed to register the Manager object: %m");
        r = bus_run_register(b);
        if (r < 0)
                return r;
        r = bus_job_register(b);
        if (r < 0)
                return r;
        manager_set_hooks(b->manager, &bus_manager_hooks, b);
        return 0;
}

void lab_bus_unregister(LabBus *b) {
        GHashTableIter it;
        gpointer v;

        if (!b->manager)
                return;
        manager_set_hooks(b->manager, NULL, NULL);
        /* Owner tracking ends with the bus: drop the tracks of runs and jobs still alive. */
        g_hash_table_iter_init(&it, b->manager->runs);
        while (g_hash_table_iter_next(&it, NULL, &v))
                ((Run *) v)->bus_data = sd_bus_track_unref(((Run *) v)->bus_data);
        g_hash_table_iter_init(&it, b->manager->jobs);
        while (g_hash_table_iter_next(&it, NULL, &v))
                ((Job *) v)->bus_data = sd_bus_track_unref(((Job *) v)->bus_data);
}
