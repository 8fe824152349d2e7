/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A validated run request: what a client asked for, before prompt composition. Parsed from the
 * StartRun a{sv} by bus-request.c; validated here, before anything starts. */

#include <glib.h>
#include <jansson.h>

#include "lab-error.h"

/* Limits (documented in dbus/org.llmlab.Lab1.Manager.xml and docs). */
#define REQUEST_MAX_PROMPT_BYTES    (256U * 1024U)
#define REQUEST_MAX_INJECTION_BYTES (64U * 1024U)
#define REQUEST_MAX_INJECTIONS      32U
#define REQUEST_MAX_TOTAL_BYTES     (1024U * 1024U)
#define REQUEST_MAX_SHORT_BYTES     256U /* model, backend, ids, label, region */
#define REQUEST_MAX_TOKENS          32768U
#define REQUEST_MAX_NUM_CTX         (1U << 20)

typedef enum MeasureMode {
        MEASURE_OFF,
        MEASURE_LIVE,
        MEASURE_ESTIMATE,
        MEASURE_AUTO,
        _MEASURE_MAX,
        _MEASURE_INVALID = -EINVAL,
} MeasureMode;

const char *measure_mode_to_string(MeasureMode m) _const_;
MeasureMode measure_mode_from_string(const char *s) _pure_;

typedef struct Injection {
        char *description;
        char *content;
} Injection;

typedef struct LabRequest {
        char *model;
        char *backend;
        char *system_prompt;
        char *system_prompt_id;
        char *user_prompt;
        char *conversation_context;
        GArray *injections; /* Injection */
        bool has_temperature;
        double temperature;
        bool has_max_tokens;
        uint32_t max_tokens; /* 0 = server default */
        bool has_seed;
        int64_t seed;
        bool has_num_ctx;
        uint32_t num_ctx; /* 0 = server default */
        bool include_thinking;
        MeasureMode measure;
        char *benchmark;
        char *region;
        char *label;
        bool cache_prompt_off; /* internal: ask the server not to reuse its prompt cache (jobs) */
} LabRequest;

LabRequest *lab_request_new(void);
LabRequest *lab_request_free(LabRequest *r);
LabRequest *lab_request_copy(const LabRequest *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LabRequest, lab_request_free)

void lab_request_add_injection(LabRequest *r, const char *description, const char *content);
const Injection *lab_request_injection(const LabRequest *r, size_t i);
size_t lab_request_n_injections(const LabRequest *r);

/* Checks required keys, ranges and sizes; the error names the offending key. */
int lab_request_validate(const LabRequest *r, LabError *error);

/* The request as JSON (keys as in StartRun), for storage and export. */
json_t *lab_request_to_json(const LabRequest *r);

/* True if @s is valid UTF-8 without NUL bytes (every string on the bus already is valid UTF-8). */
bool string_is_valid_text(const char *s);
