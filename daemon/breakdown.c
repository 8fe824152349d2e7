/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The token breakdown of a finished run: input tokens split into user prompt, base system
 * prompt, conversation context, injections and template overhead; output into thinking and
 * answer. Counts come from the server:
 *   - "tokenizer": backends with a tokenize endpoint (llama-server, vLLM) count each part; the
 *     template overhead is the server's prompt count minus the parts;
 *   - "prompt-probe": Ollama has no tokenizer, so the daemon asks for the prompt count of the same
 *     request growing part by part (one generated token each, same runner options, cached by
 *     model and text): the differences are the parts;
 *   - "estimate": neither is possible: characters ÷ 4, marked estimated.
 * The parts always add up to the server's prompt count of the run. */

#include <glib.h>
#include <math.h>

#include "breakdown.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "prompts.h"

typedef enum PartIndex { PART_USER, PART_SYSTEM, PART_CONTEXT, PART_INJECTIONS, _PART_MAX } PartIndex;

static const char *const part_names[_PART_MAX] = {"user", "system", "context", "injections"};

/* One count asked of the server. */
typedef struct Query {
        char *key;     /* cache key */
        char *system;  /* prompt-probe: the system message (NULL: none) */
        char *user;    /* prompt-probe: the user message; tokenizer: the text */
        int64_t count; /* -1 until known */
} Query;

typedef struct Breakdown {
        Run *run;
        breakdown_cb cb;
        void *userdata;
        const char *method;
        GPtrArray *queries;
        guint next;
        bool answered; /* the query in flight got its reply (else it failed to start or was cancelled) */
        bool failed;
        char *parts[_PART_MAX]; /* the texts of the parts */
} Breakdown;

static void query_free(gpointer p) {
        Query *q = p;

        g_free(q->key);
        g_free(q->system);
        g_free(q->user);
        g_free(q);
}

static void breakdown_free(Breakdown *bd) {
        g_ptr_array_unref(bd->queries);
        for (int i = 0; i < _PART_MAX; i++)
                g_free(bd->parts[i]);
        run_unref(bd->run);
        g_free(bd);
}

static char *cache_key(const Run *r, const char *kind, const char *system, const char *user) {
        g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
        char think = model_info_has_capability(r->model_info, "thinking")
                             ? '0' + r->request->include_thinking
                             : '-';

        g_checksum_update(sum, (const guchar *) strempty(system), -1);
        g_checksum_update(sum, (const guchar *) "\x1f", 1);
        g_checksum_update(sum, (const guchar *) strempty(user), -1);
        return g_strdup_printf("%s\x1f%s\x1f%c%u\x1f%s", r->request->model, kind, think, r->request->num_ctx,
                               g_checksum_get_string(sum));
}

static Query *add_query(Breakdown *bd, const char *system, const char *user) {
        Query *q = g_new0(Query, 1);

        q->system = g_strdup(system);
        q->user = g_strdup(user);
        q->key = cache_key(bd->run, bd->method, system, user);
        q->count = -1;
        g_ptr_array_add(bd->queries, q);
        return q;
}

static int64_t query_count(Breakdown *bd, guint i) {
        return i < bd->queries->len ? ((Query *) g_ptr_array_index(bd->queries, i))->count : -1;
}

static int64_t estimate_tokens(const char *text) {
        return (int64_t) (strlen(strempty(text)) / 4);
}

static json_t *build(Breakdown *bd) {
        Run *r = bd->run;
        int64_t total = r->chat_result.prompt_tokens, parts[_PART_MAX] = {}, sum = 0, templ;
        bool exact = !bd->failed && !streq(bd->method, "estimate");
        json_t *o, *in, *out, *tokens = json_object_get(r->result, "tokens");

        if (bd->failed || streq(bd->method, "estimate")) {
                bd->method = "estimate";
                for (int i = 0; i < _PART_MAX; i++)
                        parts[i] = estimate_tokens(bd->parts[i]);
        } else if (streq(bd->method, "tokenizer")) {
                for (int i = 0; i < _PART_MAX; i++)
                        parts[i] = query_count(bd, (guint) i);
        } else { /* prompt-probe: T, A (user), B (+system), C (+context), D (+injections) */
                int64_t t = query_count(bd, 0), a = query_count(bd, 1), b = query_count(bd, 2),
                        c = query_count(bd, 3), d = query_count(bd, 4);

                parts[PART_USER] = MAX(a - t, 0);
                parts[PART_SYSTEM] = MAX(b - a, 0);
                parts[PART_CONTEXT] = MAX(c - b, 0);
                parts[PART_INJECTIONS] = MAX(d - c, 0);
        }
        for (int i = 0; i < _PART_MAX; i++)
                sum += parts[i];
        templ = total - sum;
        if (templ < 0) {
                /* Parts counted apart can exceed the whole by a token or two (merges at the seams):
                 * take the excess from the user part so that the parts add up to the server's count. */
                parts[PART_USER] = MAX(parts[PART_USER] + templ, 0);
                templ = 0;
        }

        in = json_object();
        for (int i = 0; i < _PART_MAX; i++)
                json_set_int(in, part_names[i], parts[i]);
        json_set_int(in, "template", templ);
        json_set_int(in, "total", total);
        out = json_object();
        if (json_object_get(tokens, "output")) {
                json_object_set(out, "total", json_object_get(tokens, "output"));
                json_object_set(out, "thinking", json_object_get(tokens, "thinking"));
                json_object_set(out, "answer", json_object_get(tokens, "answer"));
                json_object_set(out, "thinking_estimated", json_object_get(tokens, "thinking_estimated"));
        }
        o = json_pack("{s:s, s:b, s:o, s:o}", "method", bd->method, "exact", exact, "input", in, "output",
                      out);
        json_set_int(o, "injected", parts[PART_SYSTEM] + parts[PART_CONTEXT] + parts[PART_INJECTIONS]);
        if (total > 0)
                json_set_real(o, "injected_share",
                              (double) (parts[PART_SYSTEM] + parts[PART_CONTEXT] + parts[PART_INJECTIONS]) /
                                      total);
        return o;
}

static void finish(Breakdown *bd) {
        _cleanup_json_ json_t *o = build(bd);

        bd->cb(bd->run, o, bd->userdata);
        breakdown_free(bd);
}

static void next_query(Breakdown *bd);

static void query_done(Backend *b, json_t *reply, const LabError *error, void *userdata) {
        Breakdown *bd = userdata;
        Query *q = g_ptr_array_index(bd->queries, bd->next);

        bd->answered = true;
        if (!reply) {
                log_info("Run %" PRIu64 ": token breakdown falls back to estimates: %s", bd->run->id,
                         strna(error->message));
                bd->failed = true;
                return;
        }
        q->count = json_get_int(reply, "count", -1);
        g_hash_table_replace(b->token_cache, g_strdup(q->key), GINT_TO_POINTER((gint) q->count + 1));
        bd->next++;
}

/* Always called once per query, after query_done() or instead of it: drives the chain. */
static void query_destroy(void *userdata) {
        Breakdown *bd = userdata;

        if (!bd->answered)
                bd->failed = true;
        if (bd->failed || bd->next >= bd->queries->len)
                return finish(bd);
        next_query(bd);
}

static void next_query(Breakdown *bd) {
        Run *r = bd->run;
        Backend *b = r->backend;
        const BackendReply reply = {.cb = query_done, .userdata = bd, .destroy = query_destroy};

        while (bd->next < bd->queries->len) {
                Query *q = g_ptr_array_index(bd->queries, bd->next);
                gpointer cached = g_hash_table_lookup(b->token_cache, q->key);

                if (cached) {
                        q->count = GPOINTER_TO_INT(cached) - 1;
                        bd->next++;
                        continue;
                }
                bd->answered = false;
                if (streq(bd->method, "tokenizer")) {
                        if (isempty(q->user)) {
                                q->count = 0;
                                bd->next++;
                                continue;
                        }
                        /* On failure to start, query_destroy() has already continued the chain. */
                        (void) b->ops->tokenize(b, r->request->model, q->user, /* add_special= */ false,
                                                &reply, NULL);
                } else {
                        ChatRequest req = {
                                .model = r->request->model,
                                .system = q->system,
                                .user = q->user,
                                .has_temperature = true,
                                .temperature = 0.0,
                                .num_ctx = r->request->num_ctx,
                                .think = model_info_has_capability(r->model_info, "thinking")
                                                 ? r->request->include_thinking
                                                 : -1,
                        };

                        (void) b->ops->count_prompt(b, &req, &reply, NULL);
                }
                return; /* continues from query_destroy() */
        }
        finish(bd);
}

int run_breakdown_start(Run *r, breakdown_cb cb, void *userdata) {
        Breakdown *bd;
        g_autofree char *with_ctx = NULL;
        const char *base = strempty(r->system_base), *full = strempty(r->system_message);

        if (r->chat_result.prompt_tokens < 0)
                return -ENODATA;

        bd = g_new0(Breakdown, 1);
        bd->run = run_ref(r);
        bd->cb = cb;
        bd->userdata = userdata;
        bd->queries = g_ptr_array_new_with_free_func(query_free);

        /* The parts as composed (see prompt_compose_system()). */
        with_ctx = prompt_compose_system(base, r->request->conversation_context, NULL);
        bd->parts[PART_USER] = run_user_message(r);
        bd->parts[PART_SYSTEM] = g_strdup(base);
        bd->parts[PART_CONTEXT] = g_strdup(with_ctx + strlen(base));
        bd->parts[PART_INJECTIONS] = g_strdup(full + MIN(strlen(with_ctx), strlen(full)));

        if (r->backend->ops->tokenize) {
                bd->method = "tokenizer";
                for (int i = 0; i < _PART_MAX; i++)
                        add_query(bd, NULL, bd->parts[i]);
        } else if (r->backend->ops->count_prompt) {
                bd->method = "prompt-probe";
                add_query(bd, NULL, "");
                add_query(bd, NULL, bd->parts[PART_USER]);
                add_query(bd, isempty(base) ? NULL : base, bd->parts[PART_USER]);
                add_query(bd, isempty(with_ctx) ? NULL : with_ctx, bd->parts[PART_USER]);
                add_query(bd, isempty(full) ? NULL : full, bd->parts[PART_USER]);
        } else
                bd->method = "estimate";

        next_query(bd);
        return 0;
}
