/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <glib.h>
#include <sys/stat.h>

#include "log.h"
#include "metrics-format.h"
#include "metrics-textfile.h"

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int replace_file(const char *path, const char *text) {
        g_autofree char *dir = g_path_get_dirname(path), *base = g_path_get_basename(path), *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        /* Hidden and without the .prom suffix: the collector never reads a half-written file. */
        tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = RET_NERRNO(fchmod(fd, 0644));
        if (r >= 0)
                r = write_all(fd, text, strlen(text));
        if (r >= 0)
                r = RET_NERRNO(fsync(fd));
        if (r >= 0)
                r = RET_NERRNO(rename(tmp, path));
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int metrics_textfile_write(Store *s, const char *path) {
        RunFilter f = {.all_users = true, .include_warmup = true};
        _cleanup_json_ json_t *groups = NULL;
        g_autofree char *text = NULL;
        int r;

        if (!path)
                return 0;
        r = store_aggregate_runs(s, &f, &groups);
        if (r < 0)
                return log_warning_errno(r, "Failed to aggregate the runs for %s: %m", path);
        text = metrics_format(groups, METRICS_SYNTAX_PROMETHEUS);
        r = replace_file(path, text);
        if (r < 0)
                return log_warning_errno(r, "Failed to write the metrics to %s: %m", path);
        log_debug("Wrote the metrics to %s.", path);
        return 0;
}
