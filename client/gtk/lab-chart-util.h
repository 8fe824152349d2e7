/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Drawing helpers shared by the charts: the palette, the plot area and its mapping, axes and
 * text with the widget's font and colour. */

#include <gtk/gtk.h>

typedef struct {
        double r, g, b;
} LabColor;

/* The GNOME palette. */
extern const LabColor lab_palette_blue, lab_palette_green, lab_palette_orange, lab_palette_purple,
        lab_palette_red;

typedef struct {
        double x, y, width, height;        /* in widget coordinates */
        double x_min, x_max, y_min, y_max; /* in data units */
} LabPlotArea;

void lab_plot_area_init(LabPlotArea *area, int width, int height, double x_min, double x_max, double y_min,
                        double y_max);
double lab_plot_x(const LabPlotArea *area, double x);
double lab_plot_y(const LabPlotArea *area, double y);
/* 1, 2 or 5 × 10^n, at least v (and > 0). */
double lab_nice_ceiling(double v);

void lab_color_set(cairo_t *cr, const LabColor *color, double alpha);
void lab_widget_get_color(GtkWidget *widget, GdkRGBA *ret);
double lab_text_width(GtkWidget *widget, const char *text);
void lab_draw_text(GtkWidget *widget, cairo_t *cr, const char *text, double x, double y, const GdkRGBA *fg,
                   double alpha);
void lab_draw_centered_message(GtkWidget *widget, cairo_t *cr, int width, int height, const char *text,
                               const GdkRGBA *fg);
/* Grid lines with y labels (printf format of one double) and x labels in "ms" or "s" (data in ms),
 * or x_unit NULL for none. */
void lab_draw_axes(GtkWidget *widget, cairo_t *cr, const LabPlotArea *area, const GdkRGBA *fg,
                   const char *y_fmt, const char *x_unit);
