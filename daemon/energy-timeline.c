/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>

#include "energy-timeline.h"

#define BLOCK_SAMPLES 64u
#define VARINT_MAX    10u /* bytes of a LEB128 uint64 */

typedef struct TimelineBlock {
        size_t first; /* index of the block's first sample */
        size_t n;     /* samples in the block, ≥ 1 */
        uint64_t t_first_ns;
        uint64_t *base; /* n_zones totals of the first sample */
        uint8_t *data;  /* samples 1…n−1: varint Δt, then one varint Δ per zone */
        size_t size;
        size_t allocated;
} TimelineBlock;

struct EnergyTimeline {
        size_t n_zones;
        bool *summed;
        uint64_t *stepwise; /* n_zones: max_step_ns of stepwise zones, 0 for plain ones */

        TimelineBlock *blocks;
        size_t n_blocks;
        size_t allocated_blocks;

        size_t n_samples;
        uint64_t first_t_ns;
        uint64_t last_t_ns;
        uint64_t *last; /* n_zones totals of the last sample */
};

/* A position in the timeline: one decoded sample. */
typedef struct Cursor {
        const EnergyTimeline *tl;
        size_t block;
        size_t in_block;
        const uint8_t *p;
        uint64_t t_ns;
        uint64_t *uj; /* n_zones, owned by the caller */
} Cursor;

static size_t varint_put(uint8_t *p, uint64_t v) {
        size_t n = 0;

        while (v >= 0x80) {
                p[n++] = (uint8_t) (v | 0x80);
                v >>= 7;
        }
        p[n++] = (uint8_t) v;
        return n;
}

static uint64_t varint_get(const uint8_t **p) {
        uint64_t v = 0;
        unsigned shift = 0;
        uint8_t b;

        do {
                b = *(*p)++;
                v |= (uint64_t) (b & 0x7f) << shift;
                shift += 7;
        } while (b & 0x80);
        return v;
}

int energy_timeline_new(size_t n_zones, const bool *summed, EnergyTimeline **ret) {
        EnergyTimeline *tl;

        assert(ret);

        tl = calloc(1, sizeof(EnergyTimeline));
        if (!tl)
                return -ENOMEM;
        tl->n_zones = n_zones;
        tl->summed = calloc(MAX(n_zones, 1u), sizeof(bool));
        tl->stepwise = calloc(MAX(n_zones, 1u), sizeof(uint64_t));
        tl->last = calloc(MAX(n_zones, 1u), sizeof(uint64_t));
        if (!tl->summed || !tl->stepwise || !tl->last)
                return energy_timeline_free(tl), -ENOMEM;
        if (summed)
                memcpy(tl->summed, summed, n_zones * sizeof(bool));

        *ret = tl;
        return 0;
}

EnergyTimeline *energy_timeline_free(EnergyTimeline *tl) {
        if (!tl)
                return NULL;

        for (size_t i = 0; i < tl->n_blocks; i++) {
                free(tl->blocks[i].base);
                free(tl->blocks[i].data);
        }
        free(tl->blocks);
        free(tl->summed);
        free(tl->stepwise);
        free(tl->last);
        free(tl);
        return NULL;
}

size_t energy_timeline_n_zones(const EnergyTimeline *tl) {
        return tl->n_zones;
}

size_t energy_timeline_n_samples(const EnergyTimeline *tl) {
        return tl->n_samples;
}

bool energy_timeline_zone_summed(const EnergyTimeline *tl, size_t zone) {
        return zone < tl->n_zones && tl->summed[zone];
}

int energy_timeline_set_stepwise(EnergyTimeline *tl, size_t zone, uint64_t max_step_ns) {
        if (zone >= tl->n_zones)
                return -EINVAL;
        tl->stepwise[zone] = max_step_ns;
        return 0;
}

uint64_t energy_timeline_zone_stepwise(const EnergyTimeline *tl, size_t zone) {
        return zone < tl->n_zones ? tl->stepwise[zone] : 0;
}

static void block_trim(TimelineBlock *b) {
        uint8_t *d;

        if (b->size == b->allocated || b->size == 0)
                return;
        d = realloc(b->data, b->size);
        if (d) {
                b->data = d;
                b->allocated = b->size;
        }
}

static int timeline_new_block(EnergyTimeline *tl, uint64_t t_ns, const uint64_t *uj) {
        TimelineBlock *b;

        if (tl->n_blocks > 0)
                block_trim(&tl->blocks[tl->n_blocks - 1]);

        if (tl->n_blocks == tl->allocated_blocks) {
                size_t n = MAX(tl->allocated_blocks * 2, 4u);
                TimelineBlock *a = reallocarray(tl->blocks, n, sizeof(TimelineBlock));

                if (!a)
                        return -ENOMEM;
                tl->blocks = a;
                tl->allocated_blocks = n;
        }

        b = &tl->blocks[tl->n_blocks];
        *b = (TimelineBlock){.first = tl->n_samples, .n = 1, .t_first_ns = t_ns};
        b->base = malloc(MAX(tl->n_zones, 1u) * sizeof(uint64_t));
        if (!b->base)
                return -ENOMEM;
        memcpy(b->base, uj, tl->n_zones * sizeof(uint64_t));
        tl->n_blocks++;
        return 0;
}

static int block_append(TimelineBlock *b, size_t n_zones, uint64_t dt, const uint64_t *uj,
                        const uint64_t *last) {
        size_t need = (n_zones + 1) * VARINT_MAX;

        if (b->allocated - b->size < need) {
                size_t n = MAX(b->allocated * 2, b->size + need);
                uint8_t *d = realloc(b->data, n);

                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->allocated = n;
        }

        b->size += varint_put(b->data + b->size, dt);
        for (size_t z = 0; z < n_zones; z++)
                b->size += varint_put(b->data + b->size, uj[z] - last[z]);
        b->n++;
        return 0;
}

int energy_timeline_append(EnergyTimeline *tl, uint64_t t_ns, const uint64_t *uj) {
        int r;

        assert(tl);
        assert(uj || tl->n_zones == 0);

        if (tl->n_samples > 0) {
                if (t_ns < tl->last_t_ns)
                        return -EINVAL;
                for (size_t z = 0; z < tl->n_zones; z++)
                        if (uj[z] < tl->last[z])
                                return -EINVAL;
        }

        if (tl->n_blocks == 0 || tl->blocks[tl->n_blocks - 1].n >= BLOCK_SAMPLES)
                r = timeline_new_block(tl, t_ns, uj);
        else
                r = block_append(&tl->blocks[tl->n_blocks - 1], tl->n_zones, t_ns - tl->last_t_ns, uj,
                                 tl->last);
        if (r < 0)
                return r;

        if (tl->n_samples == 0)
                tl->first_t_ns = t_ns;
        tl->n_samples++;
        tl->last_t_ns = t_ns;
        if (tl->n_zones > 0)
                memcpy(tl->last, uj, tl->n_zones * sizeof(uint64_t));
        return 0;
}

static void cursor_seek_block(Cursor *c, size_t block) {
        const TimelineBlock *b = &c->tl->blocks[block];

        c->block = block;
        c->in_block = 0;
        c->p = b->data;
        c->t_ns = b->t_first_ns;
        if (c->tl->n_zones > 0)
                memcpy(c->uj, b->base, c->tl->n_zones * sizeof(uint64_t));
}

/* Moves to the next sample; false at the end. */
static bool cursor_next(Cursor *c) {
        const TimelineBlock *b = &c->tl->blocks[c->block];

        if (c->in_block + 1 < b->n) {
                c->t_ns += varint_get(&c->p);
                for (size_t z = 0; z < c->tl->n_zones; z++)
                        c->uj[z] += varint_get(&c->p);
                c->in_block++;
                return true;
        }
        if (c->block + 1 < c->tl->n_blocks) {
                cursor_seek_block(c, c->block + 1);
                return true;
        }
        return false;
}

static size_t cursor_index(const Cursor *c) {
        return c->tl->blocks[c->block].first + c->in_block;
}

/* The last block whose first sample is at or before @t_ns (the first block when none is). */
static size_t timeline_find_block(const EnergyTimeline *tl, uint64_t t_ns) {
        size_t lo = 0, hi = tl->n_blocks;

        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;

                if (tl->blocks[mid].t_first_ns <= t_ns)
                        lo = mid;
                else
                        hi = mid;
        }
        return lo;
}

int energy_timeline_sample(const EnergyTimeline *tl, size_t i, uint64_t *ret_t_ns, uint64_t *ret_uj) {
        _cleanup_free_ uint64_t *buf = NULL;
        size_t lo = 0, hi;
        Cursor c = {.tl = tl};

        if (i >= tl->n_samples)
                return -ERANGE;

        c.uj = ret_uj;
        if (!c.uj) {
                c.uj = buf = calloc(MAX(tl->n_zones, 1u), sizeof(uint64_t));
                if (!buf)
                        return -ENOMEM;
        }

        hi = tl->n_blocks;
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;

                if (tl->blocks[mid].first <= i)
                        lo = mid;
                else
                        hi = mid;
        }

        cursor_seek_block(&c, lo);
        while (cursor_index(&c) < i)
                (void) cursor_next(&c);

        if (ret_t_ns)
                *ret_t_ns = c.t_ns;
        return 0;
}

int energy_timeline_range(const EnergyTimeline *tl, uint64_t *ret_first_ns, uint64_t *ret_last_ns) {
        if (tl->n_samples == 0)
                return -ENODATA;
        if (ret_first_ns)
                *ret_first_ns = tl->first_t_ns;
        if (ret_last_ns)
                *ret_last_ns = tl->last_t_ns;
        return 0;
}

/* The cumulative totals at @t_ns (inside the recorded range), split into the integer totals of the
 * last sample at or before t (@ret_base) and the interpolated part beyond it (@ret_frac), which
 * keeps differences of large totals exact. @scratch: n_zones. */
static void timeline_locate(const EnergyTimeline *tl, uint64_t t_ns, uint64_t *ret_base, double *ret_frac,
                            uint64_t *scratch) {
        Cursor c = {.tl = tl, .uj = ret_base};
        Cursor next = {.tl = tl, .uj = scratch};
        uint64_t t_prev;
        double f;

        cursor_seek_block(&c, timeline_find_block(tl, t_ns));

        /* Walk to the last sample at or before t; "next" ends up one sample ahead. */
        for (;;) {
                next.block = c.block;
                next.in_block = c.in_block;
                next.p = c.p;
                next.t_ns = c.t_ns;
                if (tl->n_zones > 0)
                        memcpy(next.uj, c.uj, tl->n_zones * sizeof(uint64_t));

                if (!cursor_next(&next) || next.t_ns > t_ns)
                        break;

                c.block = next.block;
                c.in_block = next.in_block;
                c.p = next.p;
                c.t_ns = next.t_ns;
                if (tl->n_zones > 0)
                        memcpy(c.uj, next.uj, tl->n_zones * sizeof(uint64_t));
        }

        t_prev = c.t_ns;
        if (next.t_ns <= t_ns || cursor_index(&next) == cursor_index(&c)) {
                /* t is at (or after) the last sample. */
                for (size_t z = 0; z < tl->n_zones; z++)
                        ret_frac[z] = 0;
                return;
        }

        f = (double) (t_ns - t_prev) / (double) (next.t_ns - t_prev);
        for (size_t z = 0; z < tl->n_zones; z++)
                ret_frac[z] = (double) (next.uj[z] - c.uj[z]) * f;
}

/* The first sample whose total of @zone is ≥ @v: its index, time and total. -ENOENT when there is none.
 * Totals never decrease, so the blocks' first samples are searched by bisection. @scratch: n_zones. */
static int timeline_first_ge(const EnergyTimeline *tl, size_t zone, uint64_t v, uint64_t *scratch,
                             size_t *ret_index, uint64_t *ret_t_ns, uint64_t *ret_uj) {
        Cursor c = {.tl = tl, .uj = scratch};
        size_t lo = 0, hi = tl->n_blocks;

        if (tl->n_samples == 0 || tl->last[zone] < v)
                return -ENOENT;

        /* The last block whose first sample is below v (or the first block). */
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;

                if (tl->blocks[mid].base[zone] < v)
                        lo = mid;
                else
                        hi = mid;
        }

        cursor_seek_block(&c, lo);
        while (c.uj[zone] < v)
                if (!cursor_next(&c))
                        return -ENOENT;

        *ret_index = cursor_index(&c);
        *ret_t_ns = c.t_ns;
        *ret_uj = c.uj[zone];
        return 0;
}

/* For a stepwise zone, beyond its last change (first seen at sample @ia, time @ta): the counter has not
 * been refreshed since. While that tail is shorter than max_step the energy since @ta is estimated at
 * the rate of the refresh period before it; a longer tail means the zone stopped drawing: flat. */
static double stepwise_tail(const EnergyTimeline *tl, size_t zone, uint64_t t_ns, size_t ia, uint64_t ta,
                            uint64_t v, uint64_t *scratch) {
        uint64_t tp, vp;
        size_t ip;

        if (ia == 0 || t_ns <= ta || tl->last_t_ns - ta > tl->stepwise[zone])
                return 0;
        if (energy_timeline_sample(tl, ia - 1, NULL, scratch) < 0)
                return 0;
        if (timeline_first_ge(tl, zone, scratch[zone], scratch, &ip, &tp, &vp) < 0 || ta <= tp || v <= vp)
                return 0;
        return (double) (v - vp) * (double) (t_ns - ta) / (double) (ta - tp);
}

/* For a stepwise zone whose last sample at or before @t_ns holds @v: the energy beyond v at t,
 * interpolated between the change points around t (see energy-timeline.h); @plain_frac is the plain
 * interpolation, kept where the two change points are neighbouring samples. */
static double stepwise_frac(const EnergyTimeline *tl, size_t zone, uint64_t t_ns, uint64_t v,
                            double plain_frac, uint64_t *scratch) {
        uint64_t ta, tb, vb, va, s, max_step = tl->stepwise[zone];
        size_t ia, ib;

        if (timeline_first_ge(tl, zone, v, scratch, &ia, &ta, &va) < 0)
                return plain_frac;
        if (timeline_first_ge(tl, zone, v + 1, scratch, &ib, &tb, &vb) < 0)
                return stepwise_tail(tl, zone, t_ns, ia, ta, v, scratch);
        if (ib == ia + 1)
                return plain_frac;

        s = tb > max_step ? MAX(ta, tb - max_step) : ta;
        if (t_ns <= s || tb <= s)
                return 0;
        return (double) (vb - v) * (double) (t_ns - s) / (double) (tb - s);
}

int energy_timeline_energy_all(const EnergyTimeline *tl, uint64_t t0_ns, uint64_t t1_ns, double *ret_zone_uj,
                               double *ret_summed_uj, uint64_t *ret_t0_ns, uint64_t *ret_t1_ns) {
        _cleanup_free_ uint64_t *b0 = NULL, *b1 = NULL, *scratch = NULL;
        _cleanup_free_ double *f0 = NULL, *f1 = NULL;
        size_t n = MAX(tl->n_zones, 1u);
        double summed = 0;

        if (t1_ns < t0_ns)
                return -EINVAL;
        if (tl->n_samples == 0)
                return -ENODATA;
        if (t1_ns < tl->first_t_ns || t0_ns > tl->last_t_ns)
                return -ERANGE;

        t0_ns = MAX(t0_ns, tl->first_t_ns);
        t1_ns = MIN(t1_ns, tl->last_t_ns);

        b0 = calloc(n, sizeof(uint64_t));
        b1 = calloc(n, sizeof(uint64_t));
        scratch = calloc(n, sizeof(uint64_t));
        f0 = calloc(n, sizeof(double));
        f1 = calloc(n, sizeof(double));
        if (!b0 || !b1 || !scratch || !f0 || !f1)
                return -ENOMEM;

        timeline_locate(tl, t0_ns, b0, f0, scratch);
        timeline_locate(tl, t1_ns, b1, f1, scratch);
        for (size_t z = 0; z < tl->n_zones; z++)
                if (tl->stepwise[z] > 0) {
                        f0[z] = stepwise_frac(tl, z, t0_ns, b0[z], f0[z], scratch);
                        f1[z] = stepwise_frac(tl, z, t1_ns, b1[z], f1[z], scratch);
                }

        for (size_t z = 0; z < tl->n_zones; z++) {
                double e = (double) (b1[z] - b0[z]) + (f1[z] - f0[z]);

                if (ret_zone_uj)
                        ret_zone_uj[z] = e;
                if (tl->summed[z])
                        summed += e;
        }

        if (ret_summed_uj)
                *ret_summed_uj = summed;
        if (ret_t0_ns)
                *ret_t0_ns = t0_ns;
        if (ret_t1_ns)
                *ret_t1_ns = t1_ns;
        return 0;
}

int energy_timeline_energy_uj(const EnergyTimeline *tl, size_t zone, uint64_t t0_ns, uint64_t t1_ns,
                              double *ret) {
        _cleanup_free_ double *e = NULL;
        double summed;
        int r;

        if (zone != ENERGY_ALL_SUMMED && zone >= tl->n_zones)
                return -EINVAL;

        e = calloc(MAX(tl->n_zones, 1u), sizeof(double));
        if (!e)
                return -ENOMEM;

        r = energy_timeline_energy_all(tl, t0_ns, t1_ns, e, &summed, NULL, NULL);
        if (r < 0)
                return r;

        *ret = zone == ENERGY_ALL_SUMMED ? summed : e[zone];
        return 0;
}

int energy_timeline_zone_changes(const EnergyTimeline *tl, size_t zone, uint64_t t0_ns, uint64_t t1_ns,
                                 size_t *ret_n, uint64_t *ret_first_ns, uint64_t *ret_last_ns) {
        _cleanup_free_ uint64_t *uj = NULL;
        uint64_t first = 0, last = 0, prev;
        Cursor c = {.tl = tl};
        size_t n = 0, block;

        if (zone >= tl->n_zones || t1_ns < t0_ns)
                return -EINVAL;

        if (tl->n_samples > 0) {
                uj = calloc(tl->n_zones, sizeof(uint64_t));
                if (!uj)
                        return -ENOMEM;
                c.uj = uj;

                /* Start one block early: the first sample in the window is compared with the one before. */
                block = timeline_find_block(tl, t0_ns);
                cursor_seek_block(&c, block > 0 ? block - 1 : 0);
                prev = c.uj[zone];
                while (cursor_next(&c) && c.t_ns <= t1_ns) {
                        if (c.t_ns >= t0_ns && c.uj[zone] != prev) {
                                if (n == 0)
                                        first = c.t_ns;
                                last = c.t_ns;
                                n++;
                        }
                        prev = c.uj[zone];
                }
        }

        if (ret_n)
                *ret_n = n;
        if (ret_first_ns)
                *ret_first_ns = first;
        if (ret_last_ns)
                *ret_last_ns = last;
        return 0;
}

static double watts(double uj, uint64_t ns) {
        /* 1 µJ per ns is 1 kW. */
        return uj * 1000.0 / (double) ns;
}

static uint64_t zone_value(const EnergyTimeline *tl, size_t zone, const uint64_t *uj) {
        uint64_t v = 0;

        if (zone != ENERGY_ALL_SUMMED)
                return uj[zone];
        for (size_t z = 0; z < tl->n_zones; z++)
                if (tl->summed[z])
                        v += uj[z];
        return v;
}

static int series_per_sample(const EnergyTimeline *tl, size_t zone, EnergyPowerPoint *points, size_t *n) {
        _cleanup_free_ uint64_t *uj = NULL;
        Cursor c = {.tl = tl};
        uint64_t t_prev, v_prev;

        uj = calloc(MAX(tl->n_zones, 1u), sizeof(uint64_t));
        if (!uj)
                return -ENOMEM;
        c.uj = uj;

        cursor_seek_block(&c, 0);
        t_prev = c.t_ns;
        v_prev = zone_value(tl, zone, c.uj);
        *n = 0;
        while (cursor_next(&c)) {
                uint64_t v = zone_value(tl, zone, c.uj);

                if (c.t_ns > t_prev)
                        points[(*n)++] = (EnergyPowerPoint){
                                .t0_ns = t_prev,
                                .t1_ns = c.t_ns,
                                .watts = watts((double) (v - v_prev), c.t_ns - t_prev),
                        };
                t_prev = c.t_ns;
                v_prev = v;
        }
        return 0;
}

static int series_binned(const EnergyTimeline *tl, size_t zone, uint64_t bin_ns, EnergyPowerPoint *points,
                         size_t *n) {
        *n = 0;
        for (uint64_t t0 = tl->first_t_ns; t0 < tl->last_t_ns; t0 += bin_ns) {
                uint64_t t1 = t0 + MIN(bin_ns, tl->last_t_ns - t0);
                double e;
                int r;

                r = energy_timeline_energy_uj(tl, zone, t0, t1, &e);
                if (r < 0)
                        return r;
                points[(*n)++] = (EnergyPowerPoint){.t0_ns = t0, .t1_ns = t1, .watts = watts(e, t1 - t0)};
        }
        return 0;
}

int energy_timeline_power_series(const EnergyTimeline *tl, size_t zone, uint64_t bin_ns,
                                 EnergyPowerPoint **ret, size_t *ret_n) {
        _cleanup_free_ EnergyPowerPoint *points = NULL;
        size_t max, n = 0;
        int r;

        if (zone != ENERGY_ALL_SUMMED && zone >= tl->n_zones)
                return -EINVAL;

        if (tl->n_samples < 2) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }

        if (bin_ns == 0)
                max = tl->n_samples - 1;
        else
                max = (size_t) ((tl->last_t_ns - tl->first_t_ns + bin_ns - 1) / bin_ns);

        points = calloc(MAX(max, 1u), sizeof(EnergyPowerPoint));
        if (!points)
                return -ENOMEM;

        if (bin_ns == 0)
                r = series_per_sample(tl, zone, points, &n);
        else
                r = series_binned(tl, zone, bin_ns, points, &n);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(points);
        *ret_n = n;
        return 0;
}

size_t energy_timeline_memory_bytes(const EnergyTimeline *tl) {
        size_t n = sizeof(EnergyTimeline) + 3 * MAX(tl->n_zones, 1u) * sizeof(uint64_t) +
                   tl->allocated_blocks * sizeof(TimelineBlock);

        for (size_t i = 0; i < tl->n_blocks; i++)
                n += MAX(tl->n_zones, 1u) * sizeof(uint64_t) + tl->blocks[i].allocated;
        return n;
}
