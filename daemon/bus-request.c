/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>

#include "bus-errors.h"
#include "bus-request.h"

static const char *field_signature(BusFieldType t) {
        switch (t) {
        case BUS_FIELD_STRING: return "s";
        case BUS_FIELD_BOOL: return "b";
        case BUS_FIELD_UINT32: return "u";
        case BUS_FIELD_INT64: return "x";
        case BUS_FIELD_UINT64: return "t";
        case BUS_FIELD_DOUBLE: return "d";
        }
        return "?";
}

static int invalid(sd_bus_error *error, const char *format, ...) _printf_(2, 3);
static int invalid(sd_bus_error *error, const char *format, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, format);
        msg = g_strdup_vprintf(format, ap);
        va_end(ap);
        return bus_error_setf_lab(error, LAB_ERROR_INVALID_ARGUMENT, "%s", msg);
}

static int read_field(sd_bus_message *m, const BusField *f, void *target) {
        void *p = (uint8_t *) target + f->offset;
        int r;

        switch (f->type) {
        case BUS_FIELD_STRING: {
                const char *s;

                r = sd_bus_message_read_basic(m, 's', &s);
                if (r < 0)
                        return r;
                g_free(*(char **) p);
                *(char **) p = g_strdup(s);
                break;
        }
        case BUS_FIELD_BOOL: {
                int b;

                r = sd_bus_message_read_basic(m, 'b', &b);
                if (r < 0)
                        return r;
                *(bool *) p = b;
                break;
        }
        case BUS_FIELD_UINT32: r = sd_bus_message_read_basic(m, 'u', p); break;
        case BUS_FIELD_INT64: r = sd_bus_message_read_basic(m, 'x', p); break;
        case BUS_FIELD_UINT64: r = sd_bus_message_read_basic(m, 't', p); break;
        case BUS_FIELD_DOUBLE: r = sd_bus_message_read_basic(m, 'd', p); break;
        default: return -EINVAL;
        }
        if (r < 0)
                return r;
        if (f->set_offset >= 0)
                *(bool *) ((uint8_t *) target + f->set_offset) = true;
        return 0;
}

/* Handles one dictionary entry whose key is already read; *ret_handled = false for unknown keys. */
static int read_entry(sd_bus_message *m, const char *key, const BusField *fields, size_t n_fields,
                      void *target, GHashTable *seen, const char *what, bool *ret_handled,
                      sd_bus_error *error) {
        const char *contents;
        int r;

        *ret_handled = false;
        for (size_t i = 0; i < n_fields; i++) {
                if (!streq(fields[i].key, key))
                        continue;
                *ret_handled = true;
                if (!g_hash_table_add(seen, (gpointer) fields[i].key))
                        return invalid(error, "%s key \"%s\" given twice", what, key);
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                if (!streq(contents, field_signature(fields[i].type)))
                        return invalid(error, "%s key \"%s\" must be of type '%s', not '%s'", what, key,
                                       field_signature(fields[i].type), contents);
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;
                r = read_field(m, &fields[i], target);
                if (r < 0)
                        return r;
                return sd_bus_message_exit_container(m);
        }
        return 0;
}

typedef int (*extra_field_fn)(sd_bus_message *m, const char *key, void *target, bool *ret_handled,
                              sd_bus_error *error);

static int read_dict_full(sd_bus_message *m, const BusField *fields, size_t n_fields, void *target,
                          const char *what, extra_field_fn extra, sd_bus_error *error) {
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;
                bool handled = false;

                r = sd_bus_message_read_basic(m, 's', &key);
                if (r < 0)
                        return r;
                if (extra) {
                        r = extra(m, key, target, &handled, error);
                        if (r < 0)
                                return r;
                }
                if (!handled) {
                        r = read_entry(m, key, fields, n_fields, target, seen, what, &handled, error);
                        if (r < 0)
                                return r;
                }
                if (!handled)
                        return invalid(error, "unknown %s key \"%s\"", what, key);
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int bus_read_dict(sd_bus_message *m, const BusField *fields, size_t n_fields, void *target, const char *what,
                  sd_bus_error *error) {
        return read_dict_full(m, fields, n_fields, target, what, NULL, error);
}

/* Keys of the request that need more than a plain copy. */
static int read_request_extra(sd_bus_message *m, const char *key, void *target, bool *ret_handled,
                              sd_bus_error *error) {
        LabRequest *req = target;
        const char *contents, *desc, *content, *s;
        int r;

        if (!streq(key, "injections") && !streq(key, "measure"))
                return 0;
        *ret_handled = true;

        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;

        if (streq(key, "measure")) {
                MeasureMode mode;

                if (!streq(contents, "s"))
                        return invalid(error, "request key \"measure\" must be of type 's', not '%s'",
                                       contents);
                r = sd_bus_message_read(m, "v", "s", &s);
                if (r < 0)
                        return r;
                mode = measure_mode_from_string(s);
                if (mode < 0)
                        return invalid(error,
                                       "request key \"measure\" must be \"off\", \"live\", \"estimate\" or "
                                       "\"auto\", not \"%s\"",
                                       s);
                req->measure = mode;
                return 0;
        }

        if (lab_request_n_injections(req) > 0)
                return invalid(error, "request key \"injections\" given twice");
        if (!streq(contents, "a(ss)"))
                return invalid(error, "request key \"injections\" must be of type 'a(ss)', not '%s'",
                               contents);
        r = sd_bus_message_enter_container(m, 'v', "a(ss)");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'a', "(ss)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(ss)", &desc, &content)) > 0) {
                if (lab_request_n_injections(req) >= REQUEST_MAX_INJECTIONS)
                        return invalid(error, "too many injections (at most %u)", REQUEST_MAX_INJECTIONS);
                lab_request_add_injection(req, desc, content);
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int bus_read_request(sd_bus_message *m, LabRequest **ret, sd_bus_error *error) {
        static const BusField fields[] = {
                {"model", BUS_FIELD_STRING, offsetof(LabRequest, model), -1},
                {"backend", BUS_FIELD_STRING, offsetof(LabRequest, backend), -1},
                {"system_prompt", BUS_FIELD_STRING, offsetof(LabRequest, system_prompt), -1},
                {"system_prompt_id", BUS_FIELD_STRING, offsetof(LabRequest, system_prompt_id), -1},
                {"user_prompt", BUS_FIELD_STRING, offsetof(LabRequest, user_prompt), -1},
                {"conversation_context", BUS_FIELD_STRING, offsetof(LabRequest, conversation_context), -1},
                {"temperature", BUS_FIELD_DOUBLE, offsetof(LabRequest, temperature),
                 offsetof(LabRequest, has_temperature)},
                {"max_tokens", BUS_FIELD_UINT32, offsetof(LabRequest, max_tokens),
                 offsetof(LabRequest, has_max_tokens)},
                {"seed", BUS_FIELD_INT64, offsetof(LabRequest, seed), offsetof(LabRequest, has_seed)},
                {"num_ctx", BUS_FIELD_UINT32, offsetof(LabRequest, num_ctx),
                 offsetof(LabRequest, has_num_ctx)},
                {"include_thinking", BUS_FIELD_BOOL, offsetof(LabRequest, include_thinking), -1},
                {"benchmark", BUS_FIELD_STRING, offsetof(LabRequest, benchmark), -1},
                {"region", BUS_FIELD_STRING, offsetof(LabRequest, region), -1},
                {"label", BUS_FIELD_STRING, offsetof(LabRequest, label), -1},
        };
        g_autoptr(LabRequest) req = lab_request_new();
        int r;

        r = read_dict_full(m, fields, ELEMENTSOF(fields), req, "request", read_request_extra, error);
        if (r < 0)
                return r;
        if (req->has_max_tokens && req->max_tokens == 0)
                return invalid(error, "max_tokens must be between 1 and %u, not 0", REQUEST_MAX_TOKENS);
        if (req->num_ctx == 0 && req->has_num_ctx)
                return invalid(error, "num_ctx must not be 0");
        if (req->region)
                for (char *c = req->region; *c; c++)
                        *c = g_ascii_toupper(*c);
        *ret = TAKE_PTR(req);
        return 0;
}
