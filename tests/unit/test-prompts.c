/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prompt composition (exactly the original lab's) and preset ids and lookups. */
#include <glib.h>
#include <glib/gstdio.h>

#include "json-util.h"
#include "prompts.h"

static void test_compose_base_only(void) {
        g_autofree char *s = prompt_compose_system("You are terse.", NULL, NULL);

        g_assert_cmpstr(s, ==, "You are terse.");
}

static void test_compose_nothing(void) {
        g_autofree char *s = prompt_compose_system(NULL, "", NULL);

        g_assert_cmpstr(s, ==, "");
}

static void test_compose_context_wraps(void) {
        g_autofree char *a = prompt_compose_system("Base", "A said hi", NULL);
        g_autofree char *b = prompt_compose_system(NULL, "A said hi", NULL);
        g_autofree char *c =
                prompt_compose_system("Base", "<conversation_context>\nkept\n</conversation_context>", NULL);

        g_assert_cmpstr(a, ==, "Base\n\n<conversation_context>\nA said hi\n</conversation_context>");
        g_assert_cmpstr(b, ==, "<conversation_context>\nA said hi\n</conversation_context>");
        /* already tagged: appended unchanged */
        g_assert_cmpstr(c, ==, "Base\n\n<conversation_context>\nkept\n</conversation_context>");
}

static void test_compose_injections(void) {
        g_autoptr(LabRequest) r = lab_request_new();
        g_autofree char *s = NULL, *t = NULL;

        lab_request_add_injection(r, "memory", "Likes cats.");
        lab_request_add_injection(r, "", "Second.");
        s = prompt_compose_system("Base", "ctx", r);
        g_assert_cmpstr(s, ==,
                        "Base\n\n<conversation_context>\nctx\n</"
                        "conversation_context>\n\n---\n\n[memory]\nLikes cats."
                        "\n\n---\n\n[Unknown Injection]\nSecond.");
        /* no base and no context: the first injection starts the message, no separator */
        t = prompt_compose_system(NULL, NULL, r);
        g_assert_cmpstr(t, ==, "[memory]\nLikes cats.\n\n---\n\n[Unknown Injection]\nSecond.");
}

static void test_ids(void) {
        const char *good[] = {"concise", "persona-tutor", "a.b_c", "X1"};
        const char *bad[] = {"",   "../x", "/etc/passwd", ".hidden",    "a/b",
                             "..", "a..b", "-rf",         "with space", "tab\tid"};

        for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
                g_assert_true(prompt_id_is_valid(good[i]));
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
                g_assert_false(prompt_id_is_valid(bad[i]));
        g_assert_false(prompt_id_is_valid(NULL));
}

static void write_file(const char *dir, const char *name, const char *text) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void test_catalog(void) {
        g_autofree char *root = g_dir_make_tmp("llmlab-prompts-XXXXXX", NULL);
        g_autofree char *builtin = g_build_filename(root, "builtin", NULL),
                        *local = g_build_filename(root, "local", NULL);
        _cleanup_(prompt_catalog_freep) PromptCatalog *c = NULL;
        _cleanup_lab_error_ LabError err = LAB_ERROR_INIT;
        _cleanup_json_ json_t *list = NULL;
        g_autofree char *text = NULL, *outside = g_build_filename(root, "secret.md", NULL);
        g_autofree char *link = g_build_filename(builtin, "link.md", NULL);

        g_assert_cmpint(g_mkdir(builtin, 0755), ==, 0);
        g_assert_cmpint(g_mkdir(local, 0755), ==, 0);
        write_file(builtin, "plain.md", "# Plain\nBe plain.\n");
        write_file(builtin, "shared.md", "builtin shared\n");
        write_file(local, "shared.txt", "local shared\n");
        write_file(builtin, "ignored.json", "{}");
        write_file(root, "secret.md", "never\n");
        g_assert_cmpint(symlink(outside, link), ==, 0);

        g_assert_cmpint(prompt_catalog_new(builtin, local, &c), ==, 0);
        g_assert_cmpint(prompt_catalog_list(c, &list), ==, 0);
        g_assert_cmpuint(json_array_size(list), ==, 2); /* plain, shared; not the json, not the symlink */
        g_assert_cmpstr(json_get_string(json_array_get(list, 0), "id"), ==, "plain");
        g_assert_cmpstr(json_get_string(json_array_get(list, 0), "title"), ==, "Plain");
        g_assert_cmpstr(json_get_string(json_array_get(list, 1), "origin"), ==, "local");

        g_assert_cmpint(prompt_catalog_get(c, "shared", &text, &err), ==, 0);
        g_assert_cmpstr(text, ==, "local shared\n");
        g_assert_cmpint(prompt_catalog_get(c, "link", NULL, &err), <, 0); /* symlinks are not followed */
        g_assert_cmpint(err.code, ==, LAB_ERROR_NO_SUCH_PROMPT);
        lab_error_clear(&err);
        g_assert_cmpint(prompt_catalog_get(c, "../secret", NULL, &err), <, 0);
        g_assert_cmpint(err.code, ==, LAB_ERROR_NO_SUCH_PROMPT);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/prompts/compose/base-only", test_compose_base_only);
        g_test_add_func("/prompts/compose/nothing", test_compose_nothing);
        g_test_add_func("/prompts/compose/context", test_compose_context_wraps);
        g_test_add_func("/prompts/compose/injections", test_compose_injections);
        g_test_add_func("/prompts/ids", test_ids);
        g_test_add_func("/prompts/catalog", test_catalog);
        return g_test_run();
}
