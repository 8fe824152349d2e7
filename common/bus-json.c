/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-json.h"
#include "macro.h"

static int append_value_variant(sd_bus_message *m, json_t *v);

static bool array_all_of(json_t *array, json_type type) {
        size_t i;
        json_t *e;

        if (json_array_size(array) == 0)
                return false;
        json_array_foreach (array, i, e)
                if (json_typeof(e) != type)
                        return false;
        return true;
}

static const char *signature_of(json_t *v) {
        switch (json_typeof(v)) {
        case JSON_STRING: return "s";
        case JSON_INTEGER: return "x";
        case JSON_REAL: return "d";
        case JSON_TRUE:
        case JSON_FALSE: return "b";
        case JSON_OBJECT: return "a{sv}";
        case JSON_ARRAY:
                if (array_all_of(v, JSON_OBJECT))
                        return "aa{sv}";
                if (array_all_of(v, JSON_STRING))
                        return "as";
                return "av";
        default: return NULL;
        }
}

static int append_plain(sd_bus_message *m, json_t *v) {
        switch (json_typeof(v)) {
        case JSON_STRING: return sd_bus_message_append_basic(m, 's', json_string_value(v));
        case JSON_INTEGER: {
                int64_t x = json_integer_value(v);
                return sd_bus_message_append_basic(m, 'x', &x);
        }
        case JSON_REAL: {
                double d = json_real_value(v);
                return sd_bus_message_append_basic(m, 'd', &d);
        }
        case JSON_TRUE:
        case JSON_FALSE: {
                int b = json_is_true(v);
                return sd_bus_message_append_basic(m, 'b', &b);
        }
        case JSON_OBJECT: return bus_message_append_json_dict(m, v);
        case JSON_ARRAY: {
                const char *sig = signature_of(v);
                size_t i;
                json_t *e;
                int r;

                if (streq(sig, "aa{sv}"))
                        return bus_message_append_json_dict_array(m, v);
                r = sd_bus_message_open_container(m, 'a', sig + 1);
                if (r < 0)
                        return r;
                json_array_foreach (v, i, e) {
                        if (streq(sig, "as"))
                                r = sd_bus_message_append_basic(m, 's', json_string_value(e));
                        else if (json_is_null(e))
                                r = sd_bus_message_append(m, "v", "as", 0); /* null in a list: empty */
                        else
                                r = append_value_variant(m, e);
                        if (r < 0)
                                return r;
                }
                return sd_bus_message_close_container(m);
        }
        default: return -EINVAL;
        }
}

static int append_value_variant(sd_bus_message *m, json_t *v) {
        const char *sig = signature_of(v);
        int r;

        if (!sig)
                return -EINVAL;
        r = sd_bus_message_open_container(m, 'v', sig);
        if (r < 0)
                return r;
        r = append_plain(m, v);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

int bus_message_append_json_dict(sd_bus_message *m, json_t *obj) {
        const char *key;
        json_t *v;
        int r;

        if (obj && !json_is_object(obj))
                return -EINVAL;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        json_object_foreach (obj, key, v) {
                if (json_is_null(v))
                        continue;
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                r = sd_bus_message_append_basic(m, 's', key);
                if (r < 0)
                        return r;
                r = append_value_variant(m, v);
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

int bus_message_append_json_dict_array(sd_bus_message *m, json_t *array) {
        size_t i;
        json_t *e;
        int r;

        if (array && !json_is_array(array))
                return -EINVAL;
        r = sd_bus_message_open_container(m, 'a', "a{sv}");
        if (r < 0)
                return r;
        json_array_foreach (array, i, e) {
                r = bus_message_append_json_dict(m, e);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static int read_basic(sd_bus_message *m, char type, json_t **ret) {
        union {
                uint8_t u8;
                int b;
                int16_t i16;
                uint16_t u16;
                int32_t i32;
                uint32_t u32;
                int64_t i64;
                uint64_t u64;
                double d;
                const char *s;
        } v;
        int r;

        r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        switch (type) {
        case 'y': *ret = json_integer(v.u8); break;
        case 'b': *ret = json_boolean(v.b); break;
        case 'n': *ret = json_integer(v.i16); break;
        case 'q': *ret = json_integer(v.u16); break;
        case 'i': *ret = json_integer(v.i32); break;
        case 'u': *ret = json_integer(v.u32); break;
        case 'x': *ret = json_integer(v.i64); break;
        case 't': *ret = json_integer((json_int_t) MIN(v.u64, (uint64_t) INT64_MAX)); break;
        case 'd': *ret = json_real(v.d); break;
        case 's':
        case 'o':
        case 'g': *ret = json_string(v.s); break;
        default: return -EOPNOTSUPP;
        }
        return *ret ? 0 : -ENOMEM;
}

static int read_container(sd_bus_message *m, char type, const char *contents, json_t **ret) {
        _cleanup_json_ json_t *result = NULL;
        bool dict = type == 'a' && contents[0] == '{' && contents[1] == 's';
        int r;

        r = sd_bus_message_enter_container(m, type, contents);
        if (r < 0)
                return r;

        if (type == 'v') {
                r = bus_message_read_json(m, &result);
                if (r < 0)
                        return r;
        } else if (dict) {
                char entry[64];
                size_t n = strlen(contents);

                /* contents is "{sv}" (or "{s…}"): the entry's signature is what is inside the braces */
                if (n < 3 || n - 2 >= sizeof(entry))
                        return -EINVAL;
                memcpy(entry, contents + 1, n - 2);
                entry[n - 2] = '\0';
                result = json_object();
                if (!result)
                        return -ENOMEM;
                while ((r = sd_bus_message_enter_container(m, 'e', entry)) > 0) {
                        const char *key;
                        json_t *v = NULL;

                        r = sd_bus_message_read_basic(m, 's', &key);
                        if (r < 0)
                                return r;
                        r = bus_message_read_json(m, &v);
                        if (r < 0)
                                return r;
                        if (json_object_set_new(result, key, v) < 0)
                                return -ENOMEM;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                }
                if (r < 0)
                        return r;
        } else {
                result = json_array();
                if (!result)
                        return -ENOMEM;
                for (;;) {
                        json_t *v = NULL;

                        r = sd_bus_message_at_end(m, false);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                break;
                        r = bus_message_read_json(m, &v);
                        if (r < 0)
                                return r;
                        if (json_array_append_new(result, v) < 0)
                                return -ENOMEM;
                }
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(result);
        return 0;
}

int bus_message_read_json(sd_bus_message *m, json_t **ret) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;
        if (type == 'a' || type == 'v' || type == 'r' || type == 'e')
                return read_container(m, type, contents, ret);
        if (type == 'h')
                return -EOPNOTSUPP;
        return read_basic(m, type, ret);
}
