/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdlib.h>

#include "bus-json.h"
#include "bus-util.h"

int bus_message_sender_uid(sd_bus_message *m, uid_t *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        int r;

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return r;
        return sd_bus_creds_get_euid(creds, ret);
}

int bus_new_unicast_signal(sd_bus *bus, const char *destination, const char *path, const char *interface,
                           const char *member, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_signal(bus, &m, path, interface, member);
        if (r < 0)
                return r;
        r = sd_bus_message_set_destination(m, destination);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int bus_path_get_id(const char *path, const char *prefix, uint64_t *ret) {
        size_t n = strlen(prefix);
        const char *s;
        char *end;
        uint64_t v;

        if (strncmp(path, prefix, n) != 0 || path[n] != '/')
                return -ENXIO;
        s = path + n + 1;
        if (*s < '0' || *s > '9' || (*s == '0' && s[1]))
                return -ENXIO;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0')
                return -ENXIO;
        *ret = v;
        return 0;
}

int bus_reply_json_dict(sd_bus_message *m, json_t *obj) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = bus_message_append_json_dict(reply, obj);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int bus_reply_json_dict_array(sd_bus_message *m, json_t *array) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = bus_message_append_json_dict_array(reply, array);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}
