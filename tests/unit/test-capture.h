/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdio.h>

/* Runs @stmt with @f a memory FILE and stores what it wrote in @var (g_free() or free() it). */
#define CAPTURE(var, f, stmt)                            \
        do {                                             \
                char *_buf = NULL;                       \
                size_t _size = 0;                        \
                FILE *f = open_memstream(&_buf, &_size); \
                g_assert_nonnull(f);                     \
                stmt;                                    \
                g_assert_cmpint(fclose(f), ==, 0);       \
                var = _buf;                              \
        } while (0)
