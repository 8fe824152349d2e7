/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared between lab-energy-page.c (the widgets, the lists, the request) and lab-energy-run.c
 * (running tests, streaming, results, export). */

#include "lab-energy-jobs.h"
#include "lab-energy-page.h"
#include "lab-energy-results.h"
#include "lab-history.h"
#include "lab-job-stream.h"
#include "lab-middleware.h"
#include "lab-power-chart.h"
#include "lab-run-stream.h"

typedef enum {
        PAGE_IDLE,
        PAGE_STARTING, /* the Start* call is on its way */
        PAGE_RUNNING,
        PAGE_STOPPING,
} PageState;

struct _LabEnergyPage {
        GtkBox parent_instance;

        LabApplication *app;
        gulong daemon_handler;
        gulong sources_handler;
        LlmlabManager *watched_manager;
        GCancellable *cancellable; /* lists and reads; cancelled on dispose and when the daemon changes */
        GCancellable *info_cancellable; /* the selected model's info */

        /* configuration */
        AdwComboRow *model_row;
        GtkStringList *models;
        AdwComboRow *benchmark_row;
        GtkStringList *benchmark_titles;
        GPtrArray *benchmark_ids; /* char*, index 0 = the daemon's default (NULL) */
        AdwActionRow *thinking_row;
        GtkSwitch *thinking;
        GtkTextView *query;
        GtkScale *temperature;
        GtkSpinButton *max_tokens;
        GtkEntry *seed;
        LabMiddleware *middleware;
        AdwActionRow *live_row;
        GtkSwitch *live;
        gboolean live_available;
        GtkSpinButton *runs;
        GtkSpinButton *warmup;
        LabEnergyJobs *jobs;

        /* control bar */
        GtkButton *stop_button;
        GtkLabel *status;
        GtkProgressBar *progress;

        /* results */
        GtkLabel *response_state;
        GtkRevealer *thinking_revealer;
        GtkTextView *thinking_view;
        GtkTextView *answer_view;
        LabEnergyResults *results;
        LabPowerChart *power;
        LabHistory *history;

        /* the operation in progress */
        PageState state;
        char *op_kind; /* "run", "batch", "calibration", "crossover" */
        char *op_model;
        char *op_query;
        gboolean stop_requested;
        GCancellable *op_cancellable; /* the Start* call */
        LabRunStream *stream;         /* the run streaming into the response */
        LabJobStream *job;
};

/* lab-energy-page.c */
char *lab_energy_page_selected_model(LabEnergyPage *page);
/* The StartRun request from the configuration, or NULL with a message for the person. */
GVariant *lab_energy_page_build_request(LabEnergyPage *page, char **ret_problem);
void lab_energy_page_set_state(LabEnergyPage *page, PageState state, const char *status);

/* lab-energy-run.c */
void lab_energy_page_abandon(LabEnergyPage *page);
