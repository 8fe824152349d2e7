/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Replays inputs through a libFuzzer target without libFuzzer, so that the seed corpus is a regression
 * test in every build, with any compiler. Arguments are files or directories (every regular file in
 * them, sorted). Prints TAP; a failing input aborts inside the target. */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int collect(const char *path, GPtrArray *files) {
        struct dirent **entries = NULL;
        struct stat st;
        int n;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "Bail out! Cannot access %s: %m\n", path);
                return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
                g_ptr_array_add(files, g_strdup(path));
                return 0;
        }

        n = scandir(path, &entries, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "Bail out! Cannot read directory %s: %m\n", path);
                return -1;
        }
        for (int i = 0; i < n; i++) {
                g_autofree char *p = g_build_filename(path, entries[i]->d_name, NULL);

                if (entries[i]->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode))
                        g_ptr_array_add(files, g_steal_pointer(&p));
                free(entries[i]);
        }
        free(entries);
        return 0;
}

int main(int argc, char *argv[]) {
        g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);

        for (int i = 1; i < argc; i++)
                if (collect(argv[i], files) < 0)
                        return EXIT_FAILURE;

        if (files->len == 0) {
                printf("Bail out! No inputs\n");
                return EXIT_FAILURE;
        }

        printf("1..%u\n", files->len);
        for (unsigned i = 0; i < files->len; i++) {
                const char *f = files->pdata[i];
                g_autoptr(GError) error = NULL;
                g_autofree char *contents = NULL;
                gsize size;

                if (!g_file_get_contents(f, &contents, &size, &error)) {
                        printf("not ok %u - %s # %s\n", i + 1, f, error->message);
                        continue;
                }

                printf("# %s\n", f);
                fflush(stdout); /* the input's name must be visible if it crashes */
                (void) LLVMFuzzerTestOneInput((const uint8_t *) contents, size);
                printf("ok %u - %s (%zu bytes)\n", i + 1, f, (size_t) size);
        }

        return EXIT_SUCCESS;
}
