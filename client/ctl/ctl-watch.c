/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <signal.h>

#include "ctl-bus.h"
#include "ctl-watch.h"
#include "log.h"

int ctl_watch_stop(CtlWatch *w) {
        w->done = true;
        return 0;
}

int ctl_watch_fail(CtlWatch *w, int error) {
        w->error = error;
        return ctl_watch_stop(w);
}

static void clear(CtlWatch *w) {
        if (w->ops->clear)
                w->ops->clear(w->userdata);
}

static int on_daemon_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CtlWatch *w = userdata;

        return w->ops->signal(m, w->userdata);
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CtlWatch *w = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (!streq(name, LAB_BUS_NAME) || !isempty(new_owner))
                return 0;
        clear(w);
        log_error("Failed to %s: llmlabd left the bus before the %s finished.", w->what, w->noun);
        return ctl_watch_fail(w, -ECONNRESET);
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CtlWatch *w = userdata;

        clear(w);
        log_error("Failed to %s: the connection to the bus was lost.", w->what);
        return ctl_watch_fail(w, -ECONNRESET);
}

static int on_cancel_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e)
                log_debug("Cancel() failed: %s: %s", e->name, strna(e->message));
        return 0;
}

int ctl_watch_cancel(CtlWatch *w, const char *path, const char *interface) {
        int r;

        r = sd_bus_call_method_async(w->bus, NULL, LAB_BUS_NAME, path, interface, "Cancel", on_cancel_reply,
                                     w, "");
        if (r < 0) {
                clear(w);
                log_error_errno(r, "Failed to cancel the %s: %m", w->noun);
                w->abandoned = true;
                (void) ctl_watch_stop(w);
        }
        return r;
}

static int on_interrupt(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        CtlWatch *w = userdata;

        if (++w->n_interrupts > 1) {
                /* Impatient: leave now; the daemon cancels the work of an owner that left. */
                w->abandoned = true;
                return ctl_watch_stop(w);
        }
        w->ops->interrupt(w->userdata);
        return 0;
}

static int add_signals(CtlWatch *w) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        r = sd_event_add_signal(w->event, NULL, SIGINT, on_interrupt, w);
        if (r >= 0)
                r = sd_event_add_signal(w->event, NULL, SIGTERM, on_interrupt, w);
        return r;
}

static int add_matches(CtlWatch *w) {
        int r;

        r = sd_bus_add_match(w->bus, &w->slots[0],
                             "type='signal',sender='" LAB_BUS_NAME "',path_namespace='" LAB_OBJECT_PATH "'",
                             on_daemon_signal, w);
        if (r < 0)
                return r;
        r = sd_bus_add_match(w->bus, &w->slots[1],
                             "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                             "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" LAB_BUS_NAME
                             "'",
                             on_name_owner_changed, w);
        if (r < 0)
                return r;
        return sd_bus_match_signal(w->bus, &w->slots[2], "org.freedesktop.DBus.Local",
                                   "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                   "Disconnected", on_disconnected, w);
}

int ctl_watch_init(CtlWatch *w, sd_bus *bus, const char *what, const char *noun, const CtlWatchOps *ops,
                   void *userdata) {
        int r;

        *w = (CtlWatch){
                .bus = bus,
                .what = what,
                .noun = noun,
                .ops = ops,
                .userdata = userdata,
        };
        r = sd_event_new(&w->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate an event loop: %m");
        r = add_signals(w);
        if (r < 0)
                return log_error_errno(r, "Failed to set up signal handling: %m");
        r = add_matches(w);
        if (r < 0)
                return ctl_log_bus_error(r, NULL, "subscribe to the daemon's signals");
        r = sd_bus_attach_event(bus, w->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        return 0;
}

int ctl_watch_run(CtlWatch *w) {
        int r = 0;

        while (!w->done) {
                r = sd_event_run(w->event, UINT64_MAX);
                if (r < 0)
                        break;
        }
        if (w->error < 0)
                return w->error;
        if (r < 0)
                return log_error_errno(r, "Failed to %s: event loop failed: %m", w->what);
        return 0;
}

void ctl_watch_done(CtlWatch *w) {
        for (size_t i = 0; i < ELEMENTSOF(w->slots); i++)
                w->slots[i] = sd_bus_slot_unref(w->slots[i]);
        if (w->bus)
                (void) sd_bus_detach_event(w->bus);
        w->event = sd_event_unref(w->event);
}
