/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The results database: schema and migrations, runs, sessions, benchmarks, settings and jobs. The
 * export formats live in store-export.c. See store.h for the contract. */

#include <assert.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "log.h"
#include "store.h"

#define STORE_BUSY_TIMEOUT_MS  5000
#define USER_PROMPT_HEAD_CHARS 200

struct Store {
        sqlite3 *db;
        char *path;
        GHashTable *statements; /* SQL text → sqlite3_stmt*, prepared once */
        bool ready;             /* opened and migrated: only then may closing write to the file */
};

/* ---- schema ---------------------------------------------------------------------------------- */

/* Each entry takes the schema from version i to i + 1 and runs in its own transaction. Never edit an
 * entry once released: add a new one. */
static const char *const migrations[] = {
        /* 0 → 1: runs, sessions, benchmarks, settings */
        "CREATE TABLE runs ("
        "        id INTEGER PRIMARY KEY,"
        "        uid INTEGER NOT NULL,"
        "        created_usec INTEGER NOT NULL,"
        "        finished_usec INTEGER NOT NULL,"
        "        model TEXT NOT NULL,"
        "        backend TEXT NOT NULL,"
        "        state TEXT NOT NULL CHECK (state IN ('done', 'cancelled', 'failed')),"
        "        measure TEXT,"
        "        label TEXT,"
        "        request TEXT NOT NULL,"
        "        answer TEXT NOT NULL,"
        "        thinking TEXT NOT NULL,"
        "        result TEXT NOT NULL,"
        "        error_name TEXT,"
        "        error_message TEXT,"
        "        total_wh REAL,"
        "        net_total_wh REAL,"
        "        measured INTEGER NOT NULL DEFAULT 0,"
        "        co2_g REAL,"
        "        input_tokens INTEGER,"
        "        output_tokens INTEGER,"
        "        wh_per_1000_etokens REAL"
        ");"
        "CREATE INDEX runs_by_uid ON runs (uid, created_usec);"
        "CREATE INDEX runs_by_created ON runs (created_usec);"
        "CREATE TABLE sessions (uid INTEGER PRIMARY KEY, started_usec INTEGER NOT NULL);"
        "CREATE TABLE benchmarks (id TEXT PRIMARY KEY, benchmark TEXT NOT NULL);"
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",

        /* 1 → 2: jobs; runs belong to a job and may be warm-up runs */
        "CREATE TABLE jobs ("
        "        id INTEGER PRIMARY KEY,"
        "        uid INTEGER NOT NULL,"
        "        kind TEXT NOT NULL,"
        "        state TEXT NOT NULL,"
        "        created_usec INTEGER NOT NULL,"
        "        finished_usec INTEGER NOT NULL DEFAULT 0,"
        "        request TEXT,"
        "        options TEXT,"
        "        summary TEXT"
        ");"
        "ALTER TABLE runs ADD COLUMN job_id INTEGER;"
        "ALTER TABLE runs ADD COLUMN warmup INTEGER NOT NULL DEFAULT 0;"
        "CREATE INDEX runs_by_job ON runs (job_id) WHERE job_id IS NOT NULL;",
};

_Static_assert(ELEMENTSOF(migrations) == STORE_SCHEMA_VERSION, "one migration per schema version");

/* ---- SQLite helpers -------------------------------------------------------------------------- */

static int sqlite_errno(sqlite3 *db, int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE: return 0;
        case SQLITE_NOMEM: return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return -EBUSY;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB: return -EBADMSG;
        case SQLITE_FULL: return -ENOSPC;
        case SQLITE_READONLY: return -EROFS;
        case SQLITE_PERM:
        case SQLITE_AUTH: return -EACCES;
        case SQLITE_TOOBIG: return -E2BIG;
        case SQLITE_RANGE:
        case SQLITE_MISMATCH: return -EINVAL;
        case SQLITE_CONSTRAINT:
                return rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE ? -EEXIST
                                                                                            : -EINVAL;
        case SQLITE_IOERR:
        case SQLITE_CANTOPEN:
                if (db && sqlite3_system_errno(db) > 0)
                        return -sqlite3_system_errno(db);
                return -EIO;
        default: return -EIO;
        }
}

/* Logs SQLite's message at debug level and returns the errno equivalent of @rc. */
#define store_error(s, rc, fmt, ...) \
        log_debug_errno(sqlite_errno((s)->db, (rc)), fmt ": %s", ##__VA_ARGS__, sqlite3_errmsg((s)->db))

static void stmt_resetp(sqlite3_stmt **stmt) {
        if (*stmt) {
                (void) sqlite3_reset(*stmt);
                (void) sqlite3_clear_bindings(*stmt);
        }
}
#define _cleanup_stmt_reset_ _cleanup_(stmt_resetp)

static void stmt_finalize(gpointer stmt) {
        (void) sqlite3_finalize(stmt);
}

/* Returns the cached statement for @sql, preparing it on first use. Use it with
 * _cleanup_stmt_reset_ so that it is reset (and its bindings cleared) when done. */
static int store_prepare(Store *s, const char *sql, sqlite3_stmt **ret) {
        sqlite3_stmt *stmt;
        int rc;

        stmt = g_hash_table_lookup(s->statements, sql);
        if (!stmt) {
                rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
                if (rc != SQLITE_OK)
                        return store_error(s, rc, "Failed to prepare \"%s\"", sql);
                g_hash_table_insert(s->statements, g_strdup(sql), stmt);
        }

        *ret = stmt;
        return 0;
}

/* 1 for a row, 0 when done, negative errno on failure. */
static int store_step(Store *s, sqlite3_stmt *stmt) {
        int rc;

        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return store_error(s, rc, "Failed to run \"%s\"", sqlite3_sql(stmt));
}

static int store_exec(Store *s, const char *sql) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        int r;

        r = store_prepare(s, sql, &stmt);
        if (r < 0)
                return r;
        r = store_step(s, stmt);
        return r < 0 ? r : 0;
}

static int store_begin(Store *s) {
        return store_exec(s, "BEGIN IMMEDIATE");
}

static int store_commit(Store *s) {
        return store_exec(s, "COMMIT");
}

static void store_rollback(Store *s) {
        if (!sqlite3_get_autocommit(s->db))
                (void) store_exec(s, "ROLLBACK");
}

/* Binding helpers return an SQLite result code so that a chain can be written as rc = rc ?: bind(). */
static int bind_text(sqlite3_stmt *stmt, int i, const char *v) {
        return v ? sqlite3_bind_text(stmt, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, i);
}

static int bind_u64(sqlite3_stmt *stmt, int i, uint64_t v) {
        if (v > INT64_MAX)
                return SQLITE_RANGE;
        return sqlite3_bind_int64(stmt, i, (sqlite3_int64) v);
}

/* 0 binds NULL ("none"). */
static int bind_id_or_null(sqlite3_stmt *stmt, int i, uint64_t v) {
        return v == 0 ? sqlite3_bind_null(stmt, i) : bind_u64(stmt, i, v);
}

/* Binds @v as compact JSON text, or NULL when @v is NULL. */
static int bind_json(sqlite3_stmt *stmt, int i, const json_t *v) {
        char *text;

        if (!v)
                return sqlite3_bind_null(stmt, i);
        text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
                return SQLITE_NOMEM;
        return sqlite3_bind_text(stmt, i, text, -1, free);
}

static int bind_json_object_or_empty(sqlite3_stmt *stmt, int i, const json_t *v) {
        return v ? bind_json(stmt, i, v) : sqlite3_bind_text(stmt, i, "{}", -1, SQLITE_STATIC);
}

/* A JSON number as REAL, anything else (absent, null, wrong type) as NULL. */
static int bind_json_real(sqlite3_stmt *stmt, int i, const json_t *v) {
        return json_is_number(v) ? sqlite3_bind_double(stmt, i, json_number_value(v))
                                 : sqlite3_bind_null(stmt, i);
}

/* A JSON count (integer ≥ 0, or an integral real) as INTEGER, anything else as NULL. */
static int bind_json_count(sqlite3_stmt *stmt, int i, const json_t *v) {
        double d;

        if (json_is_integer(v) && json_integer_value(v) >= 0)
                return sqlite3_bind_int64(stmt, i, json_integer_value(v));
        if (json_is_real(v)) {
                d = json_real_value(v);
                if (d >= 0 && d <= (double) INT64_MAX && d == (double) (sqlite3_int64) d)
                        return sqlite3_bind_int64(stmt, i, (sqlite3_int64) d);
        }
        return sqlite3_bind_null(stmt, i);
}

static int bind_named_u64(sqlite3_stmt *stmt, const char *name, uint64_t v) {
        int i = sqlite3_bind_parameter_index(stmt, name);
        return i > 0 ? bind_u64(stmt, i, v) : SQLITE_OK;
}

static int bind_named_text(sqlite3_stmt *stmt, const char *name, const char *v) {
        int i = sqlite3_bind_parameter_index(stmt, name);
        return i > 0 ? bind_text(stmt, i, v) : SQLITE_OK;
}

static uint64_t column_u64(sqlite3_stmt *stmt, int i) {
        sqlite3_int64 v = sqlite3_column_int64(stmt, i);
        return v < 0 ? 0 : (uint64_t) v;
}

static const char *column_text(sqlite3_stmt *stmt, int i) {
        return (const char *) sqlite3_column_text(stmt, i);
}

/* Parses a JSON column; NULL stays NULL (*ret = NULL). */
static int column_json(Store *s, sqlite3_stmt *stmt, int i, json_t **ret) {
        json_error_t error;
        const char *text;
        json_t *v;

        text = column_text(stmt, i);
        if (!text) {
                *ret = NULL;
                return 0;
        }
        v = json_loads(text, JSON_DECODE_ANY, &error);
        if (!v)
                return log_debug_errno(-EBADMSG, "Stored JSON in %s is malformed: %s",
                                       sqlite3_column_name(stmt, i), error.text);
        *ret = v;
        return 0;
}

static json_t *json_integer_u64(uint64_t v) {
        return json_integer((json_int_t) MIN(v, (uint64_t) INT64_MAX));
}

/* Sets @key to @value (consumed) in @o; NULL @value (an allocation failure) gives -ENOMEM. */
static int json_set(json_t *o, const char *key, json_t *value) {
        if (!value || json_object_set_new(o, key, value) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- open, migrate, close -------------------------------------------------------------------- */

static int store_get_user_version(Store *s, unsigned *ret) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        sqlite3_int64 v;
        int r;

        r = store_prepare(s, "PRAGMA user_version", &stmt);
        if (r < 0)
                return r;
        r = store_step(s, stmt);
        if (r < 0)
                return r;
        if (r == 0)
                return -EIO;
        v = sqlite3_column_int64(stmt, 0);
        *ret = v < 0 ? UINT_MAX : (unsigned) MIN(v, (sqlite3_int64) UINT_MAX);
        return 0;
}

/* Runs migration @from → @from + 1 inside the current transaction. */
static int store_apply_migration(Store *s, unsigned from) {
        _cleanup_free_ char *set_version = NULL;
        char *errmsg = NULL;
        int rc;

        rc = sqlite3_exec(s->db, migrations[from], NULL, NULL, &errmsg);
        if (rc != SQLITE_OK) {
                int r = sqlite_errno(s->db, rc);
                log_error_errno(r, "Failed to migrate %s from schema version %u to %u: %s", s->path, from,
                                from + 1, strna(errmsg));
                sqlite3_free(errmsg);
                return r;
        }

        if (asprintf(&set_version, "PRAGMA user_version = %u", from + 1) < 0)
                return log_oom();
        rc = sqlite3_exec(s->db, set_version, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return log_error_errno(sqlite_errno(s->db, rc), "Failed to set the schema version of %s: %s",
                                       s->path, sqlite3_errmsg(s->db));
        return 0;
}

/* One step: returns 1 if a migration was applied, 0 if the schema is current. */
static int store_migrate_step(Store *s, unsigned *ret_from) {
        unsigned version;
        int r;

        r = store_begin(s);
        if (r < 0)
                return log_error_errno(r, "Failed to start the migration of %s: %s", s->path,
                                       sqlite3_errmsg(s->db));

        r = store_get_user_version(s, &version);
        if (r < 0) {
                store_rollback(s);
                return log_error_errno(r, "Failed to read the schema version of %s: %m", s->path);
        }
        if (version >= STORE_SCHEMA_VERSION) {
                store_rollback(s);
                return 0;
        }

        r = store_apply_migration(s, version);
        if (r < 0) {
                store_rollback(s);
                return r;
        }

        r = store_commit(s);
        if (r < 0) {
                store_rollback(s);
                return log_error_errno(r, "Failed to commit the migration of %s to schema version %u: %m",
                                       s->path, version + 1);
        }

        *ret_from = version;
        return 1;
}

static int store_migrate(Store *s) {
        unsigned from = 0, first = UINT_MAX;
        int r;

        while ((r = store_migrate_step(s, &from)) > 0)
                first = MIN(first, from);
        if (r < 0)
                return r;

        if (first == 0)
                log_info("Created database %s (schema version %u).", s->path,
                         (unsigned) STORE_SCHEMA_VERSION);
        else if (first != UINT_MAX)
                log_info("Migrated database %s from schema version %u to %u.", s->path, first,
                         (unsigned) STORE_SCHEMA_VERSION);
        return 0;
}

/* Reads the schema version before anything writes to the file, so that a file from a newer llmlabd,
 * a corrupt file or a file that is no database is left untouched. */
static int store_check_version(Store *s) {
        unsigned version;
        int r;

        r = store_get_user_version(s, &version);
        if (r == -EBADMSG)
                return log_error_errno(r,
                                       "%s is corrupt or not an SQLite database; refusing to use it "
                                       "(move it away to start with an empty database).",
                                       s->path);
        if (r < 0)
                return log_error_errno(r, "Failed to read the schema version of %s: %s", s->path,
                                       sqlite3_errmsg(s->db));
        if (version > STORE_SCHEMA_VERSION)
                return log_error_errno(-EPROTONOSUPPORT,
                                       "%s has schema version %u, written by a newer llmlabd; this one "
                                       "understands up to version %u. Refusing to open it.",
                                       s->path, version, (unsigned) STORE_SCHEMA_VERSION);
        return 0;
}

static int store_pragma_expect(Store *s, const char *sql, const char *expected) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        const char *v;
        int r;

        r = store_prepare(s, sql, &stmt);
        if (r < 0)
                return r;
        r = store_step(s, stmt);
        if (r < 0)
                return r;
        v = r > 0 ? column_text(stmt, 0) : NULL;
        if (expected && !streq_ptr(v, expected))
                return log_debug_errno(-EIO, "\"%s\" gave \"%s\", expected \"%s\"", sql, strna(v), expected);
        return 0;
}

static int store_configure(Store *s) {
        int r;

        (void) sqlite3_extended_result_codes(s->db, 1);
        (void) sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
        (void) sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        (void) sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

        r = store_check_version(s);
        if (r < 0)
                return r;

        r = store_pragma_expect(s, "PRAGMA journal_mode = WAL", "wal");
        if (r < 0)
                return log_error_errno(r, "Failed to turn on WAL mode for %s: %s", s->path,
                                       sqlite3_errmsg(s->db));
        /* NORMAL in WAL mode: a commit survives a crash of the process; only a power loss may roll
         * back the last transactions. analysis_limit bounds the PRAGMA optimize run at close. */
        r = store_pragma_expect(s, "PRAGMA synchronous = NORMAL", NULL);
        if (r >= 0)
                r = store_pragma_expect(s, "PRAGMA foreign_keys = ON", NULL);
        if (r >= 0)
                r = store_pragma_expect(s, "PRAGMA analysis_limit = 1000", NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to configure %s: %s", s->path, sqlite3_errmsg(s->db));
        return 0;
}

/* Creates the file with mode 0600 (and its directory with 0700) so that SQLite, which copies the
 * database's mode to its -wal and -shm files, never makes users' prompts readable by others. */
static int store_create_file(const char *path) {
        g_autofree char *dir = NULL;
        _cleanup_close_ int fd = -EBADF;

        dir = g_path_get_dirname(path);
        if (g_mkdir_with_parents(dir, 0700) < 0)
                return log_error_errno(negative_errno(), "Failed to create directory %s: %m", dir);

        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to open %s: %m", path);
        return 0;
}

int store_open(const char *path, Store **ret) {
        _cleanup_store_free_ Store *s = NULL;
        int rc, r;

        if (isempty(path) || !ret)
                return -EINVAL;

        r = store_create_file(path);
        if (r < 0)
                return r;

        s = g_new0(Store, 1);
        s->path = g_strdup(path);
        s->statements = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, stmt_finalize);

        rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK)
                return log_error_errno(sqlite_errno(s->db, rc), "Failed to open database %s: %s", path,
                                       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));

        r = store_configure(s);
        if (r < 0)
                return r;

        r = store_migrate(s);
        if (r < 0)
                return r;

        s->ready = true;
        *ret = TAKE_PTR(s);
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;

        if (s->ready && sqlite3_get_autocommit(s->db))
                (void) store_exec(s, "PRAGMA optimize");
        if (s->statements)
                g_hash_table_destroy(s->statements);
        if (s->db)
                (void) sqlite3_close_v2(s->db);
        g_free(s->path);
        g_free(s);
        return NULL;
}

const char *store_get_path(Store *s) {
        return s ? s->path : NULL;
}

int store_check_integrity(Store *s) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        const char *v;
        int r;

        if (!s)
                return -EINVAL;

        r = store_prepare(s, "PRAGMA integrity_check", &stmt);
        if (r < 0)
                return r;
        r = store_step(s, stmt);
        if (r < 0)
                return r;
        v = r > 0 ? column_text(stmt, 0) : NULL;
        if (!streq_ptr(v, "ok"))
                return log_error_errno(-EBADMSG, "Integrity check of %s failed: %s", s->path, strna(v));
        return 0;
}

static int store_query_u64(Store *s, const char *sql, uint64_t *ret) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        int r;

        r = store_prepare(s, sql, &stmt);
        if (r < 0)
                return r;
        r = store_step(s, stmt);
        if (r < 0)
                return r;
        *ret = r > 0 ? column_u64(stmt, 0) : 0;
        return 0;
}

int store_next_ids(Store *s, uint64_t *ret_next_run_id, uint64_t *ret_next_job_id) {
        uint64_t run_max, job_max, ref_max;
        int r;

        if (!s)
                return -EINVAL;

        r = store_query_u64(s, "SELECT COALESCE(MAX(id), 0) FROM runs", &run_max);
        if (r >= 0)
                r = store_query_u64(s, "SELECT COALESCE(MAX(id), 0) FROM jobs", &job_max);
        if (r >= 0)
                r = store_query_u64(s, "SELECT COALESCE(MAX(job_id), 0) FROM runs WHERE job_id IS NOT NULL",
                                    &ref_max);
        if (r < 0)
                return r;

        if (ret_next_run_id)
                *ret_next_run_id = run_max + 1;
        if (ret_next_job_id)
                *ret_next_job_id = MAX(job_max, ref_max) + 1;
        return 0;
}

/* ---- runs: insert ---------------------------------------------------------------------------- */

static bool run_state_is_valid(const char *state) {
        return state && (streq(state, "done") || streq(state, "cancelled") || streq(state, "failed"));
}

/* Returns @s itself when it is valid UTF-8 (or NULL), else a repaired copy kept in *@buf: a
 * transcript with a stray byte is stored with U+FFFD in its place rather than lost. */
static const char *utf8_or_repaired(const char *s, char **buf) {
        if (!s || g_utf8_validate(s, -1, NULL))
                return s;
        *buf = g_utf8_make_valid(s, -1);
        return *buf;
}

enum {
        TEXT_MODEL,
        TEXT_BACKEND,
        TEXT_STATE,
        TEXT_MEASURE,
        TEXT_LABEL,
        TEXT_ANSWER,
        TEXT_THINKING,
        TEXT_ERROR_NAME,
        TEXT_ERROR_MESSAGE,
        _TEXT_MAX,
};

/* The run's strings, as valid UTF-8. */
typedef struct RunText {
        const char *v[_TEXT_MAX];
        char *repaired[_TEXT_MAX];
} RunText;

static void run_text_init(RunText *t, const StoredRun *run) {
        const char *src[_TEXT_MAX] = {
                [TEXT_MODEL] = run->model,
                [TEXT_BACKEND] = run->backend,
                [TEXT_STATE] = run->state,
                [TEXT_MEASURE] = run->measure,
                [TEXT_LABEL] = run->label,
                [TEXT_ANSWER] = strempty(run->answer),
                [TEXT_THINKING] = strempty(run->thinking),
                [TEXT_ERROR_NAME] = run->error_name,
                [TEXT_ERROR_MESSAGE] = run->error_message,
        };

        for (size_t i = 0; i < _TEXT_MAX; i++)
                t->v[i] = utf8_or_repaired(src[i], &t->repaired[i]);
}

static void run_text_done(RunText *t) {
        for (size_t i = 0; i < _TEXT_MAX; i++)
                g_free(t->repaired[i]);
}

static int stored_run_validate(const StoredRun *run) {
        if (run->id == 0 || run->id > INT64_MAX || run->job_id > INT64_MAX)
                return log_debug_errno(-EINVAL, "Run id %" PRIu64 " or job id %" PRIu64 " out of range.",
                                       run->id, run->job_id);
        if (run->created_usec > INT64_MAX || run->finished_usec > INT64_MAX)
                return log_debug_errno(-EINVAL, "Timestamps of run %" PRIu64 " out of range.", run->id);
        if (isempty(run->model) || isempty(run->backend))
                return log_debug_errno(-EINVAL, "Run %" PRIu64 " has no model or backend.", run->id);
        if (!run_state_is_valid(run->state))
                return log_debug_errno(-EINVAL, "Run %" PRIu64 " has state \"%s\", not a final state.",
                                       run->id, strna(run->state));
        if ((run->request && !json_is_object(run->request)) || (run->result && !json_is_object(run->result)))
                return log_debug_errno(-EINVAL, "Request and result of run %" PRIu64 " must be objects.",
                                       run->id);
        return 0;
}

static int store_insert_run_row(Store *s, const StoredRun *run, const RunText *t) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        json_t *energy, *tokens, *carbon;
        int rc = SQLITE_OK, r;

        r = store_prepare(s,
                          "INSERT INTO runs (id, uid, created_usec, finished_usec, model, backend, state, "
                          "measure, label, request, answer, thinking, result, error_name, error_message, "
                          "total_wh, net_total_wh, measured, co2_g, input_tokens, output_tokens, "
                          "wh_per_1000_etokens, job_id, warmup) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
                          "?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
                          &stmt);
        if (r < 0)
                return r;

        energy = json_object_get(run->result, "energy");
        tokens = json_object_get(run->result, "tokens");
        carbon = json_object_get(run->result, "carbon");

        rc = rc ?: bind_u64(stmt, 1, run->id);
        rc = rc ?: sqlite3_bind_int64(stmt, 2, run->uid);
        rc = rc ?: bind_u64(stmt, 3, run->created_usec);
        rc = rc ?: bind_u64(stmt, 4, run->finished_usec);
        rc = rc ?: bind_text(stmt, 5, t->v[TEXT_MODEL]);
        rc = rc ?: bind_text(stmt, 6, t->v[TEXT_BACKEND]);
        rc = rc ?: bind_text(stmt, 7, t->v[TEXT_STATE]);
        rc = rc ?: bind_text(stmt, 8, t->v[TEXT_MEASURE]);
        rc = rc ?: bind_text(stmt, 9, t->v[TEXT_LABEL]);
        rc = rc ?: bind_json_object_or_empty(stmt, 10, run->request);
        rc = rc ?: bind_text(stmt, 11, t->v[TEXT_ANSWER]);
        rc = rc ?: bind_text(stmt, 12, t->v[TEXT_THINKING]);
        rc = rc ?: bind_json_object_or_empty(stmt, 13, run->result);
        rc = rc ?: bind_text(stmt, 14, t->v[TEXT_ERROR_NAME]);
        rc = rc ?: bind_text(stmt, 15, t->v[TEXT_ERROR_MESSAGE]);
        rc = rc ?: bind_json_real(stmt, 16, json_object_get(energy, "total_wh"));
        rc = rc ?: bind_json_real(stmt, 17, json_object_get(energy, "net_total_wh"));
        rc = rc ?: sqlite3_bind_int(stmt, 18, json_is_true(json_object_get(energy, "measured")));
        rc = rc ?: bind_json_real(stmt, 19, json_object_get(carbon, "co2_g"));
        rc = rc ?: bind_json_count(stmt, 20, json_object_get(tokens, "input"));
        rc = rc ?: bind_json_count(stmt, 21, json_object_get(tokens, "output"));
        rc = rc ?: bind_json_real(stmt, 22, json_object_get(energy, "wh_per_1000_etokens"));
        rc = rc ?: bind_id_or_null(stmt, 23, run->job_id);
        rc = rc ?: sqlite3_bind_int(stmt, 24, run->warmup);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind run %" PRIu64, run->id);

        r = store_step(s, stmt);
        return r < 0 ? r : 0;
}

/* Starts @uid's session at @usec: always when @restart, else only if the user has none yet. */
static int store_start_session(Store *s, uint32_t uid, uint64_t usec, bool restart) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        int rc = SQLITE_OK, r;

        r = store_prepare(s,
                          restart ? "INSERT INTO sessions (uid, started_usec) VALUES (?1, ?2) "
                                    "ON CONFLICT (uid) DO UPDATE SET started_usec = excluded.started_usec"
                                  : "INSERT INTO sessions (uid, started_usec) VALUES (?1, ?2) "
                                    "ON CONFLICT (uid) DO NOTHING",
                          &stmt);
        if (r < 0)
                return r;

        rc = rc ?: sqlite3_bind_int64(stmt, 1, uid);
        rc = rc ?: bind_u64(stmt, 2, usec);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind the session of uid %" PRIu32, uid);

        r = store_step(s, stmt);
        return r < 0 ? r : 0;
}

int store_insert_run(Store *s, const StoredRun *run) {
        _cleanup_(run_text_done) RunText t = {};
        int r;

        if (!s || !run)
                return -EINVAL;

        r = stored_run_validate(run);
        if (r < 0)
                return r;
        run_text_init(&t, run);

        r = store_begin(s);
        if (r < 0)
                return r;

        r = store_insert_run_row(s, run, &t);
        if (r >= 0)
                r = store_start_session(s, run->uid, run->created_usec, /* restart= */ false);
        if (r >= 0)
                r = store_commit(s);
        if (r < 0) {
                store_rollback(s);
                return log_debug_errno(r, "Failed to store run %" PRIu64 ": %m", run->id);
        }
        return 0;
}

/* ---- runs: queries --------------------------------------------------------------------------- */

enum {
        COL_ID,
        COL_UID,
        COL_CREATED,
        COL_FINISHED,
        COL_MODEL,
        COL_BACKEND,
        COL_STATE,
        COL_MEASURE,
        COL_LABEL,
        COL_REQUEST,
        COL_ANSWER,
        COL_THINKING,
        COL_RESULT,
        COL_ERROR_NAME,
        COL_ERROR_MESSAGE,
        COL_JOB,
        COL_WARMUP,
};

#define RUN_COLUMNS                                                                                      \
        "id, uid, created_usec, finished_usec, model, backend, state, measure, label, request, answer, " \
        "thinking, result, error_name, error_message, job_id, warmup"

/* Appends FROM/WHERE/ORDER BY/LIMIT for @f (NULL: every run) and, if @by_id, the id. Only named
 * parameters go into the text, so the number of distinct statements (and cache entries) is small. */
static void run_filter_append_sql(GString *sql, const RunFilter *f, bool by_id) {
        g_string_append(sql, " FROM runs WHERE 1");
        if (by_id)
                g_string_append(sql, " AND id = :id");
        if (f) {
                if (!f->all_users)
                        g_string_append(sql, " AND uid = :uid");
                if (f->model)
                        g_string_append(sql, " AND model = :model");
                if (f->since_usec > 0)
                        g_string_append(sql, " AND created_usec >= :since");
                if (f->job_id > 0)
                        g_string_append(sql, " AND job_id = :job");
                if (!f->include_warmup)
                        g_string_append(sql, " AND warmup = 0");
        }
        g_string_append(sql, " ORDER BY created_usec DESC, id DESC");
        if (f && f->limit > 0)
                g_string_append(sql, " LIMIT :limit");
}

static int run_filter_bind(Store *s, sqlite3_stmt *stmt, const RunFilter *f, uint64_t id) {
        int rc = SQLITE_OK;

        rc = rc ?: bind_named_u64(stmt, ":id", id);
        if (f) {
                rc = rc ?: bind_named_u64(stmt, ":uid", f->uid);
                rc = rc ?: bind_named_text(stmt, ":model", f->model);
                rc = rc ?: bind_named_u64(stmt, ":since", f->since_usec);
                rc = rc ?: bind_named_u64(stmt, ":job", f->job_id);
                rc = rc ?: bind_named_u64(stmt, ":limit", f->limit);
        }
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind the run filter");
        return 0;
}

/* Prepares (cached) and binds the statement "@head <filter> @tail". -EBUSY if that statement is
 * already being stepped through (a nested query of the same shape). */
static int store_prepare_filtered(Store *s, const char *head, const RunFilter *f, uint64_t id,
                                  const char *tail, sqlite3_stmt **ret) {
        g_autoptr(GString) sql = g_string_new(head);
        sqlite3_stmt *stmt;
        int r;

        run_filter_append_sql(sql, f, id > 0);
        g_string_append(sql, tail);

        r = store_prepare(s, sql->str, &stmt);
        if (r < 0)
                return r;
        if (sqlite3_stmt_busy(stmt))
                return log_debug_errno(-EBUSY, "Nested query \"%s\" refused.", sql->str);

        r = run_filter_bind(s, stmt, f, id);
        if (r < 0) {
                (void) sqlite3_clear_bindings(stmt);
                return r;
        }
        *ret = stmt;
        return 0;
}

static int store_run_from_row(Store *s, sqlite3_stmt *stmt, StoreRunFunc cb, void *userdata) {
        _cleanup_json_ json_t *request = NULL, *result = NULL;
        StoredRun run;
        int r;

        r = column_json(s, stmt, COL_REQUEST, &request);
        if (r >= 0)
                r = column_json(s, stmt, COL_RESULT, &result);
        if (r < 0)
                return r;
        if (!json_is_object(request) || !json_is_object(result))
                return log_debug_errno(-EBADMSG,
                                       "Run %" PRIu64 " has a stored request or result that is "
                                       "not an object.",
                                       column_u64(stmt, COL_ID));

        run = (StoredRun){
                .id = column_u64(stmt, COL_ID),
                .job_id = column_u64(stmt, COL_JOB),
                .uid = (uint32_t) sqlite3_column_int64(stmt, COL_UID),
                .created_usec = column_u64(stmt, COL_CREATED),
                .finished_usec = column_u64(stmt, COL_FINISHED),
                .model = column_text(stmt, COL_MODEL),
                .backend = column_text(stmt, COL_BACKEND),
                .state = column_text(stmt, COL_STATE),
                .measure = column_text(stmt, COL_MEASURE),
                .label = column_text(stmt, COL_LABEL),
                .warmup = sqlite3_column_int(stmt, COL_WARMUP) != 0,
                .request = request,
                .answer = column_text(stmt, COL_ANSWER),
                .thinking = column_text(stmt, COL_THINKING),
                .result = result,
                .error_name = column_text(stmt, COL_ERROR_NAME),
                .error_message = column_text(stmt, COL_ERROR_MESSAGE),
        };
        return cb(&run, userdata);
}

static int store_query_runs(Store *s, const RunFilter *f, uint64_t id, StoreRunFunc cb, void *userdata) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        int r;

        r = store_prepare_filtered(s, "SELECT " RUN_COLUMNS, f, id, "", &stmt);
        if (r < 0)
                return r;

        for (;;) {
                r = store_step(s, stmt);
                if (r <= 0)
                        return r;
                r = store_run_from_row(s, stmt, cb, userdata);
                if (r < 0)
                        return r;
        }
}

int store_foreach_run(Store *s, const RunFilter *f, StoreRunFunc cb, void *userdata) {
        if (!s || !f || !cb)
                return -EINVAL;
        return store_query_runs(s, f, /* id= */ 0, cb, userdata);
}

static int store_json_set_string(json_t *o, const char *key, const char *value) {
        return json_set(o, key, json_string(value));
}

/* Sets the members that are only present when set: label, job, error. */
static int stored_run_set_optional(json_t *o, const StoredRun *r) {
        int q = 0;

        if (r->label)
                q = q ?: store_json_set_string(o, "label", r->label);
        if (r->job_id > 0)
                q = q ?: json_set(o, "job", json_integer_u64(r->job_id));
        if (r->error_name)
                q = q
                            ?: json_set(o, "error",
                                        json_pack("{s:s, s:s}", "name", r->error_name, "message",
                                                  strempty(r->error_message)));
        return q;
}

json_t *stored_run_to_json(const StoredRun *r) {
        _cleanup_json_ json_t *o = NULL;
        int q = 0;

        if (!r)
                return NULL;

        o = json_object();
        if (!o)
                return NULL;

        q = q ?: json_set(o, "id", json_integer_u64(r->id));
        q = q ?: json_set(o, "uid", json_integer(r->uid));
        q = q ?: json_set(o, "created", json_integer_u64(r->created_usec));
        q = q ?: json_set(o, "finished", json_integer_u64(r->finished_usec));
        q = q ?: store_json_set_string(o, "model", strempty(r->model));
        q = q ?: store_json_set_string(o, "backend", strempty(r->backend));
        q = q ?: store_json_set_string(o, "state", strempty(r->state));
        if (r->measure)
                q = q ?: store_json_set_string(o, "measure", r->measure);
        q = q ?: json_set(o, "warmup", json_boolean(r->warmup));
        q = q ?: json_set(o, "request", r->request ? json_incref(r->request) : json_object());
        q = q ?: store_json_set_string(o, "answer", strempty(r->answer));
        q = q ?: store_json_set_string(o, "thinking", strempty(r->thinking));
        q = q ?: json_set(o, "result", r->result ? json_incref(r->result) : json_object());
        q = q ?: stored_run_set_optional(o, r);
        if (q < 0)
                return NULL;

        return TAKE_PTR(o);
}

/* The first USER_PROMPT_HEAD_CHARS characters of request.user_prompt. */
static json_t *user_prompt_head(json_t *request) {
        g_autofree char *head = NULL;
        const char *p;
        glong n;

        p = json_string_value(json_object_get(request, "user_prompt"));
        if (!p)
                return json_string("");
        n = g_utf8_strlen(p, -1);
        head = g_utf8_substring(p, 0, MIN(n, USER_PROMPT_HEAD_CHARS));
        return json_string(head);
}

/* A ListRuns entry: the stored result, with the run's columns set over it. */
static int stored_run_list_entry(const StoredRun *r, json_t **ret) {
        _cleanup_json_ json_t *o = NULL;
        int q = 0;

        o = json_deep_copy(r->result);
        if (!o)
                return -ENOMEM;

        q = q ?: json_set(o, "run", json_integer_u64(r->id));
        q = q ?: store_json_set_string(o, "model", r->model);
        q = q ?: store_json_set_string(o, "backend", r->backend);
        q = q ?: store_json_set_string(o, "state", r->state);
        if (r->measure)
                q = q ?: store_json_set_string(o, "measure", r->measure);
        q = q ?: json_set(o, "created", json_integer_u64(r->created_usec));
        q = q ?: json_set(o, "finished", json_integer_u64(r->finished_usec));
        q = q ?: json_set(o, "uid", json_integer(r->uid));
        q = q ?: json_set(o, "warmup", json_boolean(r->warmup));
        q = q ?: json_set(o, "user_prompt", user_prompt_head(r->request));
        q = q ?: stored_run_set_optional(o, r);
        if (q < 0)
                return q;

        *ret = TAKE_PTR(o);
        return 0;
}

static int list_run_append(const StoredRun *r, void *userdata) {
        json_t *array = userdata, *entry;
        int q;

        q = stored_run_list_entry(r, &entry);
        if (q < 0)
                return q;
        return json_array_append_new(array, entry) < 0 ? -ENOMEM : 0;
}

int store_list_runs(Store *s, const RunFilter *f, json_t **ret) {
        _cleanup_json_ json_t *array = NULL;
        int r;

        if (!s || !f || !ret)
                return -EINVAL;

        array = json_array();
        if (!array)
                return -ENOMEM;

        r = store_foreach_run(s, f, list_run_append, array);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(array);
        return 0;
}

static int get_run_record(const StoredRun *r, void *userdata) {
        json_t **ret = userdata;

        *ret = stored_run_to_json(r);
        return *ret ? 0 : -ENOMEM;
}

int store_get_run(Store *s, uint64_t id, json_t **ret_full_record) {
        _cleanup_json_ json_t *record = NULL;
        int r;

        if (!s || id == 0 || !ret_full_record)
                return -EINVAL;

        r = store_query_runs(s, /* f= */ NULL, id, get_run_record, &record);
        if (r < 0)
                return r;
        if (!record)
                return -ENOENT;

        *ret_full_record = TAKE_PTR(record);
        return 0;
}

static json_t *aggregate_row_to_json(sqlite3_stmt *stmt) {
        return json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:f, s:f, s:I}", "model",
                         strempty(column_text(stmt, 0)), "backend", strempty(column_text(stmt, 1)),
                         "measured", sqlite3_column_int(stmt, 2) != 0, "runs",
                         (json_int_t) sqlite3_column_int64(stmt, 3), "input_tokens",
                         (json_int_t) sqlite3_column_int64(stmt, 4), "output_tokens",
                         (json_int_t) sqlite3_column_int64(stmt, 5), "energy_runs",
                         (json_int_t) sqlite3_column_int64(stmt, 6), "total_wh",
                         sqlite3_column_double(stmt, 7), "etoken_wh", sqlite3_column_double(stmt, 8),
                         "etokens", (json_int_t) sqlite3_column_int64(stmt, 9));
}

int store_aggregate_runs(Store *s, const RunFilter *f, json_t **ret) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        _cleanup_json_ json_t *array = NULL;
        int r;

        if (!s || !f || !ret)
                return -EINVAL;

        r = store_prepare_filtered(
                s,
                "SELECT model, backend, measured, COUNT(*), COALESCE(SUM(input_tokens), 0), "
                "COALESCE(SUM(output_tokens), 0), COUNT(CASE WHEN total_wh >= 0 THEN 1 END), "
                "TOTAL(CASE WHEN total_wh >= 0 THEN total_wh END), "
                "TOTAL(CASE WHEN total_wh >= 0 AND output_tokens > 0 THEN total_wh END), "
                "COALESCE(SUM(CASE WHEN total_wh >= 0 AND output_tokens > 0 THEN output_tokens END), 0) "
                "FROM (SELECT model, backend, measured, input_tokens, output_tokens, total_wh",
                f, /* id= */ 0, ") GROUP BY model, backend, measured ORDER BY model, backend, measured",
                &stmt);
        if (r < 0)
                return r;

        array = json_array();
        if (!array)
                return -ENOMEM;

        for (;;) {
                r = store_step(s, stmt);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (json_array_append_new(array, aggregate_row_to_json(stmt)) < 0)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(array);
        return 0;
}

/* ---- sessions -------------------------------------------------------------------------------- */

static int store_session_started(Store *s, uint32_t uid, uint64_t *ret) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        int rc, r;

        r = store_prepare(s, "SELECT started_usec FROM sessions WHERE uid = ?1", &stmt);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(stmt, 1, uid);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind uid");

        r = store_step(s, stmt);
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        *ret = column_u64(stmt, 0);
        return 0;
}

static int session_summary_from_row(sqlite3_stmt *stmt, uint64_t started, json_t **ret) {
        _cleanup_json_ json_t *o = NULL;
        sqlite3_int64 etokens;

        o = json_pack("{s:I, s:I, s:f, s:f, s:f, s:f, s:I, s:I, s:I}", "runs",
                      (json_int_t) sqlite3_column_int64(stmt, 0), "measured_runs",
                      (json_int_t) sqlite3_column_int64(stmt, 1), "total_wh", sqlite3_column_double(stmt, 2),
                      "measured_wh", sqlite3_column_double(stmt, 3), "estimated_wh",
                      sqlite3_column_double(stmt, 4), "co2_g", sqlite3_column_double(stmt, 5),
                      "input_tokens", (json_int_t) sqlite3_column_int64(stmt, 6), "output_tokens",
                      (json_int_t) sqlite3_column_int64(stmt, 7), "started",
                      (json_int_t) MIN(started, (uint64_t) INT64_MAX));
        if (!o)
                return -ENOMEM;

        etokens = sqlite3_column_int64(stmt, 9);
        if (etokens > 0 &&
            json_set(o, "mean_wh_per_1000_etokens",
                     json_real(sqlite3_column_double(stmt, 8) / (double) etokens * 1000.0)) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(o);
        return 0;
}

static json_t *session_summary_empty(void) {
        return json_pack("{s:i, s:i, s:f, s:f, s:f, s:f, s:i, s:i}", "runs", 0, "measured_runs", 0,
                         "total_wh", 0.0, "measured_wh", 0.0, "estimated_wh", 0.0, "co2_g", 0.0,
                         "input_tokens", 0, "output_tokens", 0);
}

int store_session_summary(Store *s, uint32_t uid, json_t **ret) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        uint64_t started = 0;
        int rc = SQLITE_OK, r;

        if (!s || !ret)
                return -EINVAL;

        r = store_session_started(s, uid, &started);
        if (r == -ENOENT) {
                *ret = session_summary_empty();
                return *ret ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;

        r = store_prepare(s,
                          "SELECT COUNT(*), COUNT(CASE WHEN measured THEN 1 END), TOTAL(total_wh), "
                          "TOTAL(CASE WHEN measured THEN total_wh END), "
                          "TOTAL(CASE WHEN NOT measured THEN total_wh END), TOTAL(co2_g), "
                          "COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
                          "TOTAL(CASE WHEN total_wh IS NOT NULL AND output_tokens > 0 THEN total_wh END), "
                          "COALESCE(SUM(CASE WHEN total_wh IS NOT NULL AND output_tokens > 0 "
                          "THEN output_tokens END), 0) "
                          "FROM runs WHERE uid = ?1 AND warmup = 0 AND finished_usec >= ?2",
                          &stmt);
        if (r < 0)
                return r;

        rc = rc ?: sqlite3_bind_int64(stmt, 1, uid);
        rc = rc ?: bind_u64(stmt, 2, started);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind the session summary");

        r = store_step(s, stmt);
        if (r < 0)
                return r;
        if (r == 0)
                return -EIO;

        return session_summary_from_row(stmt, started, ret);
}

int store_clear_session(Store *s, uint32_t uid, uint64_t now_usec) {
        if (!s)
                return -EINVAL;
        return store_start_session(s, uid, now_usec, /* restart= */ true);
}

/* ---- benchmarks and settings ----------------------------------------------------------------- */

int store_save_benchmark(Store *s, const char *id, json_t *benchmark) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        int rc = SQLITE_OK, r;

        if (!s || isempty(id) || !json_is_object(benchmark))
                return -EINVAL;

        r = store_prepare(s,
                          "INSERT INTO benchmarks (id, benchmark) VALUES (?1, ?2) "
                          "ON CONFLICT (id) DO UPDATE SET benchmark = excluded.benchmark",
                          &stmt);
        if (r < 0)
                return r;

        rc = rc ?: bind_text(stmt, 1, id);
        rc = rc ?: bind_json(stmt, 2, benchmark);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind benchmark %s", id);

        r = store_step(s, stmt);
        return r < 0 ? r : 0;
}

/* Runs a statement with one text parameter; returns the number of changed rows. */
static int store_exec_with_text(Store *s, const char *sql, const char *arg) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        int rc, r;

        r = store_prepare(s, sql, &stmt);
        if (r < 0)
                return r;
        rc = bind_text(stmt, 1, arg);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind \"%s\"", arg);

        r = store_step(s, stmt);
        if (r < 0)
                return r;
        return sqlite3_changes(s->db);
}

int store_remove_benchmark(Store *s, const char *id) {
        int r;

        if (!s || isempty(id))
                return -EINVAL;

        r = store_exec_with_text(s, "DELETE FROM benchmarks WHERE id = ?1", id);
        if (r < 0)
                return r;
        return r == 0 ? -ENOENT : 0;
}

int store_load_benchmarks(Store *s, json_t **ret_array) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        _cleanup_json_ json_t *array = NULL;
        int r;

        if (!s || !ret_array)
                return -EINVAL;

        r = store_prepare(s, "SELECT id, benchmark FROM benchmarks ORDER BY id", &stmt);
        if (r < 0)
                return r;

        array = json_array();
        if (!array)
                return -ENOMEM;

        for (;;) {
                _cleanup_json_ json_t *b = NULL;

                r = store_step(s, stmt);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                r = column_json(s, stmt, 1, &b);
                if (r < 0)
                        return r;
                if (!json_is_object(b))
                        return log_debug_errno(-EBADMSG, "Stored benchmark %s is not an object.",
                                               column_text(stmt, 0));
                if (store_json_set_string(b, "id", column_text(stmt, 0)) < 0 ||
                    json_array_append(array, b) < 0)
                        return -ENOMEM;
        }

        *ret_array = TAKE_PTR(array);
        return 0;
}

int store_get_setting(Store *s, const char *key, char **ret) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        int rc, r;

        if (!s || isempty(key) || !ret)
                return -EINVAL;

        r = store_prepare(s, "SELECT value FROM settings WHERE key = ?1", &stmt);
        if (r < 0)
                return r;
        rc = bind_text(stmt, 1, key);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind setting %s", key);

        r = store_step(s, stmt);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;

        *ret = strdup(strempty(column_text(stmt, 0)));
        return *ret ? 0 : -ENOMEM;
}

int store_set_setting(Store *s, const char *key, const char *value) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        int rc = SQLITE_OK, r;

        if (!s || isempty(key))
                return -EINVAL;

        if (!value) {
                r = store_exec_with_text(s, "DELETE FROM settings WHERE key = ?1", key);
                return r < 0 ? r : 0;
        }

        r = store_prepare(s,
                          "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                          &stmt);
        if (r < 0)
                return r;

        rc = rc ?: bind_text(stmt, 1, key);
        rc = rc ?: bind_text(stmt, 2, value);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind setting %s", key);

        r = store_step(s, stmt);
        return r < 0 ? r : 0;
}

/* ---- jobs ------------------------------------------------------------------------------------ */

int store_insert_job(Store *s, const StoredJob *job) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        int rc = SQLITE_OK, r;

        if (!s || !job || job->id == 0 || job->id > INT64_MAX || isempty(job->kind) || isempty(job->state))
                return -EINVAL;

        r = store_prepare(s,
                          "INSERT INTO jobs (id, uid, kind, state, created_usec, finished_usec, request, "
                          "options, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                          "ON CONFLICT (id) DO UPDATE SET uid = excluded.uid, kind = excluded.kind, "
                          "state = excluded.state, created_usec = excluded.created_usec, "
                          "finished_usec = excluded.finished_usec, request = excluded.request, "
                          "options = excluded.options, summary = excluded.summary",
                          &stmt);
        if (r < 0)
                return r;

        rc = rc ?: bind_u64(stmt, 1, job->id);
        rc = rc ?: sqlite3_bind_int64(stmt, 2, job->uid);
        rc = rc ?: bind_text(stmt, 3, job->kind);
        rc = rc ?: bind_text(stmt, 4, job->state);
        rc = rc ?: bind_u64(stmt, 5, job->created_usec);
        rc = rc ?: bind_u64(stmt, 6, job->finished_usec);
        rc = rc ?: bind_json(stmt, 7, job->request);
        rc = rc ?: bind_json(stmt, 8, job->options);
        rc = rc ?: bind_json(stmt, 9, job->summary);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind job %" PRIu64, job->id);

        r = store_step(s, stmt);
        return r < 0 ? r : 0;
}

static int store_job_run_ids(Store *s, uint64_t id, json_t **ret) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        _cleanup_json_ json_t *runs = NULL;
        int rc, r;

        r = store_prepare(s, "SELECT id FROM runs WHERE job_id = ?1 ORDER BY id", &stmt);
        if (r < 0)
                return r;
        rc = bind_u64(stmt, 1, id);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind job %" PRIu64, id);

        runs = json_array();
        if (!runs)
                return -ENOMEM;

        for (;;) {
                r = store_step(s, stmt);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (json_array_append_new(runs, json_integer_u64(column_u64(stmt, 0))) < 0)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(runs);
        return 0;
}

/* Sets @key to the parsed JSON column @i when it is not NULL. */
static int json_set_json_column(Store *s, json_t *o, const char *key, sqlite3_stmt *stmt, int i) {
        json_t *v = NULL; /* -O3 cannot see that column_json() sets it whenever it returns ≥ 0 */
        int r;

        r = column_json(s, stmt, i, &v);
        if (r < 0 || !v)
                return r;
        return json_set(o, key, v);
}

static int job_from_row(Store *s, sqlite3_stmt *stmt, json_t **ret) {
        _cleanup_json_ json_t *o = NULL;
        int q = 0;

        o = json_pack("{s:I, s:I, s:s, s:s, s:I, s:I}", "id", (json_int_t) sqlite3_column_int64(stmt, 0),
                      "uid", (json_int_t) sqlite3_column_int64(stmt, 1), "kind",
                      strempty(column_text(stmt, 2)), "state", strempty(column_text(stmt, 3)), "created",
                      (json_int_t) sqlite3_column_int64(stmt, 4), "finished",
                      (json_int_t) sqlite3_column_int64(stmt, 5));
        if (!o)
                return -ENOMEM;

        q = q ?: json_set_json_column(s, o, "request", stmt, 6);
        q = q ?: json_set_json_column(s, o, "options", stmt, 7);
        q = q ?: json_set_json_column(s, o, "summary", stmt, 8);
        if (q < 0)
                return q;

        *ret = TAKE_PTR(o);
        return 0;
}

int store_get_job(Store *s, uint64_t id, json_t **ret) {
        _cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
        _cleanup_json_ json_t *o = NULL, *runs = NULL;
        int rc, r;

        if (!s || id == 0 || !ret)
                return -EINVAL;

        r = store_prepare(
                s,
                "SELECT id, uid, kind, state, created_usec, finished_usec, request, options, summary "
                "FROM jobs WHERE id = ?1",
                &stmt);
        if (r < 0)
                return r;
        rc = bind_u64(stmt, 1, id);
        if (rc != SQLITE_OK)
                return store_error(s, rc, "Failed to bind job %" PRIu64, id);

        r = store_step(s, stmt);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;

        r = job_from_row(s, stmt, &o);
        if (r < 0)
                return r;

        r = store_job_run_ids(s, id, &runs);
        if (r < 0)
                return r;
        if (json_object_set_new(o, "runs", TAKE_PTR(runs)) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(o);
        return 0;
}
