/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>

#include "bus-polkit.h"
#include "bus-util.h"
#include "lab-error.h"
#include "log.h"

#define POLKIT_TIMEOUT_USEC (5 * 60 * USEC_PER_SEC) /* interactive authentication takes a while */
/* An answer is normally taken by the re-dispatched call at once. One that was not (the object went
 * away meanwhile, so sd-bus answered the call itself) is dropped after this long. */
#define POLKIT_STALE_USEC (10 * USEC_PER_SEC)

struct PolkitRegistry {
        bool enabled;
        GHashTable *queries; /* sd_bus_message* (the call) → Query* */
};

typedef struct Query {
        PolkitRegistry *registry;
        sd_bus_message *call;
        sd_bus_slot *slot;
        char *action;
        bool done;
        uint64_t done_usec; /* CLOCK_MONOTONIC */
        bool authorized;
        bool challenge;
        char *failure; /* polkit itself failed */
} Query;

static void query_free(gpointer p) {
        Query *q = p;

        sd_bus_slot_unref(q->slot);
        sd_bus_message_unref(q->call);
        g_free(q->action);
        g_free(q->failure);
        g_free(q);
}

int polkit_registry_new(bool enabled, PolkitRegistry **ret) {
        PolkitRegistry *r = g_new0(PolkitRegistry, 1);

        r->enabled = enabled;
        r->queries = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, query_free);
        *ret = r;
        return 0;
}

PolkitRegistry *polkit_registry_free(PolkitRegistry *r) {
        if (!r)
                return NULL;
        g_hash_table_unref(r->queries);
        g_free(r);
        return NULL;
}

bool polkit_registry_enabled(const PolkitRegistry *r) {
        return r && r->enabled;
}

static int polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Query *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r, authorized = 0, challenge = 0;

        q->done = true;
        q->done_usec = now_usec(CLOCK_MONOTONIC);
        q->slot = sd_bus_slot_unref(q->slot);
        if (e) {
                log_warning("polkit check for %s failed, denying: %s", q->action, e->message ?: e->name);
                q->failure = g_strdup(e->message ?: e->name);
        } else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0) {
                        log_warning_errno(r, "Malformed polkit reply for %s, denying: %m", q->action);
                        q->failure = g_strdup("malformed reply from polkit");
                }
                q->authorized = r >= 0 && authorized;
                q->challenge = r >= 0 && challenge;
        }

        /* Dispatch the original call again; the handler will find the answer. */
        r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->call), q->call);
        if (r < 0) {
                log_error_errno(r, "Failed to re-dispatch a call after polkit answered: %m");
                g_hash_table_remove(q->registry->queries, q->call);
        }
        return 1;
}

static gboolean query_is_stale(gpointer key, gpointer value, gpointer userdata) {
        const Query *q = value;
        uint64_t now = *(const uint64_t *) userdata;

        return q->done && now > q->done_usec + POLKIT_STALE_USEC;
}

static void drop_stale_queries(PolkitRegistry *registry) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        guint n;

        n = g_hash_table_foreach_remove(registry->queries, query_is_stale, &now);
        if (n > 0)
                log_debug("Dropped %u polkit answer(s) that no call took.", n);
}

static int start_query(sd_bus_message *call, const char *action, PolkitRegistry *registry) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *pk = NULL;
        sd_bus *bus = sd_bus_message_get_bus(call);
        const char *sender = sd_bus_message_get_sender(call);
        uint32_t flags = sd_bus_message_get_allow_interactive_authorization(call) ? 1 : 0;
        Query *q;
        int r;

        if (!sender)
                return -EBADMSG;
        drop_stale_queries(registry);
        r = sd_bus_message_new_method_call(bus, &pk, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r < 0)
                return r;
        r = sd_bus_message_append(pk, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s", sender, action,
                                  0, flags, "");
        if (r < 0)
                return r;

        q = g_new0(Query, 1);
        q->registry = registry;
        q->call = sd_bus_message_ref(call);
        q->action = g_strdup(action);
        r = sd_bus_call_async(bus, &q->slot, pk, polkit_reply, q, POLKIT_TIMEOUT_USEC);
        if (r < 0) {
                query_free(q);
                return r;
        }
        g_hash_table_insert(registry->queries, call, q);
        return 0;
}

int bus_verify_polkit_async(sd_bus_message *call, const char *action, PolkitRegistry *registry,
                            sd_bus_error *error) {
        Query *q;
        uid_t uid;
        int r;

        if (!registry->enabled)
                return 1;

        q = g_hash_table_lookup(registry->queries, call);
        if (q) {
                bool authorized = q->authorized, challenge = q->challenge;
                g_autofree char *failure = g_strdup(q->failure);

                if (!q->done)
                        return 0;
                g_hash_table_remove(registry->queries, call);
                if (authorized)
                        return 1;
                if (failure)
                        return sd_bus_error_setf(error, LAB_ERROR_PREFIX "PermissionDenied",
                                                 "Not authorized (%s): polkit is unavailable: %s", action,
                                                 failure);
                if (challenge)
                        return sd_bus_error_setf(error, LAB_ERROR_PREFIX "PermissionDenied",
                                                 "Interactive authentication required for %s", action);
                return sd_bus_error_setf(error, LAB_ERROR_PREFIX "PermissionDenied", "Not authorized: %s",
                                         action);
        }

        r = bus_message_sender_uid(call, &uid);
        if (r < 0)
                return sd_bus_error_setf(error, LAB_ERROR_PREFIX "PermissionDenied",
                                         "Cannot determine the caller's identity: %s", strerror(-r));
        if (uid == 0)
                return 1;

        r = start_query(call, action, registry);
        if (r < 0) {
                log_warning_errno(r, "Failed to ask polkit about %s, denying: %m", action);
                return sd_bus_error_setf(error, LAB_ERROR_PREFIX "PermissionDenied",
                                         "Not authorized (%s): polkit is unavailable", action);
        }
        return 0;
}
