/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One run of the daemon as seen by its owner: its streamed text (signal "chunk"), its end
 * (signal "finished": "done", "cancelled" or "failed", the Result dictionary, and for a failed run
 * the daemon's error message; "failed" with an empty dictionary when the daemon vanished),
 * Cancel(), and the transcript when chunks were missed (signal "resync"). */

#include "lab-dbus.h"
#include "lab-signal-router.h"

#define LAB_TYPE_RUN_STREAM (lab_run_stream_get_type())
G_DECLARE_FINAL_TYPE(LabRunStream, lab_run_stream, LAB, RUN_STREAM, GObject)

LabRunStream *lab_run_stream_new(LabSignalRouter *router, const char *path);
const char *lab_run_stream_get_path(LabRunStream *stream);
LlmlabRun *lab_run_stream_get_proxy(LabRunStream *stream);
gboolean lab_run_stream_is_finished(LabRunStream *stream);
/* The text streamed so far. */
const char *lab_run_stream_get_answer(LabRunStream *stream);
const char *lab_run_stream_get_thinking(LabRunStream *stream);
/* Ask the daemon to cancel; "finished" follows ("cancelled"). Errors go to the "error" signal. */
void lab_run_stream_cancel(LabRunStream *stream);
/* End the stream locally without waiting for the daemon (it vanished): emits "finished" with
 * "failed" and an empty dictionary, unless already finished. */
void lab_run_stream_abandon(LabRunStream *stream);
