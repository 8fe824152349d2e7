/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <math.h>

#include "lab-chart-util.h"
#include "lab-format.h"
#include "lab-trend-chart.h"

/* Only the most recent bars are drawn. */
#define MAX_BARS 40

typedef struct {
        char *label;
        double value;
        gboolean measured;
} Bar;

struct _LabTrendChart {
        GtkWidget parent_instance;

        GPtrArray *bars; /* Bar*, oldest first */
};

G_DEFINE_FINAL_TYPE(LabTrendChart, lab_trend_chart, GTK_TYPE_WIDGET)

static void bar_free(Bar *b) {
        g_free(b->label);
        g_free(b);
}

static void update_accessible(LabTrendChart *self) {
        g_autofree char *desc = NULL;

        if (self->bars->len == 0)
                desc = g_strdup("No runs in this session yet");
        else {
                Bar *last = g_ptr_array_index(self->bars, self->bars->len - 1);
                g_autofree char *v = lab_format_figure(last->value);

                desc = g_strdup_printf("%u runs; latest %s Wh per 1000 e-tokens (%s)", self->bars->len, v,
                                       last->measured ? "measured" : "estimated");
        }
        gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, desc, -1);
}

void lab_trend_chart_clear(LabTrendChart *self) {
        g_return_if_fail(LAB_IS_TREND_CHART(self));
        g_ptr_array_set_size(self->bars, 0);
        update_accessible(self);
        gtk_widget_queue_draw(GTK_WIDGET(self));
}

void lab_trend_chart_add(LabTrendChart *self, const char *label, double value, gboolean measured) {
        Bar *b;

        g_return_if_fail(LAB_IS_TREND_CHART(self));
        if (!isfinite(value))
                return;
        b = g_new0(Bar, 1);
        b->label = g_strdup(label);
        b->value = value;
        b->measured = measured;
        g_ptr_array_add(self->bars, b);
        update_accessible(self);
        gtk_widget_queue_draw(GTK_WIDGET(self));
}

guint lab_trend_chart_get_count(LabTrendChart *self) {
        g_return_val_if_fail(LAB_IS_TREND_CHART(self), 0);
        return self->bars->len;
}

static void draw_bar(cairo_t *cr, const Bar *b, double x, double w, const LabPlotArea *area) {
        double y = lab_plot_y(area, b->value), bottom = area->y + area->height;

        lab_color_set(cr, b->measured ? &lab_palette_blue : &lab_palette_purple, b->measured ? 0.85 : 0.35);
        cairo_rectangle(cr, x, y, w, bottom - y);
        cairo_fill(cr);
        if (b->measured)
                return;
        /* Estimated: hatched, with an outline. */
        cairo_save(cr);
        cairo_rectangle(cr, x, y, w, bottom - y);
        cairo_clip(cr);
        lab_color_set(cr, &lab_palette_purple, 0.8);
        cairo_set_line_width(cr, 1.0);
        for (double hx = x - (bottom - y); hx < x + w; hx += 6) {
                cairo_move_to(cr, hx, bottom);
                cairo_line_to(cr, hx + (bottom - y), y);
        }
        cairo_stroke(cr);
        cairo_restore(cr);
}

static void lab_trend_chart_snapshot(GtkWidget *widget, GtkSnapshot *snapshot) {
        LabTrendChart *self = LAB_TREND_CHART(widget);
        int width = gtk_widget_get_width(widget), height = gtk_widget_get_height(widget);
        guint first = self->bars->len > MAX_BARS ? self->bars->len - MAX_BARS : 0,
              n = self->bars->len - first;
        double peak = 0.0, slot, bar_w;
        LabPlotArea area;
        cairo_t *cr;
        GdkRGBA fg;

        if (width <= 0 || height <= 0)
                return;
        lab_widget_get_color(widget, &fg);
        cr = gtk_snapshot_append_cairo(snapshot, &GRAPHENE_RECT_INIT(0, 0, width, height));
        if (n == 0) {
                lab_draw_centered_message(widget, cr, width, height,
                                          "Wh per 1000 e-tokens of each run of this session appear here",
                                          &fg);
                cairo_destroy(cr);
                return;
        }
        for (guint i = first; i < self->bars->len; i++)
                peak = MAX(peak, ((Bar *) g_ptr_array_index(self->bars, i))->value);
        lab_plot_area_init(&area, width, height, 0.0, n, 0.0, lab_nice_ceiling(peak * 1.1));
        lab_draw_axes(widget, cr, &area, &fg, "%.3g", NULL);
        slot = area.width / n;
        bar_w = MAX(MIN(slot * 0.7, 48.0), 2.0);
        for (guint i = 0; i < n; i++) {
                Bar *b = g_ptr_array_index(self->bars, first + i);
                double x = area.x + slot * i + (slot - bar_w) / 2;

                draw_bar(cr, b, x, bar_w, &area);
                if (slot >= lab_text_width(widget, b->label) + 4)
                        lab_draw_text(widget, cr, b->label,
                                      x + bar_w / 2 - lab_text_width(widget, b->label) / 2,
                                      area.y + area.height + 5, &fg, 0.7);
        }
        lab_color_set(cr, &lab_palette_blue, 0.85);
        cairo_rectangle(cr, area.x, 6, 10, 10);
        cairo_fill(cr);
        lab_draw_text(widget, cr, "measured", area.x + 14, 2, &fg, 0.8);
        lab_color_set(cr, &lab_palette_purple, 0.5);
        cairo_rectangle(cr, area.x + 90, 6, 10, 10);
        cairo_fill(cr);
        lab_draw_text(widget, cr, "estimated", area.x + 104, 2, &fg, 0.8);
        cairo_destroy(cr);
}

static void lab_trend_chart_measure(GtkWidget *widget, GtkOrientation orientation, int for_size,
                                    int *minimum, int *natural, int *minimum_baseline,
                                    int *natural_baseline) {
        *minimum = orientation == GTK_ORIENTATION_HORIZONTAL ? 240 : 150;
        *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? 560 : 190;
}

static void lab_trend_chart_finalize(GObject *object) {
        g_ptr_array_unref(LAB_TREND_CHART(object)->bars);
        G_OBJECT_CLASS(lab_trend_chart_parent_class)->finalize(object);
}

static void lab_trend_chart_class_init(LabTrendChartClass *klass) {
        GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

        G_OBJECT_CLASS(klass)->finalize = lab_trend_chart_finalize;
        widget_class->snapshot = lab_trend_chart_snapshot;
        widget_class->measure = lab_trend_chart_measure;
        gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_IMG);
        gtk_widget_class_set_css_name(widget_class, "trendchart");
}

static void lab_trend_chart_init(LabTrendChart *self) {
        self->bars = g_ptr_array_new_with_free_func((GDestroyNotify) bar_free);
        gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       "Wh per 1000 e-tokens across the session's runs", -1);
        update_accessible(self);
}

GtkWidget *lab_trend_chart_new(void) {
        return g_object_new(LAB_TYPE_TREND_CHART, NULL);
}
