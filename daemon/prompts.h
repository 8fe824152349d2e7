/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* System prompt presets and prompt composition.
 *
 * Presets are files in two directories: the built-in ones (<datadir>/llmlab/system_prompts) and
 * the administrator's (<config dir>/system_prompts, /etc/llmlab/system_prompts by default), which
 * win on equal ids. An id is the file name without its .md or .txt extension; ids are plain file
 * names: "../x", "/etc/passwd", "" and hidden names never reach the file system.
 *
 * Composition follows the original lab exactly: base system prompt, then the conversation
 * context wrapped in <conversation_context> tags, then each injection as "[description]\ncontent",
 * separated by blank lines and "---"; the user prompt is never modified. */

#include <jansson.h>

#include "lab-error.h"
#include "request.h"

#define PROMPT_MAX_FILE_BYTES (256U * 1024U)

typedef struct PromptCatalog PromptCatalog;

int prompt_catalog_new(const char *builtin_dir, const char *local_dir, PromptCatalog **ret);
PromptCatalog *prompt_catalog_free(PromptCatalog *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(PromptCatalog *, prompt_catalog_free);

bool prompt_id_is_valid(const char *id) _pure_;

/* Array of {id, title, origin, bytes}, sorted by id. Rescans the directories each time. */
int prompt_catalog_list(PromptCatalog *c, json_t **ret);
/* The preset's text. NoSuchPrompt for invalid or unknown ids. */
int prompt_catalog_get(PromptCatalog *c, const char *id, char **ret, LabError *error);

/* The composed system message (may be empty: then no system message is sent). @base is the
 * preset text or the request's system_prompt, may be NULL. */
char *prompt_compose_system(const char *base, const char *conversation_context, const LabRequest *r);
