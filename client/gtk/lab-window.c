/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-actions.h"
#include "lab-widgets.h"
#include "lab-window.h"

struct _LabWindow {
        AdwApplicationWindow parent_instance;

        LabApplication *app;
        AdwToastOverlay *toasts;
        GtkStack *stack; /* "absent" | "labs" */
        AdwViewStack *labs;
        AdwViewSwitcherTitle *switcher;
        AdwStatusPage *absent;
        GtkLabel *bus_label;
        GtkWidget *switcher_bar;
        LabEnergyPage *energy;
        LabComparePage *compare;
        gulong daemon_handler;
};

G_DEFINE_FINAL_TYPE(LabWindow, lab_window, ADW_TYPE_APPLICATION_WINDOW)

void lab_window_add_toast(LabWindow *self, const char *text, gboolean error) {
        g_autofree char *escaped = g_markup_escape_text(text, -1);
        AdwToast *toast = adw_toast_new(escaped);

        g_return_if_fail(LAB_IS_WINDOW(self));
        /* Errors stay until dismissed: a person may be away while a long batch fails. */
        adw_toast_set_timeout(toast, error ? 0 : 4);
        adw_toast_set_priority(toast, error ? ADW_TOAST_PRIORITY_HIGH : ADW_TOAST_PRIORITY_NORMAL);
        adw_toast_overlay_add_toast(self->toasts, toast);
}

gboolean lab_window_show_page(LabWindow *self, const char *name) {
        g_return_val_if_fail(LAB_IS_WINDOW(self), FALSE);
        if (!adw_view_stack_get_child_by_name(self->labs, name))
                return FALSE;
        adw_view_stack_set_visible_child_name(self->labs, name);
        return TRUE;
}

LabEnergyPage *lab_window_get_energy_page(LabWindow *self) {
        g_return_val_if_fail(LAB_IS_WINDOW(self), NULL);
        return self->energy;
}

LabComparePage *lab_window_get_compare_page(LabWindow *self) {
        g_return_val_if_fail(LAB_IS_WINDOW(self), NULL);
        return self->compare;
}

static void on_daemon_changed(LabApplication *app, gpointer user_data) {
        LabWindow *self = user_data;
        LlmlabManager *manager = lab_application_get_manager(app);
        g_autofree char *version = NULL;

        gtk_stack_set_visible_child_name(self->stack, manager ? "labs" : "absent");
        adw_view_switcher_title_set_view_switcher_enabled(self->switcher, manager != NULL);
        gtk_widget_set_visible(self->switcher_bar, manager != NULL);
        if (manager) {
                version = g_strdup_printf("llmlabd %s · %s bus", llmlab_manager_get_version(manager),
                                          lab_application_is_user_bus(app) ? "session" : "system");
                gtk_label_set_text(self->bus_label, version);
        } else
                gtk_label_set_text(self->bus_label, "not connected");
}

static GtkWidget *build_absent_page(LabWindow *self) {
        const char *desc;

        desc = lab_application_is_user_bus(self->app)
                       ? "llmlabd is not on the session bus. Start it with <tt>llmlabd --user</tt>; this "
                         "window connects as soon as it appears."
                       : "llmlabd is not on the system bus. Start it with <tt>systemctl start llmlab</tt>; "
                         "this window connects as soon as it appears.";
        self->absent = ADW_STATUS_PAGE(adw_status_page_new());
        adw_status_page_set_icon_name(self->absent, "network-offline-symbolic");
        adw_status_page_set_title(self->absent, "The llmlab daemon is not running");
        adw_status_page_set_description(self->absent, desc);
        return GTK_WIDGET(self->absent);
}

static GtkWidget *build_menu_button(void) {
        g_autoptr(GMenu) menu = g_menu_new();
        GtkWidget *button;

        g_menu_append(menu, "_Refresh", "app.refresh");
        g_menu_append(menu, "_Export Runs…", "app.export");
        g_menu_append(menu, "_About llmlab", "app.about");
        g_menu_append(menu, "_Quit", "app.quit");
        button = gtk_menu_button_new();
        gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(button), "open-menu-symbolic");
        gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(button), G_MENU_MODEL(menu));
        gtk_widget_set_tooltip_text(button, "Main menu");
        return button;
}

static void build(LabWindow *self) {
        GtkWidget *box, *header, *switcher_bar;
        AdwViewStackPage *page;

        self->labs = ADW_VIEW_STACK(adw_view_stack_new());
        self->energy = lab_energy_page_new(self->app);
        self->compare = lab_compare_page_new(self->app);
        page = adw_view_stack_add_titled(self->labs, GTK_WIDGET(self->energy), "energy", "Energy lab");
        adw_view_stack_page_set_icon_name(page, "battery-level-70-symbolic");
        page = adw_view_stack_add_titled(self->labs, GTK_WIDGET(self->compare), "comparison", "Comparison");
        adw_view_stack_page_set_icon_name(page, "view-dual-symbolic");

        self->switcher = ADW_VIEW_SWITCHER_TITLE(adw_view_switcher_title_new());
        adw_view_switcher_title_set_stack(self->switcher, self->labs);
        adw_view_switcher_title_set_title(self->switcher, "llmlab");
        header = adw_header_bar_new();
        adw_header_bar_set_title_widget(ADW_HEADER_BAR(header), GTK_WIDGET(self->switcher));
        self->bus_label = GTK_LABEL(gtk_label_new("not connected"));
        gtk_widget_add_css_class(GTK_WIDGET(self->bus_label), "dim-label");
        gtk_widget_add_css_class(GTK_WIDGET(self->bus_label), "caption");
        adw_header_bar_pack_start(ADW_HEADER_BAR(header),
                                  lab_named_group_new(GTK_WIDGET(self->bus_label), "Daemon connection"));
        adw_header_bar_pack_end(ADW_HEADER_BAR(header), build_menu_button());

        self->stack = GTK_STACK(gtk_stack_new());
        gtk_stack_set_transition_type(self->stack, GTK_STACK_TRANSITION_TYPE_CROSSFADE);
        gtk_stack_add_named(self->stack, build_absent_page(self), "absent");
        gtk_stack_add_named(self->stack, GTK_WIDGET(self->labs), "labs");
        gtk_widget_set_vexpand(GTK_WIDGET(self->stack), TRUE);

        switcher_bar = adw_view_switcher_bar_new();
        adw_view_switcher_bar_set_stack(ADW_VIEW_SWITCHER_BAR(switcher_bar), self->labs);
        g_object_bind_property(self->switcher, "title-visible", switcher_bar, "reveal",
                               G_BINDING_SYNC_CREATE);

        box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
        gtk_box_append(GTK_BOX(box), header);
        gtk_box_append(GTK_BOX(box), GTK_WIDGET(self->stack));
        gtk_box_append(GTK_BOX(box), switcher_bar);
        self->switcher_bar = switcher_bar;
        self->toasts = ADW_TOAST_OVERLAY(adw_toast_overlay_new());
        adw_toast_overlay_set_child(self->toasts, box);
        adw_application_window_set_content(ADW_APPLICATION_WINDOW(self), GTK_WIDGET(self->toasts));
}

static void lab_window_dispose(GObject *object) {
        LabWindow *self = LAB_WINDOW(object);

        g_clear_signal_handler(&self->daemon_handler, self->app);
        g_clear_object(&self->app);
        G_OBJECT_CLASS(lab_window_parent_class)->dispose(object);
}

static void lab_window_class_init(LabWindowClass *klass) {
        G_OBJECT_CLASS(klass)->dispose = lab_window_dispose;
}

static void lab_window_init(LabWindow *self) {
}

LabWindow *lab_window_new(LabApplication *app) {
        LabWindow *self = g_object_new(LAB_TYPE_WINDOW, "application", app, "title", "llmlab",
                                       "default-width", 1480, "default-height", 960, NULL);

        self->app = g_object_ref(app);
        build(self);
        lab_actions_track_energy_page(app, self->energy);
        self->daemon_handler = g_signal_connect(app, "daemon-changed", G_CALLBACK(on_daemon_changed), self);
        on_daemon_changed(app, self);
        return self;
}
