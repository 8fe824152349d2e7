/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* llmlabd's configuration: a GKeyFile owned by root, /etc/llmlab/llmlab.conf by default,
 * $LLMLAB_CONFIG in tests. Nothing here can be changed over D-Bus: a privileged daemon must not
 * become a proxy to URLs chosen by its callers. See data/llmlab.conf.example for every key. */

#include <glib.h>

#include "lab-error.h"

typedef enum BackendKind {
        BACKEND_KIND_OLLAMA,
        BACKEND_KIND_OPENAI,
        _BACKEND_KIND_MAX,
        _BACKEND_KIND_INVALID = -EINVAL,
} BackendKind;

const char *backend_kind_to_string(BackendKind k) _const_;
BackendKind backend_kind_from_string(const char *s) _pure_;

typedef struct BackendConfig {
        char *id;
        BackendKind kind;
        char *url;     /* base URL without trailing slash */
        char *api_key; /* optional bearer token (OpenAI-compatible servers) */
} BackendConfig;

typedef struct Config {
        char *path;      /* the file read, or NULL when none existed */
        char *local_dir; /* directory of the config file: local presets live in <local_dir>/system_prompts */

        GPtrArray *backends; /* BackendConfig*, in file order; never empty */

        /* [Daemon] */
        unsigned max_runs_per_user;
        unsigned max_queue_length;
        unsigned max_batch_runs;
        unsigned linger_sec;             /* how long finished runs/jobs stay on the bus */
        unsigned first_byte_timeout_sec; /* model load + prefill may take minutes */
        unsigned idle_timeout_sec;       /* silence between two pieces of a stream */
        unsigned connect_timeout_sec;
        unsigned max_transcript_bytes; /* streamed text (answer + thinking) per run */

        /* [Energy] */
        unsigned sample_interval_ms;
        unsigned idle_window_sec;
        char *default_benchmark; /* NULL: the built-in default */

        /* [Carbon] */
        char *region; /* ISO code, "GLOBAL" by default */

        /* [Metrics] */
        char *textfile_path; /* Prometheus node-exporter textfile, NULL = off */
} Config;

/* Loads @path; when @path is NULL uses $LLMLAB_CONFIG, then /etc/llmlab/llmlab.conf. A missing file
 * that was not named explicitly gives the defaults (one backend "ollama" at
 * http://127.0.0.1:11434). Errors name the file and the line. */
int config_load(const char *path, Config **ret, LabError *error);
Config *config_free(Config *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Config, config_free)

const BackendConfig *config_find_backend(const Config *c, const char *id);

/* Returns the 1-based line of "[group]" or of "key=" inside it, or 0 (pure; exported for tests). */
unsigned config_find_line(const char *contents, const char *group, const char *key);
