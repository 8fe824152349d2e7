/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <limits.h>

#include "config.h"
#include "build-config.h"
#include "log.h"

#define DEFAULT_OLLAMA_URL   "http://127.0.0.1:11434"
#define BACKEND_GROUP_PREFIX "Backend "

static const char *const backend_kind_table[_BACKEND_KIND_MAX] = {
        [BACKEND_KIND_OLLAMA] = "ollama",
        [BACKEND_KIND_OPENAI] = "openai",
};

const char *backend_kind_to_string(BackendKind k) {
        return k >= 0 && k < _BACKEND_KIND_MAX ? backend_kind_table[k] : NULL;
}

BackendKind backend_kind_from_string(const char *s) {
        for (int i = 0; s && i < _BACKEND_KIND_MAX; i++)
                if (streq(backend_kind_table[i], s))
                        return (BackendKind) i;
        return _BACKEND_KIND_INVALID;
}

static void backend_config_free(gpointer p) {
        BackendConfig *b = p;

        if (!b)
                return;
        g_free(b->id);
        g_free(b->url);
        g_free(b->api_key);
        g_free(b);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        g_free(c->path);
        g_free(c->local_dir);
        if (c->backends)
                g_ptr_array_unref(c->backends);
        g_free(c->default_benchmark);
        g_free(c->region);
        g_free(c->textfile_path);
        g_free(c);
        return NULL;
}

static Config *config_new_defaults(void) {
        Config *c = g_new0(Config, 1);

        c->backends = g_ptr_array_new_with_free_func(backend_config_free);
        c->max_runs_per_user = 4;
        c->max_queue_length = 64;
        c->max_batch_runs = 1000;
        c->linger_sec = 600;
        c->first_byte_timeout_sec = 300;
        c->idle_timeout_sec = 60;
        c->connect_timeout_sec = 10;
        c->max_transcript_bytes = 16U * 1024U * 1024U;
        c->sample_interval_ms = 10;
        c->idle_window_sec = 30;
        c->region = g_strdup("GLOBAL");
        return c;
}

static void add_backend(Config *c, const char *id, BackendKind kind, const char *url, const char *api_key) {
        BackendConfig *b = g_new0(BackendConfig, 1);
        size_t n;

        b->id = g_strdup(id);
        b->kind = kind;
        b->url = g_strdup(url);
        n = strlen(b->url);
        while (n > 0 && b->url[n - 1] == '/')
                b->url[--n] = '\0';
        b->api_key = g_strdup(api_key);
        g_ptr_array_add(c->backends, b);
}

static bool line_is_group(const char *l, size_t n) {
        return n >= 2 && l[0] == '[' && l[n - 1] == ']';
}

static bool line_is_key(const char *l, size_t n) {
        const char *eq = memchr(l, '=', n);

        return eq && eq > l;
}

unsigned config_find_line(const char *contents, const char *group, const char *key) {
        unsigned lineno = 0;
        bool in_group = false;

        for (const char *p = contents; p && *p;) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t) (nl - p) : strlen(p);
                g_autofree char *line = g_strstrip(g_strndup(p, n));
                size_t len = strlen(line);

                lineno++;
                if (line_is_group(line, len)) {
                        in_group = strlen(group) == len - 2 && strncmp(line + 1, group, len - 2) == 0;
                        if (in_group && !key)
                                return lineno;
                } else if (in_group && key && line_is_key(line, len)) {
                        g_autofree char *k = g_strstrip(g_strndup(line, strchr(line, '=') - line));

                        if (streq(k, key))
                                return lineno;
                }
                p = nl ? nl + 1 : NULL;
        }
        return 0;
}

/* GKeyFile silently merges a section given twice: find the second header (0 if none). */
static unsigned find_duplicate_group_line(const char *contents) {
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        unsigned lineno = 0;

        for (const char *p = contents; p && *p;) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t) (nl - p) : strlen(p);
                g_autofree char *line = g_strstrip(g_strndup(p, n));

                lineno++;
                if (line_is_group(line, strlen(line)) && !g_hash_table_add(seen, g_strdup(line)))
                        return lineno;
                p = nl ? nl + 1 : NULL;
        }
        return 0;
}

/* The first line GKeyFile cannot parse: not blank, not a comment, not a group, not key=value. */
static unsigned find_syntax_error_line(const char *contents) {
        unsigned lineno = 0;

        for (const char *p = contents; p && *p;) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t) (nl - p) : strlen(p);
                g_autofree char *line = g_strstrip(g_strndup(p, n));
                size_t len = strlen(line);

                lineno++;
                if (len > 0 && line[0] != '#' && line[0] != ';' && !line_is_group(line, len) &&
                    !line_is_key(line, len))
                        return lineno;
                p = nl ? nl + 1 : NULL;
        }
        return 0;
}

typedef struct Parser {
        const char *path;
        const char *contents;
        GKeyFile *kf;
        LabError *error;
} Parser;

static int parser_fail(Parser *p, const char *group, const char *key, const char *format, ...)
        _printf_(4, 5);

static int parser_fail(Parser *p, const char *group, const char *key, const char *format, ...) {
        g_autofree char *msg = NULL;
        unsigned line = group ? config_find_line(p->contents, group, key) : 0;
        va_list ap;

        va_start(ap, format);
        msg = g_strdup_vprintf(format, ap);
        va_end(ap);

        if (line > 0)
                return lab_error_set(p->error, LAB_ERROR_INVALID_ARGUMENT, "%s:%u: %s", p->path, line, msg);
        return lab_error_set(p->error, LAB_ERROR_INVALID_ARGUMENT, "%s: %s", p->path, msg);
}

static int get_uint(Parser *p, const char *group, const char *key, unsigned min, unsigned max,
                    unsigned *ret) {
        g_autofree char *s = g_key_file_get_string(p->kf, group, key, NULL);
        guint64 v;

        if (!s)
                return 0;
        g_strstrip(s);
        if (!g_ascii_string_to_unsigned(s, 10, min, max, &v, NULL))
                return parser_fail(p, group, key, "%s= must be a whole number between %u and %u, not \"%s\"",
                                   key, min, max, s);
        *ret = (unsigned) v;
        return 0;
}

static int get_string(Parser *p, const char *group, const char *key, char **ret) {
        g_autofree char *s = g_key_file_get_string(p->kf, group, key, NULL);

        if (!s)
                return 0;
        g_strstrip(s);
        if (isempty(s))
                return parser_fail(p, group, key, "%s= must not be empty", key);
        g_free(*ret);
        *ret = TAKE_PTR(s);
        return 0;
}

static bool strv_contains(const char *const *l, const char *s) {
        for (; l && *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

static int check_keys(Parser *p, const char *group, const char *const *known) {
        g_auto(GStrv) keys = g_key_file_get_keys(p->kf, group, NULL, NULL);

        for (char **k = keys; k && *k; k++)
                if (!strv_contains(known, *k))
                        return parser_fail(p, group, *k, "unknown key \"%s\" in [%s]", *k, group);
        return 0;
}

static bool backend_id_valid(const char *id) {
        if (isempty(id) || strlen(id) > 64)
                return false;
        for (const char *c = id; *c; c++)
                if (!g_ascii_isalnum(*c) && !strchr("_-.", *c))
                        return false;
        return true;
}

static int parse_backend(Parser *p, Config *c, const char *group) {
        static const char *const known[] = {"Kind", "Url", "ApiKey", NULL};
        const char *id = group + strlen(BACKEND_GROUP_PREFIX);
        g_autofree char *kind_s = NULL, *url = NULL, *api_key = NULL;
        BackendKind kind;
        int r;

        r = check_keys(p, group, known);
        if (r < 0)
                return r;
        if (!backend_id_valid(id))
                return parser_fail(p, group, NULL,
                                   "invalid backend id \"%s\" (letters, digits, '_', '-' and '.' only)", id);
        if (config_find_backend(c, id))
                return parser_fail(p, group, NULL, "backend \"%s\" is defined twice", id);

        r = get_string(p, group, "Kind", &kind_s);
        if (r < 0)
                return r;
        kind = kind_s ? backend_kind_from_string(kind_s) : BACKEND_KIND_OLLAMA;
        if (kind < 0)
                return parser_fail(p, group, "Kind", "Kind= must be \"ollama\" or \"openai\", not \"%s\"",
                                   kind_s);

        r = get_string(p, group, "Url", &url);
        if (r < 0)
                return r;
        if (!url)
                return parser_fail(p, group, NULL, "[%s] needs Url=", group);
        if (!startswith(url, "http://") && !startswith(url, "https://"))
                return parser_fail(p, group, "Url", "Url= must start with http:// or https://, not \"%s\"",
                                   url);

        r = get_string(p, group, "ApiKey", &api_key);
        if (r < 0)
                return r;

        add_backend(c, id, kind, url, api_key);
        return 0;
}

static int parse_daemon(Parser *p, Config *c) {
        static const char *const known[] = {
                "MaxRunsPerUser",    "MaxQueueLength",      "MaxBatchRuns",
                "LingerSec",         "FirstByteTimeoutSec", "IdleTimeoutSec",
                "ConnectTimeoutSec", "MaxTranscriptBytes",  NULL,
        };
        int r;

        r = check_keys(p, "Daemon", known);
        if (r >= 0)
                r = get_uint(p, "Daemon", "MaxRunsPerUser", 1, 1024, &c->max_runs_per_user);
        if (r >= 0)
                r = get_uint(p, "Daemon", "MaxQueueLength", 1, 100000, &c->max_queue_length);
        if (r >= 0)
                r = get_uint(p, "Daemon", "MaxBatchRuns", 1, 100000, &c->max_batch_runs);
        if (r >= 0)
                r = get_uint(p, "Daemon", "LingerSec", 0, 86400, &c->linger_sec);
        if (r >= 0)
                r = get_uint(p, "Daemon", "FirstByteTimeoutSec", 1, 86400, &c->first_byte_timeout_sec);
        if (r >= 0)
                r = get_uint(p, "Daemon", "IdleTimeoutSec", 1, 86400, &c->idle_timeout_sec);
        if (r >= 0)
                r = get_uint(p, "Daemon", "ConnectTimeoutSec", 1, 600, &c->connect_timeout_sec);
        if (r >= 0)
                r = get_uint(p, "Daemon", "MaxTranscriptBytes", 1024, 1024U * 1024U * 1024U,
                             &c->max_transcript_bytes);
        return r;
}

static int parse_energy(Parser *p, Config *c) {
        static const char *const known[] = {"SampleIntervalMs", "IdleWindowSec", "DefaultBenchmark", NULL};
        int r;

        r = check_keys(p, "Energy", known);
        if (r >= 0)
                r = get_uint(p, "Energy", "SampleIntervalMs", 1, 10000, &c->sample_interval_ms);
        if (r >= 0)
                r = get_uint(p, "Energy", "IdleWindowSec", 1, 3600, &c->idle_window_sec);
        if (r >= 0)
                r = get_string(p, "Energy", "DefaultBenchmark", &c->default_benchmark);
        return r;
}

static int parse_carbon(Parser *p, Config *c) {
        static const char *const known[] = {"Region", NULL};
        int r;

        r = check_keys(p, "Carbon", known);
        if (r >= 0)
                r = get_string(p, "Carbon", "Region", &c->region);
        if (r >= 0)
                for (char *s = c->region; *s; s++)
                        *s = g_ascii_toupper(*s);
        return r;
}

static int parse_metrics(Parser *p, Config *c) {
        static const char *const known[] = {"TextfilePath", NULL};
        int r;

        r = check_keys(p, "Metrics", known);
        if (r >= 0)
                r = get_string(p, "Metrics", "TextfilePath", &c->textfile_path);
        if (r >= 0 && c->textfile_path && !g_path_is_absolute(c->textfile_path))
                return parser_fail(p, "Metrics", "TextfilePath", "TextfilePath= must be an absolute path");
        return r;
}

static int parse_contents(Parser *p, Config *c) {
        g_autoptr(GError) gerr = NULL;
        g_auto(GStrv) groups = NULL;
        int r;

        if (!g_key_file_load_from_data(p->kf, p->contents, (gsize) -1, G_KEY_FILE_NONE, &gerr)) {
                unsigned line = find_syntax_error_line(p->contents);

                if (line > 0)
                        return lab_error_set(p->error, LAB_ERROR_INVALID_ARGUMENT, "%s:%u: %s", p->path,
                                             line, gerr->message);
                return lab_error_set(p->error, LAB_ERROR_INVALID_ARGUMENT, "%s: %s", p->path, gerr->message);
        }

        r = (int) find_duplicate_group_line(p->contents);
        if (r > 0)
                return lab_error_set(p->error, LAB_ERROR_INVALID_ARGUMENT,
                                     "%s:%d: this section was already given above", p->path, r);

        groups = g_key_file_get_groups(p->kf, NULL);
        for (char **g = groups; g && *g; g++) {
                if (streq(*g, "Daemon"))
                        r = parse_daemon(p, c);
                else if (streq(*g, "Energy"))
                        r = parse_energy(p, c);
                else if (streq(*g, "Carbon"))
                        r = parse_carbon(p, c);
                else if (streq(*g, "Metrics"))
                        r = parse_metrics(p, c);
                else if (startswith(*g, BACKEND_GROUP_PREFIX))
                        r = parse_backend(p, c, *g);
                else
                        r = parser_fail(
                                p, *g, NULL,
                                "unknown section [%s] (known: [Daemon], [Energy], [Carbon], [Metrics], "
                                "[Backend ID])",
                                *g);
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_load(const char *path, Config **ret, LabError *error) {
        g_autoptr(Config) c = config_new_defaults();
        g_autoptr(GError) gerr = NULL;
        g_autofree char *contents = NULL;
        bool explicit = true;
        int r;

        if (!path)
                path = getenv("LLMLAB_CONFIG");
        if (isempty(path)) {
                path = LLMLAB_SYSCONFDIR "/llmlab.conf";
                explicit = false;
        }
        c->local_dir = g_path_get_dirname(path);

        if (!g_file_get_contents(path, &contents, NULL, &gerr)) {
                if (!explicit && g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                        log_debug("No configuration file %s, using defaults.", path);
                        add_backend(c, "ollama", BACKEND_KIND_OLLAMA, DEFAULT_OLLAMA_URL, NULL);
                        *ret = TAKE_PTR(c);
                        return 0;
                }
                return lab_error_set(error, LAB_ERROR_INVALID_ARGUMENT, "Failed to read %s: %s", path,
                                     gerr->message);
        }

        c->path = g_strdup(path);
        {
                g_autoptr(GKeyFile) kf = g_key_file_new();
                Parser p = {.path = path, .contents = contents, .kf = kf, .error = error};

                r = parse_contents(&p, c);
                if (r < 0)
                        return r;
        }

        if (c->backends->len == 0)
                add_backend(c, "ollama", BACKEND_KIND_OLLAMA, DEFAULT_OLLAMA_URL, NULL);

        *ret = TAKE_PTR(c);
        return 0;
}

const BackendConfig *config_find_backend(const Config *c, const char *id) {
        for (guint i = 0; c && id && i < c->backends->len; i++) {
                const BackendConfig *b = g_ptr_array_index(c->backends, i);

                if (streq(b->id, id))
                        return b;
        }
        return NULL;
}
