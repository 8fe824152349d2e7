/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <glib.h>
#include <sys/stat.h>

#include "io-util.h"
#include "log.h"
#include "metrics-format.h"
#include "metrics-textfile.h"

static int replace_file(const char *path, const char *text) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;

        /* Hidden and without the .prom suffix: the collector never reads a half-written file. */
        fd = tmpfile_open_for(path, 0644, &tmp);
        if (fd < 0)
                return fd;
        return tmpfile_commit(fd, tmp, path, loop_write(fd, text, strlen(text)));
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
