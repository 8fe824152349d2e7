/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-json.h"
#include "ctl-bus.h"
#include "json-util.h"
#include "log.h"

enum {
        ARG_BACKEND = ARG_VERB_BASE,
};

static const char models_help[] = "llmlabctl models [--backend ID]\n\n"
                                  "List the models of every reachable backend (or of backend ID).\n";

static const char model_info_help[] =
        "llmlabctl model-info MODEL [--backend ID]\n\n"
        "Show details of MODEL: family, parameters, quantization, context length, capabilities.\n";

static const char prompts_help[] = "llmlabctl prompts [ID]\n\n"
                                   "List the preset system prompts, or print the text of preset ID.\n";

static const struct option backend_options[] = {
        {"backend", required_argument, NULL, ARG_BACKEND},
        CTL_COMMON_OPTIONS,
        {},
};

static const struct option common_options[] = {
        CTL_COMMON_OPTIONS,
        {},
};

static int backend_handler(int c, const char *arg, void *userdata) {
        const char **backend = userdata;

        if (c != ARG_BACKEND)
                return log_error_errno(-EINVAL, "Unexpected option.");
        *backend = arg;
        return 0;
}

/* options a{sv} with the backend, if any. */
static int append_backend_options(sd_bus_message *m, const char *backend) {
        _cleanup_json_ json_t *o = json_object();
        int r;

        if (!o)
                return log_oom();
        json_set_string(o, "backend", backend);
        r = bus_message_append_json_dict(m, o);
        if (r < 0)
                return log_error_errno(r, "Failed to build the options: %m");
        return 0;
}

/* --- models ------------------------------------------------------------------------------------ */

static int models_table(json_t *models) {
        _cleanup_table_ Table *t = NULL;
        json_t *m;
        size_t i;

        t = table_new("NAME", "BACKEND", "FAMILY", "PARAMS", "QUANT", "SIZE", NULL);
        if (!t)
                return log_oom();
        table_set_align_right(t, 3, true);
        table_set_align_right(t, 5, true);
        json_array_foreach (models, i, m) {
                char size[FORMAT_MAX];

                if (table_add_row(t, json_get_string(m, "name"), json_get_string(m, "backend"),
                                  json_get_string(m, "family"), json_get_string(m, "parameter_size"),
                                  json_get_string(m, "quantization"),
                                  format_bytes(size, json_get_int(m, "size_bytes", -1))) < 0)
                        return log_oom();
        }
        if (table_get_rows(t) == 0) {
                printf("No models found.\n");
                return 0;
        }
        return table_print(t, stdout, terminal_columns(), arg_legend);
}

int verb_models(int argc, char *argv[], const Verb *verb) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_json_ json_t *models = NULL;
        _cleanup_bus_ sd_bus *bus = NULL;
        const char *backend = NULL;
        int r;

        r = verb_parse_options(verb, argc, argv, backend_options, NULL, backend_handler, &backend,
                               models_help);
        if (r <= 0)
                return r;
        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        r = ctl_new_manager_call(bus, "ListModels", &m);
        if (r < 0)
                return r;
        r = append_backend_options(m, backend);
        if (r < 0)
                return r;
        r = ctl_call(bus, m, "list models", &reply);
        if (r < 0)
                return r;
        r = ctl_read_json(reply, "list models", &models);
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF)
                return json_print(stdout, models, arg_json);
        return models_table(models);
}

/* --- model-info -------------------------------------------------------------------------------- */

static int value_to_text(json_t *v, char **ret) {
        if (json_is_string(v))
                *ret = strdup(json_string_value(v));
        else if (json_is_array(v) && json_array_size(v) > 0 && json_is_string(json_array_get(v, 0))) {
                _cleanup_free_ char *s = NULL;
                json_t *e;
                size_t i;

                json_array_foreach (v, i, e)
                        if (string_append(&s, ", ", "%s", json_is_string(e) ? json_string_value(e) : "?") <
                            0)
                                return -ENOMEM;
                *ret = TAKE_PTR(s);
        } else
                *ret = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        return *ret ? 0 : -ENOMEM;
}

static int print_model_info(json_t *info) {
        static const struct {
                const char *key;
                const char *label;
        } known[] = {
                {"name", "Name"},
                {"backend", "Backend"},
                {"family", "Family"},
                {"architecture", "Architecture"},
                {"parameter_size", "Parameters"},
                {"quantization", "Quantization"},
                {"context_length", "Context length"},
                {"capabilities", "Capabilities"},
        };
        _cleanup_kv_ KvBlock *b = kv_new();
        const char *key;
        json_t *v;

        if (!b)
                return log_oom();
        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                _cleanup_free_ char *text = NULL;

                v = json_object_get(info, known[i].key);
                if (!v)
                        continue;
                if (value_to_text(v, &text) < 0 || kv_add(b, known[i].label, text) < 0)
                        return log_oom();
        }
        /* Whatever else the daemon reports, under its own key. */
        json_object_foreach (info, key, v) {
                _cleanup_free_ char *text = NULL;
                bool is_known = false;

                for (size_t i = 0; i < ELEMENTSOF(known); i++)
                        is_known = is_known || streq(key, known[i].key);
                if (is_known)
                        continue;
                if (value_to_text(v, &text) < 0 || kv_add(b, key, text) < 0)
                        return log_oom();
        }
        return kv_print(b, stdout);
}

int verb_model_info(int argc, char *argv[], const Verb *verb) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_json_ json_t *info = NULL;
        _cleanup_bus_ sd_bus *bus = NULL;
        _cleanup_free_ char *what = NULL;
        const char *backend = NULL, *model;
        int r;

        r = verb_parse_options(verb, argc, argv, backend_options, NULL, backend_handler, &backend,
                               model_info_help);
        if (r <= 0)
                return r;
        model = argv[r];
        if (asprintf(&what, "get information on model %s", model) < 0)
                return log_oom();

        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        r = ctl_new_manager_call(bus, "GetModelInfo", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", model);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %m");
        r = append_backend_options(m, backend);
        if (r < 0)
                return r;
        r = ctl_call(bus, m, what, &reply);
        if (r < 0)
                return r;
        r = ctl_read_json(reply, what, &info);
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF)
                return json_print(stdout, info, arg_json);
        return print_model_info(info);
}

/* --- prompts ----------------------------------------------------------------------------------- */

static int prompts_list(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_json_ json_t *prompts = NULL;
        _cleanup_table_ Table *t = NULL;
        json_t *p;
        size_t i;
        int r;

        r = ctl_call_manager(bus, "ListSystemPrompts", "list the preset system prompts", &reply, NULL);
        if (r < 0)
                return r;
        r = ctl_read_json(reply, "list the preset system prompts", &prompts);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF)
                return json_print(stdout, prompts, arg_json);

        t = table_new("ID", "ORIGIN", "TITLE", NULL);
        if (!t)
                return log_oom();
        table_set_ellipsize(t, 0, false);
        json_array_foreach (prompts, i, p)
                if (table_add_row(t, json_get_string(p, "id"), json_get_string(p, "origin"),
                                  json_get_string(p, "title")) < 0)
                        return log_oom();
        if (table_get_rows(t) == 0) {
                printf("No preset system prompts.\n");
                return 0;
        }
        return table_print(t, stdout, terminal_columns(), arg_legend);
}

static int prompts_show(sd_bus *bus, const char *id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *what = NULL;
        const char *text;
        int r;

        if (asprintf(&what, "get preset %s", id) < 0)
                return log_oom();
        r = ctl_call_manager(bus, "GetSystemPrompt", what, &reply, "s", id);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return log_error_errno(r, "Failed to %s: cannot parse the reply: %m", what);

        if (arg_json != JSON_OFF) {
                _cleanup_json_ json_t *j = json_pack("{s:s, s:s}", "id", id, "text", text);

                if (!j)
                        return log_oom();
                return json_print(stdout, j, arg_json);
        }
        if (isatty(STDOUT_FILENO)) {
                _cleanup_free_ char *safe = terminal_sanitize(text, strlen(text));

                if (!safe)
                        return log_oom();
                fputs(safe, stdout);
        } else
                fputs(text, stdout);
        if (!isempty(text) && text[strlen(text) - 1] != '\n')
                fputc('\n', stdout);
        return 0;
}

int verb_prompts(int argc, char *argv[], const Verb *verb) {
        _cleanup_bus_ sd_bus *bus = NULL;
        int r, first;

        first = verb_parse_options(verb, argc, argv, common_options, NULL, NULL, NULL, prompts_help);
        if (first <= 0)
                return first;
        r = ctl_bus_connect(&bus);
        if (r < 0)
                return r;
        if (first < argc)
                return prompts_show(bus, argv[first]);
        return prompts_list(bus);
}
