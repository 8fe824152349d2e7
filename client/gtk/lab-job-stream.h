/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One job of the daemon (batch, crossover, calibration, comparison) as seen by its owner:
 * signal "progress" (done, total, current run path or "/"), signal "finished" (result, Summary
 * dictionary, error message of a failed job or NULL), and Cancel(). */

#include "lab-dbus.h"
#include "lab-signal-router.h"

#define LAB_TYPE_JOB_STREAM (lab_job_stream_get_type())
G_DECLARE_FINAL_TYPE(LabJobStream, lab_job_stream, LAB, JOB_STREAM, GObject)

LabJobStream *lab_job_stream_new(LabSignalRouter *router, const char *path);
const char *lab_job_stream_get_path(LabJobStream *stream);
gboolean lab_job_stream_is_finished(LabJobStream *stream);
void lab_job_stream_cancel(LabJobStream *stream);
/* The daemon vanished: "finished" with "failed" unless already finished. */
void lab_job_stream_abandon(LabJobStream *stream);
