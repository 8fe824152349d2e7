/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <math.h>

#include "lab-chart-util.h"
#include "lab-format.h"
#include "lab-power-chart.h"

/* Intervals shorter than this between two samples are merged: the counters' own resolution
 * (and the writer's tick) makes their power meaningless. */
#define MIN_INTERVAL_NS (4 * 1000 * 1000ULL)

typedef struct {
        double t_ms; /* middle of the interval */
        double watts;
} Point;

typedef struct {
        char *name;
        double start_ms;
        double end_ms;
} Phase;

struct _LabPowerChart {
        GtkWidget parent_instance;

        GArray *points;    /* Point */
        GPtrArray *phases; /* Phase* */
        double span_ms;
        char *message;
};

G_DEFINE_FINAL_TYPE(LabPowerChart, lab_power_chart, GTK_TYPE_WIDGET)

static void phase_free(Phase *p) {
        g_free(p->name);
        g_free(p);
}

static const LabColor *phase_color(const char *name) {
        if (g_str_equal(name, "load"))
                return &lab_palette_orange;
        if (g_str_equal(name, "prefill"))
                return &lab_palette_blue;
        if (g_str_equal(name, "decode"))
                return &lab_palette_green;
        return &lab_palette_purple;
}

gboolean lab_power_chart_get_stats(LabPowerChart *self, double *ret_peak_w, double *ret_mean_w) {
        double peak = 0.0, energy = 0.0, dur = 0.0;

        g_return_val_if_fail(LAB_IS_POWER_CHART(self), FALSE);
        if (self->points->len == 0)
                return FALSE;
        for (guint i = 0; i < self->points->len; i++)
                peak = MAX(peak, g_array_index(self->points, Point, i).watts);
        /* Mean power = energy / time, over the points' intervals. */
        for (guint i = 0; i < self->points->len; i++) {
                double prev = i == 0 ? 0.0 : g_array_index(self->points, Point, i - 1).t_ms;
                double width = (g_array_index(self->points, Point, i).t_ms - prev) * (i == 0 ? 2.0 : 1.0);

                energy += g_array_index(self->points, Point, i).watts * width;
                dur += width;
        }
        if (ret_peak_w)
                *ret_peak_w = peak;
        if (ret_mean_w)
                *ret_mean_w = dur > 0 ? energy / dur : 0.0;
        return TRUE;
}

static void update_accessible(LabPowerChart *self) {
        g_autoptr(GString) desc = g_string_new(NULL);
        double peak, mean;

        if (self->message)
                g_string_append(desc, self->message);
        else if (lab_power_chart_get_stats(self, &peak, &mean)) {
                g_autofree char *p = lab_format_power(peak), *m = lab_format_power(mean),
                                *d = lab_format_duration_ms(self->span_ms);

                g_string_append_printf(desc, "Peak %s, mean %s over %s", p, m, d);
                for (guint i = 0; i < self->phases->len; i++) {
                        Phase *ph = g_ptr_array_index(self->phases, i);
                        g_autofree char *len = lab_format_duration_ms(ph->end_ms - ph->start_ms);

                        g_string_append_printf(desc, "; %s %s", ph->name, len);
                }
        }
        gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, desc->str,
                                       -1);
}

void lab_power_chart_set_message(LabPowerChart *self, const char *message) {
        g_return_if_fail(LAB_IS_POWER_CHART(self));
        g_array_set_size(self->points, 0);
        g_ptr_array_set_size(self->phases, 0);
        self->span_ms = 0.0;
        g_free(self->message);
        self->message = g_strdup(message);
        update_accessible(self);
        gtk_widget_queue_draw(GTK_WIDGET(self));
}

void lab_power_chart_set_timeline(LabPowerChart *self, GVariant *samples, GVariant *phases) {
        guint64 prev_t = 0, prev_uj = 0, t, uj;
        GVariantIter iter;
        const char *name;
        gboolean first = TRUE;

        g_return_if_fail(LAB_IS_POWER_CHART(self));
        g_return_if_fail(g_variant_is_of_type(samples, G_VARIANT_TYPE("a(tt)")));
        g_return_if_fail(g_variant_is_of_type(phases, G_VARIANT_TYPE("a(stt)")));

        lab_power_chart_set_message(self, NULL);
        g_variant_iter_init(&iter, samples);
        while (g_variant_iter_next(&iter, "(tt)", &t, &uj)) {
                self->span_ms = MAX(self->span_ms, (double) t / 1e6);
                if (!first && (t < prev_t + MIN_INTERVAL_NS || uj < prev_uj))
                        continue; /* an event sample right after a periodic one: fold into the next */
                if (!first) {
                        /* µJ per ns is kW: × 1000 for W. */
                        Point p = {.t_ms = (double) (prev_t + t) / 2e6,
                                   .watts = (double) (uj - prev_uj) / (double) (t - prev_t) * 1e3};

                        g_array_append_val(self->points, p);
                }
                first = FALSE;
                prev_t = t;
                prev_uj = uj;
        }
        g_variant_iter_init(&iter, phases);
        while (g_variant_iter_next(&iter, "(&stt)", &name, &prev_t, &t)) {
                Phase *ph = g_new0(Phase, 1);

                ph->name = g_strdup(name);
                ph->start_ms = (double) prev_t / 1e6;
                ph->end_ms = (double) t / 1e6;
                self->span_ms = MAX(self->span_ms, ph->end_ms);
                g_ptr_array_add(self->phases, ph);
        }
        if (self->points->len == 0)
                self->message = g_strdup("No power samples were recorded for this run");
        update_accessible(self);
        gtk_widget_queue_draw(GTK_WIDGET(self));
}

static void draw_phases(LabPowerChart *self, cairo_t *cr, const LabPlotArea *area) {
        for (guint i = 0; i < self->phases->len; i++) {
                Phase *ph = g_ptr_array_index(self->phases, i);
                double x0 = lab_plot_x(area, ph->start_ms), x1 = lab_plot_x(area, ph->end_ms);

                lab_color_set(cr, phase_color(ph->name), 0.16);
                cairo_rectangle(cr, x0, area->y, MAX(x1 - x0, 1.0), area->height);
                cairo_fill(cr);
                lab_color_set(cr, phase_color(ph->name), 0.9);
                cairo_rectangle(cr, x0, area->y, MAX(x1 - x0, 1.0), 3.0);
                cairo_fill(cr);
        }
}

static void draw_line(LabPowerChart *self, cairo_t *cr, const LabPlotArea *area) {
        cairo_save(cr);
        cairo_rectangle(cr, area->x, area->y, area->width, area->height);
        cairo_clip(cr);
        cairo_set_line_width(cr, 2.0);
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
        for (guint i = 0; i < self->points->len; i++) {
                Point *p = &g_array_index(self->points, Point, i);

                if (i == 0)
                        cairo_move_to(cr, lab_plot_x(area, p->t_ms), lab_plot_y(area, p->watts));
                else
                        cairo_line_to(cr, lab_plot_x(area, p->t_ms), lab_plot_y(area, p->watts));
        }
        lab_color_set(cr, &lab_palette_red, 1.0);
        cairo_stroke_preserve(cr);
        /* A soft fill under the line. */
        cairo_line_to(cr, lab_plot_x(area, g_array_index(self->points, Point, self->points->len - 1).t_ms),
                      area->y + area->height);
        cairo_line_to(cr, lab_plot_x(area, g_array_index(self->points, Point, 0).t_ms),
                      area->y + area->height);
        cairo_close_path(cr);
        lab_color_set(cr, &lab_palette_red, 0.10);
        cairo_fill(cr);
        cairo_restore(cr);
}

static void draw_legend(LabPowerChart *self, cairo_t *cr, const LabPlotArea *area, const GdkRGBA *fg) {
        double x = area->x + area->width;

        for (guint i = self->phases->len; i > 0; i--) {
                Phase *ph = g_ptr_array_index(self->phases, i - 1);
                double w = lab_text_width(GTK_WIDGET(self), ph->name);

                x -= w;
                lab_draw_text(GTK_WIDGET(self), cr, ph->name, x, 2, fg, 0.8);
                x -= 14;
                lab_color_set(cr, phase_color(ph->name), 0.9);
                cairo_rectangle(cr, x, 6, 10, 10);
                cairo_fill(cr);
                x -= 14;
        }
        lab_color_set(cr, &lab_palette_red, 1.0);
        cairo_rectangle(cr, area->x, 10, 16, 2.5);
        cairo_fill(cr);
        lab_draw_text(GTK_WIDGET(self), cr, "power (W)", area->x + 22, 2, fg, 0.8);
}

static void lab_power_chart_snapshot(GtkWidget *widget, GtkSnapshot *snapshot) {
        LabPowerChart *self = LAB_POWER_CHART(widget);
        int width = gtk_widget_get_width(widget), height = gtk_widget_get_height(widget);
        cairo_t *cr;
        LabPlotArea area;
        double peak = 0.0;
        GdkRGBA fg;

        if (width <= 0 || height <= 0)
                return;
        lab_widget_get_color(widget, &fg);
        cr = gtk_snapshot_append_cairo(snapshot, &GRAPHENE_RECT_INIT(0, 0, width, height));
        if (self->message || self->points->len == 0) {
                lab_draw_centered_message(widget, cr, width, height,
                                          self->message ?: "Run a measured test to see its power over time",
                                          &fg);
                cairo_destroy(cr);
                return;
        }
        (void) lab_power_chart_get_stats(self, &peak, NULL);
        lab_plot_area_init(&area, width, height, 0.0, self->span_ms, 0.0, lab_nice_ceiling(peak * 1.1));
        draw_phases(self, cr, &area);
        lab_draw_axes(widget, cr, &area, &fg, "%.0f W", self->span_ms >= 2000 ? "s" : "ms");
        draw_line(self, cr, &area);
        draw_legend(self, cr, &area, &fg);
        cairo_destroy(cr);
}

static void lab_power_chart_measure(GtkWidget *widget, GtkOrientation orientation, int for_size,
                                    int *minimum, int *natural, int *minimum_baseline,
                                    int *natural_baseline) {
        *minimum = orientation == GTK_ORIENTATION_HORIZONTAL ? 240 : 180;
        *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? 560 : 240;
}

static void lab_power_chart_finalize(GObject *object) {
        LabPowerChart *self = LAB_POWER_CHART(object);

        g_array_unref(self->points);
        g_ptr_array_unref(self->phases);
        g_free(self->message);
        G_OBJECT_CLASS(lab_power_chart_parent_class)->finalize(object);
}

static void lab_power_chart_class_init(LabPowerChartClass *klass) {
        GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

        G_OBJECT_CLASS(klass)->finalize = lab_power_chart_finalize;
        widget_class->snapshot = lab_power_chart_snapshot;
        widget_class->measure = lab_power_chart_measure;
        gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_IMG);
        gtk_widget_class_set_css_name(widget_class, "powerchart");
}

static void lab_power_chart_init(LabPowerChart *self) {
        self->points = g_array_new(FALSE, FALSE, sizeof(Point));
        self->phases = g_ptr_array_new_with_free_func((GDestroyNotify) phase_free);
        gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       "Power over the run", -1);
}

GtkWidget *lab_power_chart_new(void) {
        return g_object_new(LAB_TYPE_POWER_CHART, NULL);
}
