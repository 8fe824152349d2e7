/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "lab-format.h"
#include "lab-middleware.h"
#include "lab-widgets.h"

struct _LabMiddleware {
        GtkBox parent_instance;

        LabApplication *app;
        GCancellable *cancellable;        /* preset list */
        GCancellable *preset_cancellable; /* one preset's text */
        AdwComboRow *preset_row;
        GtkStringList *preset_titles;
        GPtrArray *preset_ids; /* char*, index 0 = custom (NULL) */
        char *preset_text;     /* the text of the selected preset as loaded */
        gboolean updating;
        GtkTextView *system_view;
        GtkTextView *context_view;
        GtkButton *inject_button;
        GtkListBox *injections;
        char *last_query;
        char *last_answer;
};

G_DEFINE_FINAL_TYPE(LabMiddleware, lab_middleware, GTK_TYPE_BOX)

static void on_preset_text(GObject *source, GAsyncResult *res, gpointer user_data) {
        LabMiddleware *self;
        g_autofree char *text = NULL;
        g_autoptr(GError) error = NULL;

        if (!llmlab_manager_call_get_system_prompt_finish(LLMLAB_MANAGER(source), &text, res, &error)) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        lab_application_report_error(LAB_MIDDLEWARE(user_data)->app,
                                                     "Cannot load the preset", error);
                return;
        }
        self = LAB_MIDDLEWARE(user_data);
        g_free(self->preset_text);
        self->preset_text = g_strdup(text);
        lab_text_view_set_text(self->system_view, text);
}

static void on_preset_selected(AdwComboRow *row, GParamSpec *pspec, gpointer user_data) {
        LabMiddleware *self = user_data;
        guint i = adw_combo_row_get_selected(row);
        LlmlabManager *manager = lab_application_get_manager(self->app);
        const char *id;

        if (self->updating)
                return;
        g_cancellable_cancel(self->preset_cancellable);
        g_clear_object(&self->preset_cancellable);
        g_clear_pointer(&self->preset_text, g_free);
        id = i < self->preset_ids->len ? g_ptr_array_index(self->preset_ids, i) : NULL;
        /* "Custom" keeps whatever text is there: choosing it must not destroy a person's work. */
        if (!id || !manager)
                return;
        self->preset_cancellable = g_cancellable_new();
        llmlab_manager_call_get_system_prompt(manager, id, self->preset_cancellable, on_preset_text, self);
}

static void on_presets(GObject *source, GAsyncResult *res, gpointer user_data) {
        LabMiddleware *self;
        g_autoptr(GVariant) prompts = NULL;
        g_autoptr(GError) error = NULL;
        GVariantIter iter;
        GVariant *p;

        if (!llmlab_manager_call_list_system_prompts_finish(LLMLAB_MANAGER(source), &prompts, res, &error)) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                        lab_application_report_error(LAB_MIDDLEWARE(user_data)->app,
                                                     "Cannot list the system prompts", error);
                return;
        }
        self = LAB_MIDDLEWARE(user_data);
        self->updating = TRUE;
        g_ptr_array_set_size(self->preset_ids, 1);
        gtk_string_list_splice(self->preset_titles, 1,
                               g_list_model_get_n_items(G_LIST_MODEL(self->preset_titles)) - 1, NULL);
        g_variant_iter_init(&iter, prompts);
        while ((p = g_variant_iter_next_value(&iter))) {
                const char *id = NULL, *title = NULL;
                g_autofree char *label = NULL;

                g_variant_lookup(p, "id", "&s", &id);
                g_variant_lookup(p, "title", "&s", &title);
                if (id) {
                        label = g_strdup_printf("%s — %s", id, title ?: "");
                        g_ptr_array_add(self->preset_ids, g_strdup(id));
                        gtk_string_list_append(self->preset_titles, label);
                }
                g_variant_unref(p);
        }
        adw_combo_row_set_selected(self->preset_row, 0);
        self->updating = FALSE;
}

void lab_middleware_reload(LabMiddleware *self) {
        LlmlabManager *manager;

        g_return_if_fail(LAB_IS_MIDDLEWARE(self));
        g_cancellable_cancel(self->cancellable);
        g_clear_object(&self->cancellable);
        manager = lab_application_get_manager(self->app);
        if (!manager)
                return;
        self->cancellable = g_cancellable_new();
        llmlab_manager_call_list_system_prompts(manager, self->cancellable, on_presets, self);
}

gboolean lab_middleware_select_preset(LabMiddleware *self, const char *id) {
        g_return_val_if_fail(LAB_IS_MIDDLEWARE(self), FALSE);
        for (guint i = 1; i < self->preset_ids->len; i++)
                if (g_str_equal(g_ptr_array_index(self->preset_ids, i), id)) {
                        adw_combo_row_set_selected(self->preset_row, i);
                        return TRUE;
                }
        return FALSE;
}

static GVariant *injections_variant(LabMiddleware *self, guint *ret_count) {
        GVariantBuilder b;
        guint n = 0;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a(ss)"));
        for (GtkWidget *row = gtk_widget_get_first_child(GTK_WIDGET(self->injections)); row;
             row = gtk_widget_get_next_sibling(row)) {
                GtkEditable *desc = g_object_get_data(G_OBJECT(row), "lab-description");
                GtkTextView *content = g_object_get_data(G_OBJECT(row), "lab-content");
                g_autofree char *text = NULL;
                g_autofree char *name = NULL;

                if (!desc || !content)
                        continue;
                text = lab_text_view_get_text(content);
                /* Empty content is not sent; an empty description is named. */
                if (lab_is_blank(text))
                        continue;
                name = g_strstrip(g_strdup(gtk_editable_get_text(desc)));
                g_variant_builder_add(&b, "(ss)", name[0] ? name : "unnamed", text);
                n++;
        }
        *ret_count = n;
        return g_variant_builder_end(&b);
}

void lab_middleware_add_to_request(LabMiddleware *self, GVariantDict *request) {
        g_autofree char *system = NULL, *context = NULL;
        g_autoptr(GVariant) injections = NULL;
        guint i = adw_combo_row_get_selected(self->preset_row), n;

        g_return_if_fail(LAB_IS_MIDDLEWARE(self));
        system = lab_text_view_get_text(self->system_view);
        context = lab_text_view_get_text(self->context_view);
        /* An unedited preset goes by its id, so that the result records which preset it was. */
        if (self->preset_text && g_str_equal(system, self->preset_text) && i > 0 &&
            i < self->preset_ids->len)
                g_variant_dict_insert(request, "system_prompt_id", "s",
                                      (const char *) g_ptr_array_index(self->preset_ids, i));
        else if (!lab_is_blank(system))
                g_variant_dict_insert(request, "system_prompt", "s", system);
        if (context[0] != '\0')
                g_variant_dict_insert(request, "conversation_context", "s", context);
        injections = g_variant_ref_sink(injections_variant(self, &n));
        if (n > 0)
                g_variant_dict_insert_value(request, "injections", injections);
}

void lab_middleware_set_last_turn(LabMiddleware *self, const char *query, const char *answer) {
        g_return_if_fail(LAB_IS_MIDDLEWARE(self));
        g_free(self->last_query);
        g_free(self->last_answer);
        self->last_query = g_strdup(query);
        self->last_answer = g_strdup(answer);
        gtk_widget_set_sensitive(GTK_WIDGET(self->inject_button), query != NULL);
}

static void on_inject(GtkButton *button, gpointer user_data) {
        LabMiddleware *self = user_data;
        g_autofree char *turn = NULL;
        g_autofree char *old = lab_text_view_get_text(self->context_view);

        if (!self->last_query)
                return;
        turn = g_strdup_printf("%s<user>%s</user>\n<assistant>%s</assistant>\n",
                               old[0] && !g_str_has_suffix(old, "\n") ? "\n" : "", self->last_query,
                               self->last_answer ?: "");
        lab_text_view_append(self->context_view, turn, NULL);
}

void lab_middleware_set_system_prompt(LabMiddleware *self, const char *text) {
        g_return_if_fail(LAB_IS_MIDDLEWARE(self));
        self->updating = TRUE;
        adw_combo_row_set_selected(self->preset_row, 0);
        self->updating = FALSE;
        g_clear_pointer(&self->preset_text, g_free);
        lab_text_view_set_text(self->system_view, text);
}

void lab_middleware_set_context(LabMiddleware *self, const char *text) {
        g_return_if_fail(LAB_IS_MIDDLEWARE(self));
        lab_text_view_set_text(self->context_view, text);
}

static void on_remove_injection(GtkButton *button, gpointer user_data) {
        LabMiddleware *self = user_data;
        GtkWidget *row = gtk_widget_get_ancestor(GTK_WIDGET(button), GTK_TYPE_LIST_BOX_ROW);

        if (row)
                gtk_list_box_remove(self->injections, row);
        gtk_widget_set_visible(GTK_WIDGET(self->injections),
                               gtk_widget_get_first_child(GTK_WIDGET(self->injections)) != NULL);
}

void lab_middleware_add_injection(LabMiddleware *self, const char *description, const char *content) {
        GtkWidget *row = gtk_list_box_row_new(), *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
        GtkWidget *top = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6), *entry = gtk_entry_new(), *remove,
                  *area;
        GtkTextView *view;

        g_return_if_fail(LAB_IS_MIDDLEWARE(self));
        gtk_entry_set_placeholder_text(GTK_ENTRY(entry),
                                       "Description: system_prompt, tool_results, memory, cot…");
        gtk_editable_set_text(GTK_EDITABLE(entry), description ?: "");
        gtk_widget_set_hexpand(entry, TRUE);
        gtk_accessible_update_property(GTK_ACCESSIBLE(entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       "Injection description", -1);
        remove = gtk_button_new_from_icon_name("user-trash-symbolic");
        gtk_widget_set_tooltip_text(remove, "Remove this injection");
        gtk_widget_add_css_class(remove, "flat");
        g_signal_connect(remove, "clicked", G_CALLBACK(on_remove_injection), self);
        gtk_box_append(GTK_BOX(top), entry);
        gtk_box_append(GTK_BOX(top), remove);
        area = lab_text_area_new(&view, 60, "Injection content", TRUE);
        lab_text_view_set_text(view, content);
        gtk_box_append(GTK_BOX(box), top);
        gtk_box_append(GTK_BOX(box), area);
        gtk_widget_set_margin_top(box, 10);
        gtk_widget_set_margin_bottom(box, 10);
        gtk_widget_set_margin_start(box, 10);
        gtk_widget_set_margin_end(box, 10);
        gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(row), box);
        gtk_list_box_row_set_activatable(GTK_LIST_BOX_ROW(row), FALSE);
        g_object_set_data(G_OBJECT(row), "lab-description", entry);
        g_object_set_data(G_OBJECT(row), "lab-content", view);
        gtk_list_box_append(self->injections, row);
        gtk_widget_set_visible(GTK_WIDGET(self->injections), TRUE);
}

static void on_add_injection(GtkButton *button, gpointer user_data) {
        lab_middleware_add_injection(user_data, NULL, NULL);
}

static void on_clear_system(GtkButton *button, gpointer user_data) {
        lab_middleware_set_system_prompt(user_data, "");
}

void lab_middleware_clear(LabMiddleware *self) {
        GtkWidget *row;

        g_return_if_fail(LAB_IS_MIDDLEWARE(self));
        lab_middleware_set_system_prompt(self, "");
        lab_text_view_set_text(self->context_view, "");
        while ((row = gtk_widget_get_first_child(GTK_WIDGET(self->injections))))
                gtk_list_box_remove(self->injections, row);
        gtk_widget_set_visible(GTK_WIDGET(self->injections), FALSE);
}

static GtkWidget *header_button(const char *label, const char *tooltip, GCallback cb, gpointer data) {
        GtkWidget *b = gtk_button_new_with_mnemonic(label);

        gtk_widget_add_css_class(b, "flat");
        gtk_widget_set_tooltip_text(b, tooltip);
        g_signal_connect(b, "clicked", cb, data);
        return b;
}

static void build(LabMiddleware *self) {
        AdwPreferencesGroup *group;
        GtkWidget *w;

        group = lab_group_new("System prompt", "A preset from the daemon, or your own text", NULL);
        adw_preferences_group_set_header_suffix(group, header_button("C_lear", "Clear the system prompt",
                                                                     G_CALLBACK(on_clear_system), self));
        self->preset_row = ADW_COMBO_ROW(adw_combo_row_new());
        adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->preset_row), "Preset");
        adw_combo_row_set_model(self->preset_row, G_LIST_MODEL(self->preset_titles));
        g_signal_connect(self->preset_row, "notify::selected", G_CALLBACK(on_preset_selected), self);
        adw_preferences_group_add(group, GTK_WIDGET(self->preset_row));
        w = lab_text_area_new(&self->system_view, 90, "System prompt", TRUE);
        gtk_widget_set_margin_top(w, 8);
        adw_preferences_group_add(group, w);
        gtk_box_append(GTK_BOX(self), GTK_WIDGET(group));

        group = lab_group_new("Conversation context",
                              "Earlier turns, sent in &lt;conversation_context&gt; tags", NULL);
        w = header_button("_Inject Last Turn", "Append the last query and its answer", G_CALLBACK(on_inject),
                          self);
        self->inject_button = GTK_BUTTON(w);
        gtk_widget_set_sensitive(w, FALSE);
        adw_preferences_group_set_header_suffix(group, w);
        adw_preferences_group_add(group,
                                  lab_text_area_new(&self->context_view, 70, "Conversation context", TRUE));
        gtk_box_append(GTK_BOX(self), GTK_WIDGET(group));

        group = lab_group_new("Injections", "Free-form text added to the prompt (memory, tool results, …)",
                              NULL);
        adw_preferences_group_set_header_suffix(group,
                                                header_button("_Add Injection", "Add a free-form injection",
                                                              G_CALLBACK(on_add_injection), self));
        self->injections = GTK_LIST_BOX(gtk_list_box_new());
        gtk_list_box_set_selection_mode(self->injections, GTK_SELECTION_NONE);
        gtk_widget_add_css_class(GTK_WIDGET(self->injections), "boxed-list");
        gtk_widget_set_visible(GTK_WIDGET(self->injections), FALSE);
        adw_preferences_group_add(group, GTK_WIDGET(self->injections));
        gtk_box_append(GTK_BOX(self), GTK_WIDGET(group));
}

static void lab_middleware_dispose(GObject *object) {
        LabMiddleware *self = LAB_MIDDLEWARE(object);

        g_cancellable_cancel(self->cancellable);
        g_cancellable_cancel(self->preset_cancellable);
        g_clear_object(&self->cancellable);
        g_clear_object(&self->preset_cancellable);
        g_clear_object(&self->app);
        G_OBJECT_CLASS(lab_middleware_parent_class)->dispose(object);
}

static void lab_middleware_finalize(GObject *object) {
        LabMiddleware *self = LAB_MIDDLEWARE(object);

        g_ptr_array_unref(self->preset_ids);
        g_object_unref(self->preset_titles);
        g_free(self->preset_text);
        g_free(self->last_query);
        g_free(self->last_answer);
        G_OBJECT_CLASS(lab_middleware_parent_class)->finalize(object);
}

static void lab_middleware_class_init(LabMiddlewareClass *klass) {
        G_OBJECT_CLASS(klass)->dispose = lab_middleware_dispose;
        G_OBJECT_CLASS(klass)->finalize = lab_middleware_finalize;
}

static void lab_middleware_init(LabMiddleware *self) {
        self->preset_ids = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(self->preset_ids, NULL);
        self->preset_titles = gtk_string_list_new((const char *const[]){"Custom", NULL});
}

LabMiddleware *lab_middleware_new(LabApplication *app) {
        LabMiddleware *self = g_object_new(LAB_TYPE_MIDDLEWARE, "orientation", GTK_ORIENTATION_VERTICAL,
                                           "spacing", 18, NULL);

        self->app = g_object_ref(app);
        build(self);
        return self;
}
