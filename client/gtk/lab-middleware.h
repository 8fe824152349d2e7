/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The middleware injections of the Energy lab: a system prompt (preset dropdown with editable
 * text and Clear), conversation context (with "Inject last turn") and a free-form list of
 * injections (description, content). */

#include <adwaita.h>

#include "lab-application.h"

#define LAB_TYPE_MIDDLEWARE (lab_middleware_get_type())
G_DECLARE_FINAL_TYPE(LabMiddleware, lab_middleware, LAB, MIDDLEWARE, GtkBox)

LabMiddleware *lab_middleware_new(LabApplication *app);
/* Reload the presets from the daemon (asynchronously). */
void lab_middleware_reload(LabMiddleware *mw);
/* Add system_prompt or system_prompt_id, conversation_context and injections to a request. */
void lab_middleware_add_to_request(LabMiddleware *mw, GVariantDict *request);
/* What "Inject last turn" appends: the last query and its answer (thinking left out). */
void lab_middleware_set_last_turn(LabMiddleware *mw, const char *query, const char *answer);
void lab_middleware_set_system_prompt(LabMiddleware *mw, const char *text);
/* Select a preset by id; FALSE when there is none of that id. */
gboolean lab_middleware_select_preset(LabMiddleware *mw, const char *id);
void lab_middleware_set_context(LabMiddleware *mw, const char *text);
void lab_middleware_add_injection(LabMiddleware *mw, const char *description, const char *content);
void lab_middleware_clear(LabMiddleware *mw);
