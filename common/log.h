/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Minimal systemd-style logging to stderr. When stderr is connected to the journal
 * (JOURNAL_STREAM is set, as under systemd) every line carries a "<N>" priority prefix that
 * journald understands; otherwise lines are prefixed with the program name. */

#include <syslog.h>

#include "macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_program_name(const char *name);
/* Parses "debug", "info", …, or a number 0-7. Returns the level, or -EINVAL. */
int log_level_from_string(const char *s);

/* Logs at @level and returns @error (a negative errno, or 0). "%m" in @format expands to the
 * message of -error. */
int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...)
        _printf_(6, 7);

#define log_full_errno(level, error, ...)                                                   \
        ({                                                                                  \
                int _l_ = (level), _e_ = (error);                                           \
                _l_ <= log_get_max_level()                                                  \
                        ? log_internal(_l_, _e_, __FILE__, __LINE__, __func__, __VA_ARGS__) \
                        : (_e_ > 0 ? -_e_ : _e_);                                           \
        })

#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...)   log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...)    log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_notice_errno(error, ...)  log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, error, __VA_ARGS__)

#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")
