/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <math.h>

#include "lab-chart-util.h"

const LabColor lab_palette_blue = {0x35 / 255.0, 0x84 / 255.0, 0xe4 / 255.0};
const LabColor lab_palette_green = {0x2e / 255.0, 0xc2 / 255.0, 0x7e / 255.0};
const LabColor lab_palette_orange = {0xff / 255.0, 0x78 / 255.0, 0x00 / 255.0};
const LabColor lab_palette_purple = {0x91 / 255.0, 0x41 / 255.0, 0xac / 255.0};
const LabColor lab_palette_red = {0xe0 / 255.0, 0x1b / 255.0, 0x24 / 255.0};

#define MARGIN_LEFT   56.0
#define MARGIN_RIGHT  12.0
#define MARGIN_TOP    26.0
#define MARGIN_BOTTOM 24.0

void lab_plot_area_init(LabPlotArea *area, int width, int height, double x_min, double x_max, double y_min,
                        double y_max) {
        area->x = MARGIN_LEFT;
        area->y = MARGIN_TOP;
        area->width = MAX(width - MARGIN_LEFT - MARGIN_RIGHT, 1.0);
        area->height = MAX(height - MARGIN_TOP - MARGIN_BOTTOM, 1.0);
        area->x_min = x_min;
        area->x_max = x_max > x_min ? x_max : x_min + 1.0;
        area->y_min = y_min;
        area->y_max = y_max > y_min ? y_max : y_min + 1.0;
}

double lab_plot_x(const LabPlotArea *area, double x) {
        return area->x + (x - area->x_min) / (area->x_max - area->x_min) * area->width;
}

double lab_plot_y(const LabPlotArea *area, double y) {
        return area->y + area->height - (y - area->y_min) / (area->y_max - area->y_min) * area->height;
}

double lab_nice_ceiling(double v) {
        double p;

        if (!(v > 0.0) || !isfinite(v))
                return 1.0;
        p = pow(10.0, floor(log10(v)));
        if (v <= p)
                return p;
        if (v <= 2 * p)
                return 2 * p;
        if (v <= 5 * p)
                return 5 * p;
        return 10 * p;
}

void lab_color_set(cairo_t *cr, const LabColor *color, double alpha) {
        cairo_set_source_rgba(cr, color->r, color->g, color->b, alpha);
}

void lab_widget_get_color(GtkWidget *widget, GdkRGBA *ret) {
        G_GNUC_BEGIN_IGNORE_DEPRECATIONS
        gtk_style_context_get_color(gtk_widget_get_style_context(widget), ret);
        G_GNUC_END_IGNORE_DEPRECATIONS
}

static PangoLayout *make_layout(GtkWidget *widget, const char *text) {
        PangoLayout *layout = gtk_widget_create_pango_layout(widget, text);
        PangoFontDescription *font = pango_font_description_copy(
                pango_context_get_font_description(pango_layout_get_context(layout)));

        pango_font_description_set_size(font, (int) (pango_font_description_get_size(font) * 0.85));
        pango_layout_set_font_description(layout, font);
        pango_font_description_free(font);
        return layout;
}

double lab_text_width(GtkWidget *widget, const char *text) {
        g_autoptr(PangoLayout) layout = make_layout(widget, text);
        int w, h;

        pango_layout_get_pixel_size(layout, &w, &h);
        return w;
}

void lab_draw_text(GtkWidget *widget, cairo_t *cr, const char *text, double x, double y, const GdkRGBA *fg,
                   double alpha) {
        g_autoptr(PangoLayout) layout = make_layout(widget, text);

        cairo_set_source_rgba(cr, fg->red, fg->green, fg->blue, fg->alpha * alpha);
        cairo_move_to(cr, x, y);
        pango_cairo_show_layout(cr, layout);
}

void lab_draw_centered_message(GtkWidget *widget, cairo_t *cr, int width, int height, const char *text,
                               const GdkRGBA *fg) {
        g_autoptr(PangoLayout) layout = gtk_widget_create_pango_layout(widget, text);
        int w, h;

        pango_layout_set_width(layout, MAX(width - 24, 10) * PANGO_SCALE);
        pango_layout_set_alignment(layout, PANGO_ALIGN_CENTER);
        pango_layout_get_pixel_size(layout, &w, &h);
        cairo_set_source_rgba(cr, fg->red, fg->green, fg->blue, fg->alpha * 0.55);
        cairo_move_to(cr, 12, (height - h) / 2.0);
        pango_cairo_show_layout(cr, layout);
}

static void draw_x_labels(GtkWidget *widget, cairo_t *cr, const LabPlotArea *area, const GdkRGBA *fg,
                          const char *x_unit) {
        gboolean seconds = g_str_equal(x_unit, "s");
        double range = (area->x_max - area->x_min) / (seconds ? 1000.0 : 1.0);
        double step = lab_nice_ceiling(range / 6.0);

        for (double v = 0.0; v <= range + step * 1e-9; v += step) {
                g_autofree char *label = NULL;
                double x = lab_plot_x(area, area->x_min + v * (seconds ? 1000.0 : 1.0));

                label = step < 1.0 ? g_strdup_printf("%.1f %s", v, x_unit)
                                   : g_strdup_printf("%.0f %s", v, x_unit);
                cairo_set_source_rgba(cr, fg->red, fg->green, fg->blue, fg->alpha * 0.25);
                cairo_rectangle(cr, x, area->y + area->height, 1, 4);
                cairo_fill(cr);
                lab_draw_text(widget, cr, label,
                              MIN(x - lab_text_width(widget, label) / 2,
                                  area->x + area->width - lab_text_width(widget, label)),
                              area->y + area->height + 5, fg, 0.7);
        }
}

void lab_draw_axes(GtkWidget *widget, cairo_t *cr, const LabPlotArea *area, const GdkRGBA *fg,
                   const char *y_fmt, const char *x_unit) {
        const int ticks = 4;

        cairo_set_line_width(cr, 1.0);
        for (int i = 0; i <= ticks; i++) {
                double v = area->y_min + (area->y_max - area->y_min) * i / ticks;
                double y = round(lab_plot_y(area, v)) + 0.5;
                g_autofree char *label = NULL;

                cairo_set_source_rgba(cr, fg->red, fg->green, fg->blue, fg->alpha * (i == 0 ? 0.35 : 0.12));
                cairo_move_to(cr, area->x, y);
                cairo_line_to(cr, area->x + area->width, y);
                cairo_stroke(cr);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                label = g_strdup_printf(y_fmt, v);
#pragma GCC diagnostic pop
                lab_draw_text(widget, cr, label, area->x - 6 - lab_text_width(widget, label), y - 8, fg,
                              0.7);
        }
        if (x_unit)
                draw_x_labels(widget, cr, area, fg, x_unit);
}
