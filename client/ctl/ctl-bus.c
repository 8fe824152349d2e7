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

int ctl_bus_connect(sd_bus **ret) {
        _cleanup_bus_ sd_bus *bus = NULL;
        int r;

        (void) bus_errors_register();

        switch (arg_transport) {
        case BUS_TRANSPORT_USER: r = sd_bus_open_user(&bus); break;
        case BUS_TRANSPORT_SYSTEM: r = sd_bus_open_system(&bus); break;
        default: return log_error_errno(-EOPNOTSUPP, "Unsupported bus transport.");
        }
        if (r < 0)
                return ctl_log_bus_error(r, NULL,
                                         arg_transport == BUS_TRANSPORT_USER ? "connect to the session bus"
                                                                             : "connect to the system bus");

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
