/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Reading sysfs under a root prefix: "/sys" normally, $LLMLAB_SYSFS_ROOT in tests, so that a fake
 * tree in a temporary directory stands in for the kernel's. Library-like: logs at debug level
 * only and returns negative errnos; callers decide what is worth a warning. */

#include "macro.h"

/* $LLMLAB_SYSFS_ROOT when set and non-empty, "/sys" otherwise. */
const char *sysfs_root(void);

/* Joins @root (NULL: sysfs_root()) and the relative @path ("class/powercap"). */
int sysfs_path(const char *root, const char *path, char **ret);

/* Reads the first line of a small attribute file, without the trailing newline. */
int sysfs_read_string(const char *path, char **ret);

/* Reads a decimal unsigned 64-bit attribute (one line, optional trailing newline). */
int sysfs_read_u64(const char *path, uint64_t *ret);

/* Reads a decimal unsigned 64-bit value from an open attribute with pread() at offset 0: the cheap
 * way to re-read a counter (sysfs regenerates the value on every read from offset 0; the fd stays
 * open, no path lookup). Returns -ENODATA for an empty read, -EINVAL for a malformed value. */
int sysfs_pread_u64(int fd, uint64_t *ret);

/* Parses a decimal u64 as sysfs prints it: digits, optionally followed by whitespace. */
int sysfs_parse_u64(const char *s, uint64_t *ret);

/* The human-readable reason an attribute could not be used, from the negative errno of the failed
 * open or read: "permission denied" (-EACCES, -EPERM), "missing" (-ENOENT), otherwise
 * "unreadable: <strerror>" (e.g. "unreadable: Is a directory"). Returns NULL only on OOM. */
char *sysfs_error_reason(int error);
