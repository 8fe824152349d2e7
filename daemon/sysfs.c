/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>

#include "log.h"
#include "sysfs.h"

/* Attribute files hold one short line; counters at most 20 digits. */
#define SYSFS_LINE_MAX 4096

const char *sysfs_root(void) {
        const char *e = getenv("LLMLAB_SYSFS_ROOT");

        return isempty(e) ? "/sys" : e;
}

int sysfs_path(const char *root, const char *path, char **ret) {
        size_t l;
        char *p;

        if (!root)
                root = sysfs_root();
        while (*path == '/')
                path++;
        l = strlen(root);

        if (asprintf(&p, "%s%s%s", root, l > 0 && root[l - 1] == '/' ? "" : "/", path) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int sysfs_parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -errno;
        while (*end == '\n' || *end == ' ' || *end == '\t')
                end++;
        if (*end != '\0')
                return -EINVAL;

        *ret = (uint64_t) v;
        return 0;
}

int sysfs_pread_u64(int fd, uint64_t *ret) {
        char buf[32];
        ssize_t n;

        n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
                return negative_errno();
        if (n == 0)
                return -ENODATA;
        buf[n] = '\0';

        return sysfs_parse_u64(buf, ret);
}

int sysfs_read_string(const char *path, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        ssize_t n;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_debug_errno(negative_errno(), "Failed to open %s: %m", path);

        buf = malloc(SYSFS_LINE_MAX);
        if (!buf)
                return -ENOMEM;

        n = read(fd, buf, SYSFS_LINE_MAX - 1);
        if (n < 0)
                return log_debug_errno(negative_errno(), "Failed to read %s: %m", path);
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';

        *ret = TAKE_PTR(buf);
        return 0;
}

int sysfs_read_u64(const char *path, uint64_t *ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = sysfs_read_string(path, &s);
        if (r < 0)
                return r;

        r = sysfs_parse_u64(s, ret);
        if (r < 0)
                return log_debug_errno(r, "Failed to parse %s: %m", path);
        return 0;
}

char *sysfs_error_reason(int error) {
        char *s;

        error = error < 0 ? -error : error;
        switch (error) {
        case EACCES:
        case EPERM: return strdup("permission denied");
        case ENOENT: return strdup("missing");
        default:
                if (asprintf(&s, "unreadable: %s", strerror(error)) < 0)
                        return NULL;
                return s;
        }
}
