/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* llmlabd's database of results: one SQLite file, $STATE_DIRECTORY/llmlab.db by default.
 *
 * What is kept: every finished run (request, transcript, all metrics, who ran it), jobs (batches,
 * crossovers, calibrations, comparisons), custom and calibrated benchmarks, settings, and where each
 * user's current session starts.
 *
 * Durability: WAL with synchronous=NORMAL and one transaction per call. A daemon killed at any point
 * (SIGKILL included) loses nothing that a store_* call had returned success for, and the file stays
 * consistent; only a power loss or OS crash may roll back the last few transactions (never corrupt).
 *
 * Schema: PRAGMA user_version holds the schema version. store_open() migrates older files, one
 * transaction per version step, and refuses files written by a newer llmlabd.
 *
 * The store is single-threaded: it is called synchronously on the daemon's sd-event loop. Every
 * statement is prepared once and cached for the lifetime of the Store.
 *
 * Errors are negative errno values: -EINVAL bad argument, -ENOENT no such row, -EEXIST duplicate id,
 * -EPROTONOSUPPORT database from a newer version, -EBADMSG corrupt or not a database, -EBUSY locked
 * by another process (after the busy timeout) or a nested iteration, -ENOSPC disk full, -EIO other
 * I/O errors. Failures are logged at debug level with SQLite's message, except those of
 * store_open(), which are logged as errors so that an operator sees why the daemon did not start. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "json-util.h"
#include "macro.h"

#define STORE_SCHEMA_VERSION 2
#define STORE_FILE_NAME      "llmlab.db"

typedef struct Store Store;

/* Opens (and creates, mode 0600, with its parent directories, mode 0700) the database at @path, turns
 * on WAL, synchronous=NORMAL, foreign keys, a busy timeout, and migrates the schema. A file from a
 * newer llmlabd gives -EPROTONOSUPPORT, a file that is not an SQLite database (or whose header is
 * damaged) -EBADMSG: the file is never recreated or modified in these cases. Damage deeper in the file
 * shows as -EBADMSG from the call that meets it (store_check_integrity() looks for it up front). */
int store_open(const char *path, Store **ret);
Store *store_free(Store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Store *, store_free);
#define _cleanup_store_free_ _cleanup_(store_freep)

/* The file's path as given to store_open(). */
const char *store_get_path(Store *s);

/* 0 when PRAGMA integrity_check says "ok", -EBADMSG (logged) otherwise. Reads the whole file. */
int store_check_integrity(Store *s);

/* Ids to hand out next: max(id) + 1 (at least 1) over stored runs, and over stored jobs and the jobs
 * referenced by runs, so that ids stay unique across restarts. Either pointer may be NULL. */
int store_next_ids(Store *s, uint64_t *ret_next_run_id, uint64_t *ret_next_job_id);

/* ---- runs -------------------------------------------------------------------------------------- */

typedef struct StoredRun {
        uint64_t id, job_id; /* job_id 0 = none */
        uint32_t uid;
        uint64_t created_usec, finished_usec; /* CLOCK_REALTIME µs */
        const char *model, *backend, *state /* done|cancelled|failed */, *measure, *label;
        bool warmup;
        json_t *request; /* the validated request as a JSON object (keys as in StartRun); NULL = {} */
        const char *answer, *thinking;
        json_t *result; /* the Result dict as JSON (run, model, backend, state, tokens{}, timing{}, energy{},
                         * carbon{}, estimate{}, breakdown{}, provenance{}); NULL = {} */
        const char *error_name, *error_message;
} StoredRun;

/* Stores a finished run in one transaction. id, model, backend and state (done, cancelled or failed)
 * are required. The result is kept whole as JSON text; these members are also copied into columns
 * for filtering and aggregation: energy.total_wh, energy.net_total_wh, energy.measured (bool),
 * carbon.co2_g, tokens.input, tokens.output, energy.wh_per_1000_etokens. The first run of a user who
 * has no session yet starts their session. -EEXIST if the id is taken. */
int store_insert_run(Store *s, const StoredRun *run);

typedef struct RunFilter {
        bool all_users; /* false: only runs of uid */
        uint32_t uid;
        const char *model;   /* NULL: any */
        uint64_t since_usec; /* created at or after; 0: any */
        uint32_t limit;      /* newest first; 0: no limit (the bus layer applies its defaults) */
        uint64_t job_id;     /* 0: any */
        bool include_warmup; /* false: warm-up runs of batches are left out */
} RunFilter;

/* Newest first (created, then id). An array of objects: the stored result, with these keys set
 * from the run's columns: run, model, backend, state, measure, created (µs), finished (µs), uid,
 * warmup (bool), user_prompt (first 200 characters of request.user_prompt, "" if none), and, only
 * when set: label, job, error {name, message}. */
int store_list_runs(Store *s, const RunFilter *f, json_t **ret);

/* The complete record of one run (see stored_run_to_json()); -ENOENT if there is none. The caller
 * checks ownership (the record's uid). */
int store_get_run(Store *s, uint64_t id, json_t **ret_full_record);

/* The complete record: id, uid, created, finished (µs), model, backend, state, measure, warmup,
 * request {}, answer, thinking, result {}; label, job and error {name, message} only when set. */
json_t *stored_run_to_json(const StoredRun *r);

/* Calls @cb for every run matching @f, newest first, and stops at the first negative return, which
 * it returns. The StoredRun and its members are valid only during the call. @cb may call other store
 * functions, but a nested query on runs with a filter of the same shape gives -EBUSY. */
typedef int (*StoreRunFunc)(const StoredRun *run, void *userdata);
int store_foreach_run(Store *s, const RunFilter *f, StoreRunFunc cb, void *userdata);

/* Aggregates of the runs matching @f (the limit applies to the newest runs first), one object per
 * (model, backend, measured), sorted by those: model, backend, measured (bool), runs, input_tokens,
 * output_tokens, energy_runs (runs with a total_wh ≥ 0), total_wh (Σ over those), and, over the runs
 * with both a total_wh ≥ 0 and output tokens: etoken_wh, etokens. */
int store_aggregate_runs(Store *s, const RunFilter *f, json_t **ret);

/* ---- export (store-export.c) ------------------------------------------------------------------ */

typedef enum ExportFormat {
        EXPORT_FORMAT_JSON,
        EXPORT_FORMAT_CSV,
        EXPORT_FORMAT_OPENMETRICS,
        _EXPORT_FORMAT_MAX,
        _EXPORT_FORMAT_INVALID = -EINVAL,
} ExportFormat;

/* "json", "csv", "openmetrics". */
ExportFormat export_format_from_string(const char *s) _pure_;
const char *export_format_to_string(ExportFormat f) _const_;

/* The CSV header, comma-separated, without the line end. */
#define STORE_CSV_HEADER                                                                             \
        "id,created,model,backend,state,measure,label,job,warmup,input_tokens,output_tokens,"        \
        "thinking_tokens,ttft_ms,tpot_ms,e2e_ms,tokens_per_s,load_wh,prefill_wh,decode_wh,total_wh," \
        "net_total_wh,idle_w,wh_per_1000_etokens,prefill_wh_per_1000_input_tokens,"                  \
        "decode_wh_per_1000_output_tokens,j_per_output_token,co2_g,region,measured,split_method,sources"

/* Writes the runs matching @f to @fd (which stays open and owned by the caller), streamed:
 *
 * JSON: a pretty-printed array of complete records (stored_run_to_json()), newest first.
 *
 * CSV (RFC 4180: CRLF line ends; a field containing a comma, a double quote, CR or LF is quoted and
 * its double quotes doubled): the header STORE_CSV_HEADER, then one row per run, newest first. No
 * prompts and no transcripts (they belong to the JSON export). Columns:
 *   id, created (ISO 8601 UTC with microseconds, e.g. 2024-05-01T12:34:56.000123Z), model, backend,
 *   state, measure, label, job (empty when none), warmup (true|false);
 *   from the result: input_tokens, output_tokens, thinking_tokens = tokens.{input,output,thinking};
 *   ttft_ms, tpot_ms, e2e_ms, tokens_per_s = timing.*; load_wh, prefill_wh, decode_wh, total_wh,
 *   net_total_wh, idle_w, wh_per_1000_etokens, prefill_wh_per_1000_input_tokens,
 *   decode_wh_per_1000_output_tokens, j_per_output_token = energy.*; co2_g, region = carbon.*;
 *   measured, split_method, sources = energy.* (else provenance.*), sources joined with ";".
 * A value absent from the result (or null) is an empty field. Numbers are written in the shortest
 * form that reads back to the same double; booleans as true/false.
 *
 * OpenMetrics (text format 1.0.0, ending in "# EOF"), aggregated over the runs matching @f: the
 * series listed in metrics-format.h. */
int store_export_runs(Store *s, const RunFilter *f, ExportFormat format, int fd);

/* ---- sessions ----------------------------------------------------------------------------------- */

/* A user's session starts at their first stored run, or at store_clear_session(). The summary covers
 * their runs finished since then, warm-up runs excluded: runs, measured_runs, total_wh (Σ energy of
 * runs that have an energy figure), measured_wh, estimated_wh, co2_g, input_tokens, output_tokens,
 * mean_wh_per_1000_etokens (Σ total_wh ÷ Σ output tokens × 1000 over the runs with an energy figure
 * and output tokens; absent if there is none), started (µs; absent if the user never had a session). */
int store_session_summary(Store *s, uint32_t uid, json_t **ret);
/* Starts a new session at @now_usec; stored runs are kept. */
int store_clear_session(Store *s, uint32_t uid, uint64_t now_usec);

/* ---- benchmarks and settings ------------------------------------------------------------------ */

/* Custom and calibrated benchmarks (built-ins come from data files and are not stored). @benchmark
 * is a JSON object, stored as given; loading sets its "id" member to @id. */
int store_save_benchmark(Store *s, const char *id, json_t *benchmark); /* upsert */
int store_remove_benchmark(Store *s, const char *id);                  /* -ENOENT if absent */
int store_load_benchmarks(Store *s, json_t **ret_array);               /* sorted by id */

int store_get_setting(Store *s, const char *key, char **ret);        /* -ENOENT if unset */
int store_set_setting(Store *s, const char *key, const char *value); /* value NULL: unset */

/* ---- jobs --------------------------------------------------------------------------------------- */

typedef struct StoredJob {
        uint64_t id;
        uint32_t uid;
        const char *kind, *state;             /* kind: batch|crossover|calibration|comparison */
        uint64_t created_usec, finished_usec; /* finished 0: still running */
        json_t *request, *options, *summary;  /* each may be NULL */
} StoredJob;

/* Upsert by id. A job's runs may be stored before the job itself (runs.job_id is therefore not a
 * foreign key). */
int store_insert_job(Store *s, const StoredJob *job);
/* id, uid, kind, state, created, finished, request, options, summary (when set) and runs: the ids
 * of its stored runs, ascending. -ENOENT if absent. */
int store_get_job(Store *s, uint64_t id, json_t **ret);
