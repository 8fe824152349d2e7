/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <glib.h>
#include <sys/stat.h>

#include "log.h"
#include "prompts.h"

struct PromptCatalog {
        char *dirs[2]; /* built-in, local (local wins) */
};

static const char *const origins[2] = {"builtin", "local"};
static const char *const extensions[] = {".md", ".txt"};

int prompt_catalog_new(const char *builtin_dir, const char *local_dir, PromptCatalog **ret) {
        PromptCatalog *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->dirs[0] = builtin_dir ? strdup(builtin_dir) : NULL;
        c->dirs[1] = local_dir ? strdup(local_dir) : NULL;
        *ret = c;
        return 0;
}

PromptCatalog *prompt_catalog_free(PromptCatalog *c) {
        if (!c)
                return NULL;
        free(c->dirs[0]);
        free(c->dirs[1]);
        free(c);
        return NULL;
}

bool prompt_id_is_valid(const char *id) {
        size_t n;

        if (isempty(id) || id[0] == '.' || id[0] == '-')
                return false;
        n = strlen(id);
        if (n > 128)
                return false;
        for (const char *c = id; *c; c++)
                if (!g_ascii_isalnum(*c) && !strchr("._-", *c))
                        return false;
        return !strstr(id, "..");
}

/* Strips a known extension; returns NULL for other files. */
static char *id_from_filename(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(extensions); i++)
                if (g_str_has_suffix(name, extensions[i]) && strlen(name) > strlen(extensions[i])) {
                        char *id = g_strndup(name, strlen(name) - strlen(extensions[i]));

                        if (prompt_id_is_valid(id))
                                return id;
                        g_free(id);
                        return NULL;
                }
        return NULL;
}

/* Reads a regular file below @dir without following symlinks out of it, bounded in size. */
static int read_preset(const char *dir, const char *filename, char **ret, size_t *ret_size) {
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        g_autofree char *buf = NULL;
        struct stat st;
        ssize_t n;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();
        fd = openat(dfd, filename, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((size_t) st.st_size > PROMPT_MAX_FILE_BYTES)
                return -EFBIG;
        buf = g_malloc((size_t) st.st_size + 1);
        n = read(fd, buf, (size_t) st.st_size);
        if (n < 0)
                return negative_errno();
        buf[n] = '\0';
        if (!g_utf8_validate(buf, n, NULL) || memchr(buf, '\0', (size_t) n))
                return -EILSEQ;
        if (ret_size)
                *ret_size = (size_t) n;
        if (ret)
                *ret = TAKE_PTR(buf);
        return 0;
}

static char *first_line(const char *text) {
        const char *s = text;
        const char *nl;

        while (*s == '#' || *s == ' ' || *s == '\n')
                s++;
        nl = strchr(s, '\n');
        return g_strstrip(nl ? g_strndup(s, nl - s) : g_strdup(s));
}

static void scan_dir(const char *dir, const char *origin, GHashTable *entries) {
        g_autoptr(GDir) d = NULL;
        const char *name;

        if (!dir)
                return;
        d = g_dir_open(dir, 0, NULL);
        if (!d)
                return;
        while ((name = g_dir_read_name(d))) {
                g_autofree char *id = id_from_filename(name);
                g_autofree char *text = NULL;
                size_t size = 0;
                json_t *e;
                int r;

                if (!id)
                        continue;
                r = read_preset(dir, name, &text, &size);
                if (r < 0) {
                        log_debug_errno(r, "Ignoring preset %s/%s: %m", dir, name);
                        continue;
                }
                {
                        g_autofree char *title = first_line(text);

                        e = json_pack("{s:s, s:s, s:s, s:I}", "id", id, "title", title, "origin", origin,
                                      "bytes", (json_int_t) size);
                }
                g_hash_table_replace(entries, g_strdup(id), e);
        }
}

static gint compare_ids(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int prompt_catalog_list(PromptCatalog *c, json_t **ret) {
        g_autoptr(GHashTable) entries =
                g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_decref);
        g_autofree gpointer *keys = NULL;
        json_t *array = json_array();
        guint n = 0;

        for (size_t i = 0; i < 2; i++)
                scan_dir(c->dirs[i], origins[i], entries);

        keys = g_hash_table_get_keys_as_array(entries, &n);
        qsort(keys, n, sizeof(gpointer), compare_ids);
        for (guint i = 0; i < n; i++)
                json_array_append(array, g_hash_table_lookup(entries, keys[i]));
        *ret = array;
        return 0;
}

int prompt_catalog_get(PromptCatalog *c, const char *id, char **ret, LabError *error) {
        if (!prompt_id_is_valid(id))
                return lab_error_set(error, LAB_ERROR_NO_SUCH_PROMPT, "No system prompt preset \"%s\"",
                                     strempty(id));

        for (int i = 1; i >= 0; i--) {
                if (!c->dirs[i])
                        continue;
                for (size_t e = 0; e < ELEMENTSOF(extensions); e++) {
                        g_autofree char *filename = g_strconcat(id, extensions[e], NULL);
                        int r = read_preset(c->dirs[i], filename, ret, NULL);

                        if (r >= 0)
                                return 0;
                        if (r != -ENOENT)
                                log_warning_errno(r, "Failed to read preset %s/%s: %m", c->dirs[i],
                                                  filename);
                }
        }
        return lab_error_set(error, LAB_ERROR_NO_SUCH_PROMPT, "No system prompt preset \"%s\"", id);
}

char *prompt_compose_system(const char *base, const char *conversation_context, const LabRequest *r) {
        GString *s = g_string_new(base);

        if (!isempty(conversation_context)) {
                if (s->len > 0)
                        g_string_append(s, "\n\n");
                if (strstr(conversation_context, "<conversation_context>"))
                        g_string_append(s, conversation_context);
                else
                        g_string_append_printf(s, "<conversation_context>\n%s\n</conversation_context>",
                                               conversation_context);
        }
        for (size_t i = 0; r && i < lab_request_n_injections(r); i++) {
                const Injection *inj = lab_request_injection(r, i);

                if (s->len > 0)
                        g_string_append(s, "\n\n---\n\n");
                g_string_append_printf(s, "[%s]\n%s",
                                       isempty(inj->description) ? "Unknown Injection" : inj->description,
                                       strempty(inj->content));
        }
        return g_string_free(s, FALSE);
}
