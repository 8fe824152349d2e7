/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small file-descriptor helpers shared by the daemon and the clients. */

#include <stddef.h>
#include <sys/types.h>

/* Writes all @n bytes of @p to @fd (retrying on EINTR and short writes). 0 or a negative errno. */
int loop_write(int fd, const void *p, size_t n);

/* Replacing a file atomically: tmpfile_open_for() creates a hidden temporary file ".#NAMEXXXXXX" in
 * @path's directory with @mode, returns its fd and stores its name in *ret_tmp (free() it); the
 * caller writes to it, then hands the outcome of that to tmpfile_commit(), which (when @r ≥ 0)
 * fsyncs and renames the file over @path, and otherwise, or when that fails, unlinks it. A reader of
 * @path sees the old file or the new one, never half of one. Both return 0/fd or a negative errno. */
int tmpfile_open_for(const char *path, mode_t mode, char **ret_tmp);
int tmpfile_commit(int fd, const char *tmp, const char *path, int r);
