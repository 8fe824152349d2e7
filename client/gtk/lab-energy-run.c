/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Running tests from the Energy lab: a single run (StartRun), a batch (StartBatch), calibration
 * (Calibrate) and the crossover finder (StartCrossover); streaming the current run into the
 * response; its results and power timeline; stopping; export. Whatever happens (an error, a
 * cancel, the daemon vanishing) the page goes back to idle. */

#include <gio/gunixfdlist.h>
#include <gio/gunixinputstream.h>

#include "lab-energy-page-private.h"
#include "lab-format.h"
#include "lab-widgets.h"

static void clear_response(LabEnergyPage *self) {
        lab_text_view_set_text(self->answer_view, "");
        lab_text_view_set_text(self->thinking_view, "");
        gtk_revealer_set_reveal_child(self->thinking_revealer, FALSE);
        gtk_label_set_text(self->response_state, "");
}

static void detach_stream(LabEnergyPage *self) {
        if (!self->stream)
                return;
        g_signal_handlers_disconnect_by_data(self->stream, self);
        g_clear_object(&self->stream);
}

static void detach_job(LabEnergyPage *self) {
        if (!self->job)
                return;
        g_signal_handlers_disconnect_by_data(self->job, self);
        g_clear_object(&self->job);
}

/* Back to idle, whatever the operation was and however it ended. */
static void end_operation(LabEnergyPage *self, const char *status) {
        g_cancellable_cancel(self->op_cancellable);
        g_clear_object(&self->op_cancellable);
        detach_stream(self);
        detach_job(self);
        g_clear_pointer(&self->op_kind, g_free);
        self->stop_requested = FALSE;
        lab_energy_page_set_state(self, PAGE_IDLE, status);
        lab_history_reload(self->history);
}

void lab_energy_page_abandon(LabEnergyPage *self) {
        if (self->state == PAGE_IDLE)
                return;
        if (self->stream)
                lab_run_stream_abandon(self->stream);
        if (self->job)
                lab_job_stream_abandon(self->job);
        if (self->state != PAGE_IDLE) {
                lab_application_notify(self->app, "The llmlab daemon went away; the test was stopped");
                end_operation(self, "Stopped: the daemon went away");
        }
}

/* ---------------------------------------------------------------- the current run */

static void on_timeline(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GVariant) samples = NULL, phases = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *message = NULL;
        LabEnergyPage *self;

        if (!llmlab_run_call_get_power_timeline_finish(LLMLAB_RUN(source), &samples, &phases, res, &error)) {
                if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        return;
                self = LAB_ENERGY_PAGE(user_data);
                message = lab_error_message(error);
                lab_power_chart_set_message(self->power, message);
                return;
        }
        self = LAB_ENERGY_PAGE(user_data);
        lab_power_chart_set_timeline(self->power, samples, phases);
}

static void show_run_result(LabEnergyPage *self, LabRunStream *stream, GVariant *metrics) {
        g_autofree char *benchmark = lab_variant_lookup_string(metrics, "energy.benchmark");
        g_autofree char *message = NULL;
        gboolean measured = FALSE;

        lab_energy_results_set_result(self->results, metrics);
        (void) lab_variant_lookup_bool(metrics, "energy.measured", &measured);
        if (measured) {
                lab_power_chart_set_message(self->power, "Reading the power timeline…");
                llmlab_run_call_get_power_timeline(lab_run_stream_get_proxy(stream), self->cancellable,
                                                   on_timeline, self);
                return;
        }
        if (benchmark)
                message = g_strdup_printf("Estimated run: the energy comes from benchmark %s, not from a "
                                          "measurement, so there is no power timeline",
                                          benchmark);
        else
                message = g_strdup("This run was not measured, so there is no power timeline");
        lab_power_chart_set_message(self->power, message);
}

static void on_chunk(LabRunStream *stream, const char *text, gboolean thinking, gpointer user_data) {
        LabEnergyPage *self = user_data;

        if (thinking) {
                lab_text_view_append(self->thinking_view, text, NULL);
                gtk_revealer_set_reveal_child(self->thinking_revealer, TRUE);
                gtk_label_set_text(self->response_state, "Thinking…");
        } else {
                lab_text_view_append(self->answer_view, text, NULL);
                gtk_label_set_text(self->response_state, "Answering…");
        }
}

static void on_resync(LabRunStream *stream, gpointer user_data) {
        LabEnergyPage *self = user_data;
        const char *thinking = lab_run_stream_get_thinking(stream);

        lab_text_view_set_text(self->answer_view, lab_run_stream_get_answer(stream));
        lab_text_view_set_text(self->thinking_view, thinking);
        gtk_revealer_set_reveal_child(self->thinking_revealer, thinking[0] != '\0');
}

static void on_stream_error(LabRunStream *stream, GError *error, gpointer user_data) {
        lab_application_report_error(LAB_ENERGY_PAGE(user_data)->app, "Cannot stop the run", error);
}

static char *done_status(GVariant *metrics) {
        double out = 0, total = 0;
        g_autofree char *energy = NULL;

        (void) lab_variant_lookup_double(metrics, "tokens.output", &out);
        energy = lab_variant_lookup_double(metrics, "energy.total_wh", &total)
                         ? lab_format_energy(total)
                         : g_strdup("no energy figure");
        return g_strdup_printf("Done: %.0f output tokens, %s", out, energy);
}

static void on_run_finished(LabRunStream *stream, const char *result, GVariant *metrics, const char *message,
                            gpointer user_data) {
        LabEnergyPage *self = user_data;
        g_autoptr(LabRunStream) ref = g_object_ref(stream);
        g_autofree char *status = NULL;
        gboolean single = g_strcmp0(self->op_kind, "run") == 0;

        if (g_str_equal(result, "done")) {
                show_run_result(self, stream, metrics);
                lab_middleware_set_last_turn(self->middleware, self->op_query,
                                             lab_run_stream_get_answer(stream));
                gtk_label_set_text(self->response_state, "Done");
                status = done_status(metrics);
        } else if (g_str_equal(result, "cancelled")) {
                gtk_label_set_text(self->response_state, "Cancelled");
                status = g_strdup("Cancelled");
        } else {
                g_autofree char *text = g_strdup_printf("Run failed: %s", message ?: "unknown error");

                gtk_label_set_text(self->response_state, "Failed");
                lab_application_show_error(self->app, text);
                status = g_steal_pointer(&text);
        }
        if (self->stream == stream)
                detach_stream(self);
        if (single)
                end_operation(self, status);
        else {
                gtk_label_set_text(self->status, status);
                lab_history_reload(self->history);
        }
}

static void attach_run(LabEnergyPage *self, const char *path) {
        LabSignalRouter *router = lab_application_get_router(self->app);

        if (!router)
                return;
        if (self->stream && g_str_equal(lab_run_stream_get_path(self->stream), path))
                return;
        detach_stream(self);
        clear_response(self);
        gtk_label_set_text(self->response_state, "Waiting for the model…");
        self->stream = lab_run_stream_new(router, path);
        g_signal_connect(self->stream, "chunk", G_CALLBACK(on_chunk), self);
        g_signal_connect(self->stream, "resync", G_CALLBACK(on_resync), self);
        g_signal_connect(self->stream, "error", G_CALLBACK(on_stream_error), self);
        g_signal_connect(self->stream, "finished", G_CALLBACK(on_run_finished), self);
}

/* ---------------------------------------------------------------- jobs */

static void on_job_progress(LabJobStream *job, guint done, guint total, const char *current,
                            gpointer user_data) {
        LabEnergyPage *self = user_data;
        g_autofree char *status = NULL;

        if (total > 0)
                gtk_progress_bar_set_fraction(self->progress, (double) done / total);
        status = g_strdup_printf("Running the %s: %u of %u runs done", self->op_kind, done, total);
        if (self->state != PAGE_STOPPING)
                gtk_label_set_text(self->status, status);
        if (!g_str_equal(current, "/"))
                attach_run(self, current);
}

static char *job_title(LabEnergyPage *self) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *time = g_date_time_format(now, "%H:%M:%S");
        const char *what = g_str_equal(self->op_kind, "batch")       ? "Batch"
                           : g_str_equal(self->op_kind, "crossover") ? "Crossover"
                                                                     : "Calibration";

        return g_strdup_printf("%s · %s · %s", what, self->op_model, time);
}

static void on_job_finished(LabJobStream *job, const char *result, GVariant *summary, const char *message,
                            gpointer user_data) {
        LabEnergyPage *self = user_data;
        g_autoptr(LabJobStream) ref = g_object_ref(job);
        g_autofree char *title = job_title(self);
        g_autofree char *status = NULL;
        gboolean calibration = g_str_equal(self->op_kind, "calibration");
        double n = 0;

        /* A cancelled batch still has statistics for the runs it finished. */
        if (g_str_equal(result, "done") ||
            (g_str_equal(result, "cancelled") && lab_variant_lookup_double(summary, "n", &n) && n > 0))
                lab_energy_jobs_show_summary(self->jobs, self->op_kind, title, summary);
        if (g_str_equal(result, "failed")) {
                status = g_strdup_printf("The %s failed: %s", self->op_kind, message ?: "unknown error");
                lab_application_show_error(self->app, status);
        } else
                status = g_strdup_printf("The %s %s", self->op_kind,
                                         g_str_equal(result, "done") ? "is finished" : "was cancelled");
        if (!g_str_equal(self->op_kind, "batch"))
                lab_energy_jobs_set_status(self->jobs, self->op_kind, status);
        end_operation(self, status);
        /* Calibration creates or updates a benchmark. */
        if (calibration && g_str_equal(result, "done"))
                lab_energy_page_reload(self);
}

static void on_job_error(LabJobStream *job, GError *error, gpointer user_data) {
        lab_application_report_error(LAB_ENERGY_PAGE(user_data)->app, "Cannot stop the job", error);
}

static void attach_job(LabEnergyPage *self, const char *path) {
        LabSignalRouter *router = lab_application_get_router(self->app);

        if (!router)
                return;
        self->job = lab_job_stream_new(router, path);
        gtk_progress_bar_set_fraction(self->progress, 0.0);
        g_signal_connect(self->job, "progress", G_CALLBACK(on_job_progress), self);
        g_signal_connect(self->job, "finished", G_CALLBACK(on_job_finished), self);
        g_signal_connect(self->job, "error", G_CALLBACK(on_job_error), self);
}

/* ---------------------------------------------------------------- starting and stopping */

static void on_started(GObject *source, GAsyncResult *res, gpointer user_data) {
        g_autoptr(GError) error = NULL;
        g_autofree char *path = NULL;
        LabEnergyPage *self;

        path = lab_application_call_start_finish(LAB_APPLICATION(source), res, &error);
        if (!path && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;
        self = LAB_ENERGY_PAGE(user_data);
        if (!path) {
                g_autofree char *message = lab_error_message(error);
                g_autofree char *status = g_strdup_printf("Could not start: %s", message);

                lab_application_show_error(self->app, status);
                end_operation(self, status);
                return;
        }
        if (g_str_equal(self->op_kind, "run"))
                attach_run(self, path);
        else
                attach_job(self, path);
        if (!self->stream && !self->job) {
                end_operation(self, "The daemon went away");
                return;
        }
        if (self->stop_requested) {
                /* Stop was pressed while the call was on its way. */
                if (self->job)
                        lab_job_stream_cancel(self->job);
                else
                        lab_run_stream_cancel(self->stream);
                return;
        }
        lab_energy_page_set_state(self, PAGE_RUNNING,
                                  g_str_equal(self->op_kind, "run") ? "Running…" : "Starting the runs…");
}

static void start_operation(LabEnergyPage *self, const char *kind, const char *method, GVariant *options) {
        g_autofree char *problem = NULL;
        g_autoptr(GVariant) request = NULL;
        g_autoptr(GVariant) opts = options ? g_variant_ref_sink(options) : NULL;
        g_autofree char *status = NULL;
        GVariant *params;

        if (self->state != PAGE_IDLE) {
                lab_application_notify(self->app, "A test is already running");
                return;
        }
        if (!lab_application_get_manager(self->app)) {
                lab_application_show_error(self->app, "The llmlab daemon is not running");
                return;
        }
        request = lab_energy_page_build_request(self, &problem);
        if (!request) {
                lab_application_show_error(self->app, problem);
                return;
        }
        g_variant_ref_sink(request);
        g_free(self->op_kind);
        self->op_kind = g_strdup(kind);
        g_free(self->op_model);
        self->op_model = lab_energy_page_selected_model(self);
        g_free(self->op_query);
        (void) g_variant_lookup(request, "user_prompt", "s", &self->op_query);
        self->stop_requested = FALSE;
        params = opts ? g_variant_new("(@a{sv}@a{sv})", request, opts) : g_variant_new("(@a{sv})", request);
        clear_response(self);
        if (g_str_equal(kind, "run")) {
                lab_energy_results_clear(self->results);
                lab_power_chart_set_message(self->power, "Waiting for the run to finish…");
        }
        self->op_cancellable = g_cancellable_new();
        status = g_strdup_printf("Starting the %s…", kind);
        lab_energy_page_set_state(self, PAGE_STARTING, status);
        lab_application_call_start(self->app, method, params, self->op_cancellable, on_started, self);
}

void lab_energy_page_run(LabEnergyPage *self) {
        GVariantDict options;
        guint runs;

        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        runs = (guint) gtk_spin_button_get_value_as_int(self->runs);
        if (runs <= 1) {
                start_operation(self, "run", "StartRun", NULL);
                return;
        }
        g_variant_dict_init(&options, NULL);
        g_variant_dict_insert(&options, "runs", "u", (guint32) runs);
        g_variant_dict_insert(&options, "warmup", "u",
                              (guint32) gtk_spin_button_get_value_as_int(self->warmup));
        start_operation(self, "batch", "StartBatch", g_variant_dict_end(&options));
}

void lab_energy_page_calibrate(LabEnergyPage *self) {
        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        if (self->state == PAGE_IDLE)
                lab_energy_jobs_set_status(self->jobs, "calibration", "Running…");
        start_operation(self, "calibration", "Calibrate", lab_energy_jobs_calibration_options(self->jobs));
}

void lab_energy_page_run_crossover(LabEnergyPage *self) {
        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        if (self->state == PAGE_IDLE)
                lab_energy_jobs_set_status(self->jobs, "crossover", "Running…");
        start_operation(self, "crossover", "StartCrossover", lab_energy_jobs_crossover_options(self->jobs));
}

void lab_energy_page_stop(LabEnergyPage *self) {
        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        switch (self->state) {
        case PAGE_IDLE:
        case PAGE_STOPPING: return;
        case PAGE_STARTING: self->stop_requested = TRUE; break;
        case PAGE_RUNNING:
                if (self->job)
                        lab_job_stream_cancel(self->job);
                else if (self->stream)
                        lab_run_stream_cancel(self->stream);
                break;
        }
        lab_energy_page_set_state(self, PAGE_STOPPING, "Stopping…");
}

void lab_energy_page_clear(LabEnergyPage *self) {
        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        clear_response(self);
        lab_energy_results_clear(self->results);
        lab_power_chart_set_message(self->power, NULL);
        lab_energy_jobs_clear(self->jobs);
        if (self->state == PAGE_IDLE)
                gtk_label_set_text(self->status, "Ready");
}

/* ---------------------------------------------------------------- export */

typedef struct {
        LabEnergyPage *self;
        GFile *file;
        GInputStream *input;
} Export;

static void export_free(Export *e) {
        g_object_unref(e->self);
        g_object_unref(e->file);
        g_clear_object(&e->input);
        g_free(e);
}

static void on_spliced(GObject *source, GAsyncResult *res, gpointer user_data) {
        Export *e = user_data;
        g_autoptr(GError) error = NULL;
        g_autofree char *name = g_file_get_parse_name(e->file);
        gssize n;

        n = g_output_stream_splice_finish(G_OUTPUT_STREAM(source), res, &error);
        if (n < 0)
                lab_application_report_error(e->self->app, "Cannot write the export", error);
        else {
                g_autofree char *text =
                        g_strdup_printf("Exported %" G_GSSIZE_FORMAT " bytes to %s", n, name);

                lab_application_notify(e->self->app, text);
        }
        export_free(e);
}

static void on_replaced(GObject *source, GAsyncResult *res, gpointer user_data) {
        Export *e = user_data;
        g_autoptr(GFileOutputStream) out = NULL;
        g_autoptr(GError) error = NULL;

        out = g_file_replace_finish(G_FILE(source), res, &error);
        if (!out) {
                lab_application_report_error(e->self->app, "Cannot write the export", error);
                export_free(e);
                return;
        }
        g_output_stream_splice_async(G_OUTPUT_STREAM(out), e->input,
                                     G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                                             G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                     G_PRIORITY_DEFAULT, NULL, on_spliced, e);
}

static void on_exported(GObject *source, GAsyncResult *res, gpointer user_data) {
        Export *e = user_data;
        g_autoptr(GUnixFDList) fds = NULL;
        g_autoptr(GVariant) handle = NULL;
        g_autoptr(GError) error = NULL;
        int fd;

        if (!llmlab_manager_call_export_runs_finish(LLMLAB_MANAGER(source), &handle, &fds, res, &error)) {
                lab_application_report_error(e->self->app, "Cannot export the runs", error);
                export_free(e);
                return;
        }
        fd = fds ? g_unix_fd_list_get(fds, g_variant_get_handle(handle), &error) : -1;
        if (fd < 0) {
                if (!error)
                        error = g_error_new(G_IO_ERROR, G_IO_ERROR_FAILED,
                                            "the daemon sent no file descriptor");
                lab_application_report_error(e->self->app, "Cannot export the runs", error);
                export_free(e);
                return;
        }
        e->input = g_unix_input_stream_new(fd, /* close_fd= */ TRUE);
        g_file_replace_async(e->file, NULL, FALSE, G_FILE_CREATE_REPLACE_DESTINATION, G_PRIORITY_DEFAULT,
                             NULL, on_replaced, e);
}

static void export_to_file(LabEnergyPage *self, GFile *file) {
        g_autofree char *name = g_file_get_basename(file);
        LlmlabManager *manager = lab_application_get_manager(self->app);
        GVariantDict filter;
        Export *e;

        if (!manager) {
                lab_application_show_error(self->app, "The llmlab daemon is not running");
                return;
        }
        e = g_new0(Export, 1);
        e->self = g_object_ref(self);
        e->file = g_object_ref(file);
        g_variant_dict_init(&filter, NULL);
        llmlab_manager_call_export_runs(manager, name && g_str_has_suffix(name, ".csv") ? "csv" : "json",
                                        g_variant_dict_end(&filter), NULL, NULL, on_exported, e);
}

void lab_energy_page_export_to(LabEnergyPage *self, const char *path) {
        g_autoptr(GFile) file = g_file_new_for_commandline_arg(path);

        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        export_to_file(self, file);
}

static void on_chooser_response(GtkNativeDialog *dialog, int response, gpointer user_data) {
        LabEnergyPage *self = user_data;

        if (response == GTK_RESPONSE_ACCEPT) {
                g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));

                if (file)
                        export_to_file(self, file);
        }
        gtk_native_dialog_destroy(dialog);
        g_object_unref(dialog);
        g_object_unref(self);
}

void lab_energy_page_export(LabEnergyPage *self) {
        GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
        GtkFileChooserNative *chooser;
        g_autoptr(GtkFileFilter) json = gtk_file_filter_new(), csv = gtk_file_filter_new();

        g_return_if_fail(LAB_IS_ENERGY_PAGE(self));
        chooser = gtk_file_chooser_native_new("Export Runs", GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL,
                                              GTK_FILE_CHOOSER_ACTION_SAVE, "_Export", "_Cancel");
        gtk_file_filter_set_name(json, "JSON (complete records)");
        gtk_file_filter_add_suffix(json, "json");
        gtk_file_filter_set_name(csv, "CSV (one row per run)");
        gtk_file_filter_add_suffix(csv, "csv");
        gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), json);
        gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), csv);
        gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(chooser), "llmlab-runs.json");
        gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(chooser), TRUE);
        g_signal_connect(chooser, "response", G_CALLBACK(on_chooser_response), g_object_ref(self));
        gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}
