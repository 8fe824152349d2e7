/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>

#include "bus-errors.h"
#include "bus-json.h"
#include "ctl-bus.h"
#include "log.h"

#define HINT_NOT_RUNNING \
        "Is llmlabd running? Try 'systemctl start llmlab' (or 'llmlabd --user' with --user)."
#define HINT_BACKEND                                                                                \
        "Is the inference server running? Start it (e.g. 'ollama serve') or check the backends in " \
        "/etc/llmlab/llmlab.conf."
#define HINT_NO_SESSION_BUS "No session bus found: is DBUS_SESSION_BUS_ADDRESS (or XDG_RUNTIME_DIR) set?"
#define HINT_AUTH           "Not authorized. Run from an active local session, or ask an administrator."
#define HINT_REMOTE                                                                                         \
        "Can 'ssh HOST' log in without a password prompt, and does the host have systemd-stdio-bridge and " \
        "a running llmlabd?"
#define HINT_MACHINE "Is the container running (machinectl list), with llmlabd inside?"

static int bus_open(sd_bus **ret, const char **ret_what) {
        switch (arg_transport) {
        case BUS_TRANSPORT_LOCAL:
                *ret_what = arg_user ? "connect to the session bus" : "connect to the system bus";
                return arg_user ? sd_bus_open_user(ret) : sd_bus_open_system(ret);
        case BUS_TRANSPORT_REMOTE:
                *ret_what = "connect to the remote host";
                if (arg_user)
                        return log_error_errno(
                                -EOPNOTSUPP, "--user cannot be combined with -H: llmlabd on another host is "
                                             "reached on its system bus.");
                return sd_bus_open_system_remote(ret, arg_host);
        case BUS_TRANSPORT_MACHINE:
                *ret_what = "connect to the container";
                return arg_user ? sd_bus_open_user_machine(ret, arg_host)
                                : sd_bus_open_system_machine(ret, arg_host);
        default: return log_error_errno(-EOPNOTSUPP, "Unsupported bus transport.");
        }
}

int ctl_bus_connect(sd_bus **ret) {
        _cleanup_bus_ sd_bus *bus = NULL;
        const char *what = "connect to the bus";
        int r;

        (void) bus_errors_register();

        r = bus_open(&bus, &what);
        if (r == -EOPNOTSUPP && arg_transport == BUS_TRANSPORT_REMOTE && arg_user)
                return r; /* logged */
        if (r < 0)
                return ctl_log_bus_error(r, NULL, what);

        r = sd_bus_set_allow_interactive_authorization(bus, arg_ask_password);
        if (r < 0)
                return log_error_errno(r, "Failed to set interactive authorization: %m");

        *ret = TAKE_PTR(bus);
        return 0;
}

const char *ctl_error_hint(const char *name, int error) {
        if (name) {
                if (streq(name, SD_BUS_ERROR_SERVICE_UNKNOWN) || streq(name, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        return HINT_NOT_RUNNING;
                if (streq(name, LAB_ERROR_PREFIX "BackendUnavailable"))
                        return HINT_BACKEND;
                if (streq(name, LAB_ERROR_PREFIX "PermissionDenied") ||
                    streq(name, SD_BUS_ERROR_ACCESS_DENIED) ||
                    streq(name, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                        return HINT_AUTH;
                return NULL;
        }
        /* No bus error: connecting failed, the socket is missing or nobody listens on it. */
        if (arg_transport == BUS_TRANSPORT_REMOTE)
                return HINT_REMOTE;
        if (arg_transport == BUS_TRANSPORT_MACHINE)
                return HINT_MACHINE;
        if (error == -ENOENT || error == -ECONNREFUSED)
                return HINT_NOT_RUNNING;
        if (error == -ENOMEDIUM)
                return HINT_NO_SESSION_BUS;
        return NULL;
}

int ctl_log_error_name(const char *name, const char *message, const char *what) {
        LabErrorCode code = lab_error_code_from_bus_name(name);
        const char *hint = ctl_error_hint(name, 0);
        int r = code >= 0 ? -lab_error_code_to_errno(code) : -EIO;

        log_debug("D-Bus error: %s", strna(name));
        log_error("Failed to %s: %s", what, isempty(message) ? strna(name) : message);
        if (hint)
                log_error("%s", hint);
        return r;
}

int ctl_log_bus_error(int r, const sd_bus_error *error, const char *what) {
        const char *hint;

        /* sd-bus names local failures (no connection, …) System.Error.<ERRNO>: those are not the
         * daemon's, they get the connection hints. */
        if (sd_bus_error_is_set(error) && startswith(error->name, "System.Error.")) {
                r = sd_bus_error_get_errno(error) > 0 ? -sd_bus_error_get_errno(error) : r;
                error = NULL;
        }
        if (sd_bus_error_is_set(error)) {
                int k = ctl_log_error_name(error->name, error->message, what);

                return r < 0 ? r : k;
        }
        r = r < 0 ? r : -EIO;
        hint = ctl_error_hint(NULL, r);
        log_error_errno(r, "Failed to %s: %m", what);
        if (hint)
                log_error("%s", hint);
        return r;
}

int ctl_new_manager_call(sd_bus *bus, const char *member, sd_bus_message **ret) {
        int r;

        r = sd_bus_message_new_method_call(bus, ret, LAB_BUS_NAME, LAB_OBJECT_PATH, LAB_MANAGER_IFACE,
                                           member);
        if (r < 0)
                return log_error_errno(r, "Failed to create a %s call: %m", member);
        return 0;
}

int ctl_call(sd_bus *bus, sd_bus_message *m, const char *what, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(bus, m, 0, &error, ret_reply);
        if (r < 0)
                return ctl_log_bus_error(r, &error, what);
        return 0;
}

int ctl_call_manager(sd_bus *bus, const char *member, const char *what, sd_bus_message **ret_reply,
                     const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = ctl_new_manager_call(bus, member, &m);
        if (r < 0)
                return r;
        if (!isempty(types)) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return log_error_errno(r, "Failed to append the arguments of %s: %m", member);
        }
        return ctl_call(bus, m, what, ret_reply);
}

int ctl_read_json(sd_bus_message *reply, const char *what, json_t **ret) {
        int r;

        r = bus_message_read_json(reply, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to %s: cannot parse the reply: %m", what);
        return 0;
}

int ctl_get_all_properties(sd_bus *bus, const char *path, const char *iface, const char *what,
                           json_t **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, LAB_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll", &error,
                               &reply, "s", iface);
        if (r < 0)
                return ctl_log_bus_error(r, &error, what);
        return ctl_read_json(reply, what, ret);
}
