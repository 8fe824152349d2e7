/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io-util.h"
#include "macro.h"

int loop_write(int fd, const void *p, size_t n) {
        const char *q = p;

        while (n > 0) {
                ssize_t k = write(fd, q, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                q += k;
                n -= (size_t) k;
        }
        return 0;
}

int tmpfile_open_for(const char *path, mode_t mode, char **ret_tmp) {
        _cleanup_free_ char *dir = strdup(path), *base = strdup(path), *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (!dir || !base)
                return -ENOMEM;
        if (asprintf(&tmp, "%s/.#%sXXXXXX", dirname(dir), basename(base)) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0) {
                int r = -errno;

                (void) unlink(tmp);
                return r;
        }
        *ret_tmp = TAKE_PTR(tmp);
        return TAKE_FD(fd);
}

int tmpfile_commit(int fd, const char *tmp, const char *path, int r) {
        if (r >= 0)
                r = RET_NERRNO(fsync(fd));
        if (r >= 0)
                r = RET_NERRNO(rename(tmp, path));
        if (r < 0)
                (void) unlink(tmp);
        return r;
}
