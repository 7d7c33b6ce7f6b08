/* experiment_svg: the experiments' charts as hand-written SVG. One small
 * line-chart renderer (axes with "nice" ticks, labels, one polyline with
 * point markers per series, a legend, a title) draws the sweep chart and
 * the two panels of the drift chart. */
#include "testbed/experiment.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHART_W 760.0
#define PANEL_H 400.0
#define MARGIN_L 70.0
#define MARGIN_R 190.0
#define MARGIN_T 44.0
#define MARGIN_B 56.0
#define MAX_SERIES (EXPERIMENT_MAX_TRANSPORTS * EXPERIMENT_MAX_HOPS)

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c",
                                      "#9467bd"};

struct chart_series {
    char name[64];
    double *x, *y; /* n points; owned by the caller */
    size_t n;
};

struct chart {
    const char *title, *xlabel, *ylabel;
    double top; /* y of the panel's top edge in the document */
    bool y_from_zero;
    const struct chart_series *series;
    size_t nseries;
};

/* Axis range and tick step covering [lo, hi] in about five ticks of 1, 2
 * or 5 times a power of ten. */
struct axis {
    double lo, hi, step;
};

static void axis_fit(struct axis *a, double lo, double hi)
{
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    }
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    a->step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    a->lo = floor(lo / a->step + 1e-9) * a->step;
    a->hi = ceil(hi / a->step - 1e-9) * a->step;
}

static void xml_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", out);
        else if (*s == '>')
            fputs("&gt;", out);
        else if (*s == '&')
            fputs("&amp;", out);
        else
            fputc(*s, out);
    }
}

static void data_range(const struct chart *c, bool want_y, double *lo,
                       double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t s = 0; s < c->nseries; s++)
        for (size_t i = 0; i < c->series[s].n; i++) {
            double v = want_y ? c->series[s].y[i] : c->series[s].x[i];
            *lo = v < *lo ? v : *lo;
            *hi = v > *hi ? v : *hi;
        }
    if (*lo > *hi)
        *lo = *hi = 0;
}

struct frame {
    struct axis x, y;
    double left, right, top, bottom; /* plot area in document units */
};

static double px(const struct frame *f, double x)
{
    return f->left + (x - f->x.lo) / (f->x.hi - f->x.lo) * (f->right - f->left);
}

static double py(const struct frame *f, double y)
{
    return f->bottom -
           (y - f->y.lo) / (f->y.hi - f->y.lo) * (f->bottom - f->top);
}

static void draw_ticks(FILE *out, const struct frame *f)
{
    for (double v = f->x.lo; v <= f->x.hi + f->x.step / 2; v += f->x.step) {
        double x = px(f, v);
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#000\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
                "text-anchor=\"middle\">%g</text>\n",
                x, f->bottom, x, f->bottom + 5, x, f->bottom + 19,
                fabs(v) < 1e-12 ? 0 : v);
    }
    for (double v = f->y.lo; v <= f->y.hi + f->y.step / 2; v += f->y.step) {
        double y = py(f, v);
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#ddd\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
                "text-anchor=\"end\">%g</text>\n",
                f->left, y, f->right, y, f->left - 6, y + 4,
                fabs(v) < 1e-12 ? 0 : v);
    }
}

static void draw_axes(FILE *out, const struct chart *c, const struct frame *f)
{
    draw_ticks(out, f);
    fprintf(out,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"none\" stroke=\"#000\"/>\n",
            f->left, f->top, f->right - f->left, f->bottom - f->top);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
            (f->left + f->right) / 2, f->bottom + 42);
    xml_text(out, c->xlabel);
    fprintf(out,
            "</text>\n<text transform=\"translate(%.1f %.1f) rotate(-90)\" "
            "text-anchor=\"middle\">",
            f->left - 50, (f->top + f->bottom) / 2);
    xml_text(out, c->ylabel);
    fprintf(out,
            "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
            "font-size=\"16\" font-weight=\"bold\">",
            CHART_W / 2, c->top + 26);
    xml_text(out, c->title);
    fputs("</text>\n", out);
}

static void draw_series(FILE *out, const struct frame *f,
                        const struct chart_series *s, const char *color)
{
    fprintf(out,
            "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
            "points=\"",
            color);
    for (size_t i = 0; i < s->n; i++)
        fprintf(out, "%s%.1f,%.1f", i ? " " : "", px(f, s->x[i]),
                py(f, s->y[i]));
    fputs("\"/>\n", out);
    for (size_t i = 0; i < s->n; i++)
        fprintf(out,
                "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n",
                px(f, s->x[i]), py(f, s->y[i]), color);
}

static void draw_legend(FILE *out, const struct chart *c, const struct frame *f)
{
    for (size_t s = 0; s < c->nseries; s++) {
        const char *color = palette[s % MAX_SERIES];
        double y = f->top + 12 + 22 * (double)s;
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"%s\" stroke-width=\"2\"/>\n<text x=\"%.1f\" "
                "y=\"%.1f\">",
                f->right + 14, y, f->right + 40, y, color, f->right + 46,
                y + 4);
        xml_text(out, c->series[s].name);
        fputs("</text>\n", out);
    }
}

static void draw_chart(FILE *out, const struct chart *c)
{
    struct frame f = {.left = MARGIN_L,
                      .right = CHART_W - MARGIN_R,
                      .top = c->top + MARGIN_T,
                      .bottom = c->top + PANEL_H - MARGIN_B};
    double lo, hi;

    data_range(c, false, &lo, &hi);
    axis_fit(&f.x, lo, hi);
    data_range(c, true, &lo, &hi);
    if (c->y_from_zero) {
        lo = lo > 0 ? 0 : lo;
        hi = hi < 1 ? 1 : hi; /* a flat 0% line still gets a scale */
    }
    axis_fit(&f.y, lo, hi);
    draw_axes(out, c, &f);
    for (size_t s = 0; s < c->nseries; s++)
        if (c->series[s].n)
            draw_series(out, &f, &c->series[s], palette[s % MAX_SERIES]);
    draw_legend(out, c, &f);
}

static void svg_open(FILE *out, double height)
{
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
            CHART_W, height, CHART_W, height);
}

static void svg_close(FILE *out)
{
    fputs("</svg>\n", out);
}

static void free_series(struct chart_series *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].x);
        free(s[i].y);
    }
}

static int alloc_series(struct chart_series *s, size_t n)
{
    s->x = calloc(n ? n : 1, sizeof(double));
    s->y = calloc(n ? n : 1, sizeof(double));
    return s->x && s->y ? 0 : -ENOMEM;
}

/* Series i of the sweep = the i-th distinct (transport, hops) in row
 * order; *first[i] = its first row. */
static size_t sweep_series(const struct experiment_sweep *sw,
                           size_t first[MAX_SERIES], bool *many_hops)
{
    size_t n = 0;

    *many_hops = false;
    for (size_t i = 0; i < sw->nrows; i++) {
        const struct experiment_row *r = &sw->rows[i];
        bool seen = false;
        for (size_t k = 0; k < n; k++) {
            const struct experiment_row *q = &sw->rows[first[k]];
            seen |=
                q->hops == r->hops && strcmp(q->transport, r->transport) == 0;
            *many_hops |= q->hops != r->hops;
        }
        if (!seen && n < MAX_SERIES)
            first[n++] = i;
    }
    return n;
}

static int fill_sweep_series(const struct experiment_sweep *sw,
                             const struct experiment_row *key, bool many_hops,
                             struct chart_series *s)
{
    if (alloc_series(s, sw->nrows) < 0)
        return -ENOMEM;
    snprintf(s->name, sizeof s->name, "%s%s%s", key->transport,
             many_hops ? "/" : "",
             many_hops ? experiment_hops_name(key->hops) : "");
    for (size_t i = 0; i < sw->nrows; i++) {
        const struct experiment_row *r = &sw->rows[i];
        if (r->hops != key->hops || strcmp(r->transport, key->transport) != 0)
            continue;
        s->x[s->n] = (double)r->skew_ns / 1e6;
        s->y[s->n++] =
            r->pairs ? 100.0 * (double)r->violating_pairs / (double)r->pairs
                     : 0.0;
    }
    return 0;
}

int experiment_sweep_svg(FILE *out, const struct experiment_sweep *sw)
{
    struct chart_series series[MAX_SERIES];
    size_t first[MAX_SERIES];
    char title[128];
    bool many_hops;
    size_t n = sweep_series(sw, first, &many_hops);
    int rc = 0;

    memset(series, 0, sizeof series);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = fill_sweep_series(sw, &sw->rows[first[i]], many_hops, &series[i]);
    if (rc == 0) {
        snprintf(title, sizeof title,
                 "Causality violations against clock skew at node-%s",
                 sw->stage);
        struct chart c = {.title = title,
                          .xlabel = "injected skew (ms)",
                          .ylabel = "violating edge pairs (%)",
                          .y_from_zero = true,
                          .series = series,
                          .nseries = n};
        svg_open(out, PANEL_H);
        draw_chart(out, &c);
        svg_close(out);
        rc = ferror(out) ? -EIO : 0;
    }
    free_series(series, n);
    return rc;
}

static int fill_drift_series(const struct experiment_drift *d,
                             struct chart_series s[3])
{
    for (size_t i = 0; i < 3; i++)
        if (alloc_series(&s[i], d->nwindows) < 0)
            return -ENOMEM;
    snprintf(s[0].name, sizeof s[0].name, "all edges");
    snprintf(s[1].name, sizeof s[1].name, "estimated");
    snprintf(s[2].name, sizeof s[2].name, "injected");
    for (size_t w = 0; w < d->nwindows; w++) {
        const struct experiment_window *x = &d->windows[w];
        if (x->pairs) {
            s[0].x[s[0].n] = x->t_s;
            s[0].y[s[0].n++] =
                100.0 * (double)x->violating_pairs / (double)x->pairs;
        }
        if (x->known) {
            s[1].x[s[1].n] = x->t_s;
            s[1].y[s[1].n++] = (double)x->offset_ns / 1e6;
        }
        s[2].x[s[2].n] = x->t_s;
        s[2].y[s[2].n++] = (double)x->injected_ns / 1e6;
    }
    return 0;
}

int experiment_drift_svg(FILE *out, const struct experiment_drift *d)
{
    struct chart_series s[3];
    char t1[128], t2[128];
    int rc;

    memset(s, 0, sizeof s);
    if ((rc = fill_drift_series(d, s)) == 0) {
        snprintf(t1, sizeof t1,
                 "Violation rate over time (%s, node-%s %+g ppm)", d->transport,
                 d->stage, d->drift_ppm);
        snprintf(t2, sizeof t2, "Offset of node-%s: estimated vs injected",
                 d->stage);
        struct chart rate = {.title = t1,
                             .xlabel = "time since start (s)",
                             .ylabel = "violating edge pairs (%)",
                             .y_from_zero = true,
                             .series = s,
                             .nseries = 1};
        struct chart off = {.title = t2,
                            .xlabel = "time since start (s)",
                            .ylabel = "offset (ms, + = ahead)",
                            .top = PANEL_H,
                            .series = s + 1,
                            .nseries = 2};
        svg_open(out, 2 * PANEL_H);
        draw_chart(out, &rate);
        draw_chart(out, &off);
        svg_close(out);
        rc = ferror(out) ? -EIO : 0;
    }
    free_series(s, 3);
    return rc;
}
