/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-signal-router.h"

#define RUN_IFACE "org.llmlab.Lab1.Run"
#define JOB_IFACE "org.llmlab.Lab1.Job"
/* Unclaimed signals are kept this long, and at most this many. */
#define KEEP_USEC (60 * G_USEC_PER_SEC)
#define KEEP_MAX  8192

typedef struct {
        char *path;
        char *interface;
        char *member;
        GVariant *params;
        gint64 when;
} Pending;

typedef struct {
        guint id;
        char *path;
        LabSignalFunc func;
        gpointer user_data;
} Watch;

struct _LabSignalRouter {
        GObject parent_instance;

        GDBusConnection *bus;
        char *owner;
        guint subscriptions[2];
        GQueue pending;      /* Pending*, oldest first */
        GHashTable *watches; /* id → Watch* */
        guint next_id;
};

G_DEFINE_FINAL_TYPE(LabSignalRouter, lab_signal_router, G_TYPE_OBJECT)

static void pending_free(Pending *p) {
        g_free(p->path);
        g_free(p->interface);
        g_free(p->member);
        g_variant_unref(p->params);
        g_free(p);
}

static void watch_free(Watch *w) {
        g_free(w->path);
        g_free(w);
}

static void prune_pending(LabSignalRouter *self, gint64 now) {
        Pending *p;

        while ((p = g_queue_peek_head(&self->pending)) &&
               (now - p->when > KEEP_USEC || g_queue_get_length(&self->pending) > KEEP_MAX))
                pending_free(g_queue_pop_head(&self->pending));
}

static void on_signal(GDBusConnection *bus, const char *sender, const char *path, const char *interface,
                      const char *member, GVariant *params, gpointer user_data) {
        LabSignalRouter *self = user_data;
        g_autoptr(GList) targets = NULL;
        GHashTableIter iter;
        gpointer value;
        Pending *p;

        if (g_strcmp0(sender, self->owner) != 0)
                return;
        g_hash_table_iter_init(&iter, self->watches);
        while (g_hash_table_iter_next(&iter, NULL, &value))
                if (g_str_equal(((Watch *) value)->path, path))
                        targets = g_list_prepend(targets, GUINT_TO_POINTER(((Watch *) value)->id));
        if (targets) {
                g_object_ref(self);
                for (GList *l = targets; l; l = l->next) {
                        Watch *w = g_hash_table_lookup(self->watches, l->data);

                        /* A callback may have removed a later watch. */
                        if (w)
                                w->func(path, interface, member, params, w->user_data);
                }
                g_object_unref(self);
                return;
        }
        p = g_new0(Pending, 1);
        p->path = g_strdup(path);
        p->interface = g_strdup(interface);
        p->member = g_strdup(member);
        p->params = g_variant_ref(params);
        p->when = g_get_monotonic_time();
        g_queue_push_tail(&self->pending, p);
        prune_pending(self, p->when);
}

LabSignalRouter *lab_signal_router_new(GDBusConnection *bus, const char *owner) {
        static const char *const interfaces[] = {RUN_IFACE, JOB_IFACE};
        LabSignalRouter *self;

        g_return_val_if_fail(G_IS_DBUS_CONNECTION(bus), NULL);
        g_return_val_if_fail(owner != NULL, NULL);

        self = g_object_new(LAB_TYPE_SIGNAL_ROUTER, NULL);
        self->bus = g_object_ref(bus);
        self->owner = g_strdup(owner);
        for (guint i = 0; i < G_N_ELEMENTS(interfaces); i++)
                self->subscriptions[i] = g_dbus_connection_signal_subscribe(
                        bus, owner, interfaces[i], /* member= */ NULL, /* object_path= */ NULL,
                        /* arg0= */ NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, self, NULL);
        return self;
}

GDBusConnection *lab_signal_router_get_connection(LabSignalRouter *self) {
        g_return_val_if_fail(LAB_IS_SIGNAL_ROUTER(self), NULL);
        return self->bus;
}

const char *lab_signal_router_get_owner(LabSignalRouter *self) {
        g_return_val_if_fail(LAB_IS_SIGNAL_ROUTER(self), NULL);
        return self->owner;
}

guint lab_signal_router_watch(LabSignalRouter *self, const char *path, LabSignalFunc func,
                              gpointer user_data) {
        g_autoptr(GPtrArray) replay = g_ptr_array_new_with_free_func((GDestroyNotify) pending_free);
        Watch *w;
        guint id;

        g_return_val_if_fail(LAB_IS_SIGNAL_ROUTER(self), 0);
        g_return_val_if_fail(g_variant_is_object_path(path), 0);
        g_return_val_if_fail(func != NULL, 0);

        w = g_new0(Watch, 1);
        w->id = id = ++self->next_id;
        w->path = g_strdup(path);
        w->func = func;
        w->user_data = user_data;
        g_hash_table_insert(self->watches, GUINT_TO_POINTER(id), w);

        for (GList *l = self->pending.head; l;) {
                GList *next = l->next;
                Pending *p = l->data;

                if (g_str_equal(p->path, path)) {
                        g_ptr_array_add(replay, p);
                        g_queue_delete_link(&self->pending, l);
                }
                l = next;
        }
        for (guint i = 0; i < replay->len && g_hash_table_contains(self->watches, GUINT_TO_POINTER(id));
             i++) {
                Pending *p = g_ptr_array_index(replay, i);

                func(p->path, p->interface, p->member, p->params, user_data);
        }
        return id;
}

void lab_signal_router_unwatch(LabSignalRouter *self, guint id) {
        g_return_if_fail(LAB_IS_SIGNAL_ROUTER(self));
        g_hash_table_remove(self->watches, GUINT_TO_POINTER(id));
}

static void lab_signal_router_dispose(GObject *object) {
        LabSignalRouter *self = LAB_SIGNAL_ROUTER(object);

        for (guint i = 0; i < G_N_ELEMENTS(self->subscriptions); i++)
                if (self->subscriptions[i] != 0) {
                        g_dbus_connection_signal_unsubscribe(self->bus, self->subscriptions[i]);
                        self->subscriptions[i] = 0;
                }
        g_queue_clear_full(&self->pending, (GDestroyNotify) pending_free);
        g_hash_table_remove_all(self->watches);
        g_clear_object(&self->bus);
        G_OBJECT_CLASS(lab_signal_router_parent_class)->dispose(object);
}

static void lab_signal_router_finalize(GObject *object) {
        LabSignalRouter *self = LAB_SIGNAL_ROUTER(object);

        g_hash_table_unref(self->watches);
        g_free(self->owner);
        G_OBJECT_CLASS(lab_signal_router_parent_class)->finalize(object);
}

static void lab_signal_router_class_init(LabSignalRouterClass *klass) {
        GObjectClass *object_class = G_OBJECT_CLASS(klass);

        object_class->dispose = lab_signal_router_dispose;
        object_class->finalize = lab_signal_router_finalize;
}

static void lab_signal_router_init(LabSignalRouter *self) {
        g_queue_init(&self->pending);
        self->watches = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify) watch_free);
}
