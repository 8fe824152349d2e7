/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-widgets.h"

GtkWidget *lab_named_group_new(GtkWidget *child, const char *name) {
        GtkWidget *box = g_object_new(GTK_TYPE_BOX, "accessible-role", GTK_ACCESSIBLE_ROLE_GROUP, NULL);

        gtk_widget_set_hexpand(box, gtk_widget_get_hexpand(child));
        gtk_widget_set_halign(box, gtk_widget_get_halign(child));
        gtk_widget_set_valign(box, gtk_widget_get_valign(child));
        gtk_box_append(GTK_BOX(box), child);
        lab_named_group_set_name(box, name);
        return box;
}

void lab_named_group_set_name(GtkWidget *group, const char *name) {
        gtk_accessible_update_property(GTK_ACCESSIBLE(group), GTK_ACCESSIBLE_PROPERTY_LABEL, name, -1);
}

GtkGrid *lab_fact_grid_new(void) {
        GtkGrid *grid = GTK_GRID(gtk_grid_new());

        gtk_grid_set_row_spacing(grid, 6);
        gtk_grid_set_column_spacing(grid, 18);
        gtk_widget_add_css_class(GTK_WIDGET(grid), "lab-facts");
        return grid;
}

GtkLabel *lab_fact_grid_add(GtkGrid *grid, const char *key, const char *tooltip) {
        GtkWidget *k = gtk_label_new(key), *v = gtk_label_new("—");
        int row = 0;

        while (gtk_grid_get_child_at(grid, 0, row))
                row++;
        gtk_label_set_xalign(GTK_LABEL(k), 0.0f);
        gtk_widget_add_css_class(k, "dim-label");
        gtk_label_set_xalign(GTK_LABEL(v), 1.0f);
        gtk_label_set_selectable(GTK_LABEL(v), TRUE);
        gtk_widget_set_hexpand(v, TRUE);
        gtk_widget_add_css_class(v, "numeric");
        if (tooltip) {
                gtk_widget_set_tooltip_text(k, tooltip);
                gtk_widget_set_tooltip_text(v, tooltip);
        }
        gtk_grid_attach(grid, k, 0, row, 1, 1);
        gtk_grid_attach(grid, lab_named_group_new(v, key), 1, row, 1, 1);
        return GTK_LABEL(v);
}

void lab_fact_set(GtkLabel *value, char *text) {
        gtk_label_set_text(value, text ?: "—");
        g_free(text);
}

GtkWidget *lab_text_area_new(GtkTextView **ret_view, int min_height, const char *accessible_label,
                             gboolean editable) {
        GtkWidget *scrolled = gtk_scrolled_window_new(), *view = gtk_text_view_new();

        gtk_text_view_set_wrap_mode(GTK_TEXT_VIEW(view), GTK_WRAP_WORD_CHAR);
        gtk_text_view_set_editable(GTK_TEXT_VIEW(view), editable);
        gtk_text_view_set_cursor_visible(GTK_TEXT_VIEW(view), editable);
        gtk_text_view_set_top_margin(GTK_TEXT_VIEW(view), 10);
        gtk_text_view_set_bottom_margin(GTK_TEXT_VIEW(view), 10);
        gtk_text_view_set_left_margin(GTK_TEXT_VIEW(view), 12);
        gtk_text_view_set_right_margin(GTK_TEXT_VIEW(view), 12);
        gtk_widget_add_css_class(view, "lab-text");
        gtk_accessible_update_property(GTK_ACCESSIBLE(view), GTK_ACCESSIBLE_PROPERTY_LABEL, accessible_label,
                                       -1);
        gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scrolled), view);
        gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scrolled), GTK_POLICY_NEVER,
                                       GTK_POLICY_AUTOMATIC);
        gtk_scrolled_window_set_min_content_height(GTK_SCROLLED_WINDOW(scrolled), min_height);
        gtk_widget_add_css_class(scrolled, "card");
        gtk_widget_set_overflow(scrolled, GTK_OVERFLOW_HIDDEN);
        if (ret_view)
                *ret_view = GTK_TEXT_VIEW(view);
        return scrolled;
}

char *lab_text_view_get_text(GtkTextView *view) {
        GtkTextBuffer *buffer = gtk_text_view_get_buffer(view);
        GtkTextIter start, end;

        gtk_text_buffer_get_bounds(buffer, &start, &end);
        return gtk_text_buffer_get_text(buffer, &start, &end, FALSE);
}

void lab_text_view_set_text(GtkTextView *view, const char *text) {
        gtk_text_buffer_set_text(gtk_text_view_get_buffer(view), text ?: "", -1);
}

void lab_text_view_append(GtkTextView *view, const char *text, const char *tag) {
        GtkTextBuffer *buffer = gtk_text_view_get_buffer(view);
        GtkTextMark *mark;
        GtkTextIter end;

        gtk_text_buffer_get_end_iter(buffer, &end);
        if (tag)
                gtk_text_buffer_insert_with_tags_by_name(buffer, &end, text, -1, tag, NULL);
        else
                gtk_text_buffer_insert(buffer, &end, text, -1);
        gtk_text_buffer_get_end_iter(buffer, &end);
        mark = gtk_text_buffer_get_mark(buffer, "lab-end");
        if (!mark)
                mark = gtk_text_buffer_create_mark(buffer, "lab-end", &end, FALSE);
        else
                gtk_text_buffer_move_mark(buffer, mark, &end);
        gtk_text_view_scroll_mark_onscreen(view, mark);
}

GtkWidget *lab_card_new(GtkWidget *child) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);

        gtk_widget_add_css_class(box, "card");
        gtk_widget_add_css_class(box, "lab-card");
        gtk_widget_set_margin_top(child, 14);
        gtk_widget_set_margin_bottom(child, 14);
        gtk_widget_set_margin_start(child, 16);
        gtk_widget_set_margin_end(child, 16);
        gtk_box_append(GTK_BOX(box), child);
        return box;
}

AdwPreferencesGroup *lab_group_new(const char *title, const char *description, GtkWidget *child) {
        AdwPreferencesGroup *group = ADW_PREFERENCES_GROUP(adw_preferences_group_new());

        adw_preferences_group_set_title(group, title);
        if (description)
                adw_preferences_group_set_description(group, description);
        if (child)
                adw_preferences_group_add(group, child);
        return group;
}

AdwActionRow *lab_action_row_new(const char *title, const char *subtitle, GtkWidget *suffix) {
        AdwActionRow *row = ADW_ACTION_ROW(adw_action_row_new());

        adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
        if (subtitle)
                adw_action_row_set_subtitle(row, subtitle);
        if (suffix) {
                gtk_widget_set_valign(suffix, GTK_ALIGN_CENTER);
                adw_action_row_add_suffix(row, suffix);
                if (GTK_IS_SWITCH(suffix) || GTK_IS_CHECK_BUTTON(suffix))
                        adw_action_row_set_activatable_widget(row, suffix);
                gtk_accessible_update_property(GTK_ACCESSIBLE(suffix), GTK_ACCESSIBLE_PROPERTY_LABEL, title,
                                               -1);
        }
        return row;
}

GtkSpinButton *lab_int_spin_new(double min, double max, double value, const char *accessible_label) {
        GtkSpinButton *spin = GTK_SPIN_BUTTON(gtk_spin_button_new_with_range(min, max, 1));

        gtk_spin_button_set_value(spin, value);
        gtk_spin_button_set_numeric(spin, TRUE);
        gtk_widget_set_valign(GTK_WIDGET(spin), GTK_ALIGN_CENTER);
        if (accessible_label)
                gtk_accessible_update_property(GTK_ACCESSIBLE(spin), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                               accessible_label, -1);
        return spin;
}
