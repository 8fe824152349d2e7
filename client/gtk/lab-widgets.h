/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small building blocks shared by the pages: fact tables whose values are labelled for
 * accessibility (AT-SPI name = the key, text = the value), text areas in cards, titled groups. */

#include <adwaita.h>

/* A group (AT-SPI "panel") named `name` around `child`: a label's own accessible name is its text,
 * so values shown in labels are named through their group. */
GtkWidget *lab_named_group_new(GtkWidget *child, const char *name);
void lab_named_group_set_name(GtkWidget *group, const char *name);

/* A two-column grid of "key value" rows. */
GtkGrid *lab_fact_grid_new(void);
/* Add a row; returns the value label (showing "—"), in a group named `key` for assistive
 * technologies. */
GtkLabel *lab_fact_grid_add(GtkGrid *grid, const char *key, const char *tooltip);
/* Set a value label's text (NULL: "—"), taking ownership of text. */
void lab_fact_set(GtkLabel *value, char *text);

/* A scrolled, card-styled GtkTextView; ret_view gets the view. */
GtkWidget *lab_text_area_new(GtkTextView **ret_view, int min_height, const char *accessible_label,
                             gboolean editable);
char *lab_text_view_get_text(GtkTextView *view);
void lab_text_view_set_text(GtkTextView *view, const char *text);
/* Append text (with a tag name, or NULL) and keep the view scrolled to the end. */
void lab_text_view_append(GtkTextView *view, const char *text, const char *tag);

/* A titled group (AdwPreferencesGroup) holding `child` in a card (child may be NULL). */
AdwPreferencesGroup *lab_group_new(const char *title, const char *description, GtkWidget *child);
/* Wrap a widget in a padded card. */
GtkWidget *lab_card_new(GtkWidget *child);
/* An AdwActionRow with a suffix widget (activatable by the row when it is a button or switch). */
AdwActionRow *lab_action_row_new(const char *title, const char *subtitle, GtkWidget *suffix);
/* A spin button for integers. */
GtkSpinButton *lab_int_spin_new(double min, double max, double value, const char *accessible_label);
