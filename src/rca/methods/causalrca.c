/* causalrca: CausalRCA (Xin et al., "CausalRCA: Causal inference based
 * precise fine-grained root cause localization for microservice
 * applications", JSS 2023) as RCAEval runs it (RCAEval/e2e/causalrca.py):
 * a DAG-GNN (Yu et al., "DAG-GNN: DAG Structure Learning with Graph Neural
 * Networks", ICML 2019) learns a weighted graph, PageRank ranks it.
 *
 * Data: RCAEval's preprocess() of the whole window (constant columns
 * dropped, memory to MB; no split at the inject time), each column divided
 * by its maximum. n rows, d columns, each value one scalar node feature.
 *
 * Model (RCAEval's MLPEncoder / MLPDecoder, x_dims = z_dims = 1, 64 hidden
 * units, float64): A (d x d, starts at 0), A1 = sinh(3 A); a scalar Wa;
 *   E      = fc2(relu(fc1(X)))          the encoder MLP on every value
 *   logits = (E + Wa)(I - A1) - Wa      (I - A1^T per sample)
 *   Z      = (logits + Wa)(I - A1)^-1 - Wa
 *   out    = fc4(relu(fc3(Z)))          the decoder MLP
 *   loss   = 0.5 |logits|^2 / n + 0.5 |out - X|^2 / n
 *            + lambda h + c/2 h^2 + 100 tr(A1 o A1),
 *   h      = tr((I + A1 o A1 / d)^d) - d       (the acyclicity constraint)
 * Z equals E exactly (the decoder inverts the encoder's linear map), so the
 * decoder sees E, and neither A nor Wa receives gradient through it; this
 * file uses Z = E and those zero gradients instead of forming the inverse
 * (in torch they are rounding noise). Gradients are written out by hand.
 *
 * Training (RCAEval's CONFIG and loop): Adam (betas 0.9, 0.999, eps 1e-8),
 * one full batch per epoch, lr = clamp(1e-3 / log10(c), 1e-4, 1e-2) (1e-2
 * at c = 1); the augmented Lagrangian: for up to k_max_iter (100) outer
 * steps, while c < 1e20: `epochs` (500) epochs; stop the inner loop if the
 * last epoch's ELBO (KL + NLL) exceeds twice the best seen; h_new = h(A1 of
 * the last epoch); c *= 10 while h_new > 0.25 h_old, else leave the inner
 * loop; then h_old = h_new, lambda += c h_new, stop when h_new <= 1e-8.
 * The graph: A1 of the last epoch with |a| < 0.3 set to 0; scikit-network
 * PageRank (0.85, 10 iterations) on |A1| (edge i -> j weighted |A1_ij|);
 * every column by score, highest first (stable).
 *
 * Initialisation: fc1/fc2/fc3/fc4 weights Xavier-normal (sd sqrt(2/65)),
 * encoder biases PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * decoder biases 0 -- drawn from the seeded generator (RCAEval never seeds
 * torch, so its runs differ from one another too).
 *
 * Bounded: `max_epochs` (default 20000) caps the epochs over the whole
 * loop (RCAEval's loop can run up to 100 x 21 x 500 = 1,050,000 epochs);
 * when the cap is hit, training stops and the last A1 is used. Departures:
 * that cap; a NaN loss fails the case (-RCA_E_NOCONV) where RCAEval would
 * go on with a NaN graph; a column whose maximum is 0 is left unscaled
 * (pandas would divide by 0).
 *
 * Parameters: epochs (500), k_max_iter (100), max_epochs (20000), lr
 * (1e-3), graph_threshold (0.3), hidden (64). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/series.h"
#include "rca/rca_method.h"
#include "stats/pagerank.h"

/* Vector width the inner loops are written for: fixed trip counts let the
 * compiler vectorise them at -O2 without reassociating sums. The hidden
 * layer is padded to a multiple of VW with zero units (they get zero
 * gradients and stay zero), the SEM rows to a multiple of VW with zeros. */
#define VW 8

/* The ReLU derivative's comparison stops GCC from if-converting (and so
 * vectorising) the backward loop while it must assume floating-point
 * operations can trap; telling it they do not changes no value. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CRCA_VECTORISE                                                         \
    __attribute__((optimize("no-trapping-math"),                               \
                   target_clones("avx2", "default")))
#elif defined(__GNUC__) && !defined(__clang__)
#define CRCA_VECTORISE __attribute__((optimize("no-trapping-math")))
#else
#define CRCA_VECTORISE
#endif

static const char *const crca_params[] = {
    "epochs",          "k_max_iter", "max_epochs", "lr",
    "graph_threshold", "hidden",     NULL};

struct crca_opts {
    size_t epochs, k_max_iter, max_epochs, hidden;
    double lr, threshold;
};

static int crca_opts_read(const struct rca_params *p, struct crca_opts *o,
                          char *err, size_t errlen)
{
    const char *m = "causalrca";
    int rc;

    if ((rc = rca_param_size(p, m, "epochs", 500, 1, 1000000, &o->epochs, err,
                             errlen)) < 0 ||
        (rc = rca_param_size(p, m, "k_max_iter", 100, 1, 1000, &o->k_max_iter,
                             err, errlen)) < 0 ||
        (rc = rca_param_size(p, m, "max_epochs", 20000, 1, 100000000,
                             &o->max_epochs, err, errlen)) < 0 ||
        (rc = rca_param_size(p, m, "hidden", 64, 1, 4096, &o->hidden, err,
                             errlen)) < 0 ||
        (rc = rca_param_double(p, m, "lr", 1e-3, 1e-12, 1.0, &o->lr, err,
                               errlen)) < 0 ||
        (rc = rca_param_double(p, m, "graph_threshold", 0.3, 0.0, 1e9,
                               &o->threshold, err, errlen)) < 0)
        return rc;
    return 0;
}

static int crca_validate(const struct rca_params *p, char *err, size_t errlen)
{
    struct crca_opts o;

    return crca_opts_read(p, &o, err, errlen);
}

/* ---------------------------------------------------------------------
 * Parameters and Adam
 * --------------------------------------------------------------------- */

/* Every trainable parameter lives in one vector so that Adam is one loop:
 * A (d*d), Wa (1), W1, b1, W2 (H each), b2 (1), W3, b3, W4 (H each),
 * b4 (1). */
struct net {
    size_t d, H, np;
    double *p, *g, *m, *v; /* parameters, gradients, Adam moments */
    double *A, *Wa, *W1, *b1, *W2, *b2, *W3, *b3, *W4, *b4;
    double *gA, *gWa, *gW1, *gb1, *gW2, *gb2, *gW3, *gb3, *gW4, *gb4;
    unsigned long step;
};

static void net_bind(struct net *t, double *base, double **A, double **Wa,
                     double **W1, double **b1, double **W2, double **b2,
                     double **W3, double **b3, double **W4, double **b4)
{
    size_t d = t->d, H = t->H;

    *A = base;
    *Wa = *A + d * d;
    *W1 = *Wa + 1;
    *b1 = *W1 + H;
    *W2 = *b1 + H;
    *b2 = *W2 + H;
    *W3 = *b2 + 1;
    *b3 = *W3 + H;
    *W4 = *b3 + H;
    *b4 = *W4 + H;
}

static double rng_normal(struct stats_rng *r)
{
    double u = stats_rng_u01(r), v = stats_rng_u01(r);

    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static int net_init(struct net *t, size_t d, size_t H, uint64_t seed)
{
    struct stats_rng rng;
    double xs = sqrt(2.0 / (double)(H + 1)); /* Xavier-normal, 1 <-> H */

    memset(t, 0, sizeof(*t));
    t->d = d;
    t->H = (H + VW - 1) / VW * VW; /* units H.. are zero padding */
    t->np = d * d + 6 * t->H + 3;
    t->p = calloc(t->np, sizeof(double));
    t->g = calloc(t->np, sizeof(double));
    t->m = calloc(t->np, sizeof(double));
    t->v = calloc(t->np, sizeof(double));
    if (!t->p || !t->g || !t->m || !t->v)
        return -RCA_E_NOMEM;
    net_bind(t, t->p, &t->A, &t->Wa, &t->W1, &t->b1, &t->W2, &t->b2, &t->W3,
             &t->b3, &t->W4, &t->b4);
    net_bind(t, t->g, &t->gA, &t->gWa, &t->gW1, &t->gb1, &t->gW2, &t->gb2,
             &t->gW3, &t->gb3, &t->gW4, &t->gb4);
    rca_rng_init(&rng, seed);
    for (size_t h = 0; h < H; h++)
        t->W1[h] = xs * rng_normal(&rng);
    for (size_t h = 0; h < H; h++)
        t->b1[h] = 2.0 * stats_rng_u01(&rng) - 1.0; /* fan_in 1 */
    for (size_t h = 0; h < H; h++)
        t->W2[h] = xs * rng_normal(&rng);
    *t->b2 = (2.0 * stats_rng_u01(&rng) - 1.0) / sqrt((double)H);
    for (size_t h = 0; h < H; h++)
        t->W3[h] = xs * rng_normal(&rng);
    for (size_t h = 0; h < H; h++)
        t->W4[h] = xs * rng_normal(&rng);
    return 0;
}

static void net_free(struct net *t)
{
    free(t->p);
    free(t->g);
    free(t->m);
    free(t->v);
}

/* torch.optim.Adam (no weight decay, no amsgrad). */
static void net_adam(struct net *t, double lr)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double bc1, bc2, step;

    t->step++;
    bc1 = 1.0 - pow(b1, (double)t->step);
    bc2 = 1.0 - pow(b2, (double)t->step);
    step = lr / bc1;
    for (size_t i = 0; i < t->np; i++) {
        double g = t->g[i];
        t->m[i] = b1 * t->m[i] + (1.0 - b1) * g;
        t->v[i] = b2 * t->v[i] + (1.0 - b2) * g * g;
        t->p[i] -= step * t->m[i] / (sqrt(t->v[i]) / sqrt(bc2) + eps);
    }
}

/* ---------------------------------------------------------------------
 * The acyclicity constraint
 * --------------------------------------------------------------------- */

/* c = a b (d x d, row-major); c must not alias a or b. */
static void matmul(const double *a, const double *b, double *c, size_t d)
{
    memset(c, 0, d * d * sizeof(double));
    for (size_t i = 0; i < d; i++)
        for (size_t k = 0; k < d; k++) {
            double x = a[i * d + k];
            if (x == 0.0)
                continue;
            const double *bk = b + k * d;
            double *ci = c + i * d;
            for (size_t j = 0; j < d; j++)
                ci[j] += x * bk[j];
        }
}

/* P = M^e by binary exponentiation (torch.matrix_power). w: 2 d*d. */
static void matpow(const double *M, size_t e, double *P, size_t d, double *w)
{
    double *base = w, *tmp = w + d * d;

    memcpy(base, M, d * d * sizeof(double));
    memset(P, 0, d * d * sizeof(double));
    for (size_t i = 0; i < d; i++)
        P[i * d + i] = 1.0;
    while (e) {
        if (e & 1) {
            matmul(P, base, tmp, d);
            memcpy(P, tmp, d * d * sizeof(double));
        }
        e >>= 1;
        if (e) {
            matmul(base, base, tmp, d);
            memcpy(base, tmp, d * d * sizeof(double));
        }
    }
}

/* h(A1) = tr((I + A1oA1/d)^d) - d; with grad, also dh/dA1 = 2 A1 o
 * (M^(d-1))^T into grad. w: 4 d*d scratch. */
static double h_of(const double *A1, size_t d, double *grad, double *w)
{
    double *M = w, *P = w + d * d, tr = 0.0;

    for (size_t i = 0; i < d * d; i++)
        M[i] = A1[i] * A1[i] / (double)d;
    for (size_t i = 0; i < d; i++)
        M[i * d + i] += 1.0;
    matpow(M, d - 1, P, d, w + 2 * d * d);
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++)
            tr += P[i * d + j] * M[j * d + i];
    if (grad)
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < d; j++)
                grad[i * d + j] = 2.0 * A1[i * d + j] * P[j * d + i];
    return tr - (double)d;
}

/* ---------------------------------------------------------------------
 * One epoch
 * --------------------------------------------------------------------- */

struct work {
    size_t n, d, dp;
    const double *X;      /* n x d, row-major */
    double *E, *gE, *out; /* n x d */
    double *A1;           /* d x d */
    double *A1p, *gA1p;   /* dp x dp, zero-padded */
    double *row;          /* 3 dp: a padded row of E, L, G */
    double *hw, *hg;
};

/* sum_h w2[h] relu(w1[h] x + b1[h]) + b2 for a block of VW values. */
CRCA_VECTORISE
static void mlp_fwd_block(const double *restrict w1, const double *restrict b1,
                          const double *restrict w2, double b2, size_t H,
                          const double *restrict x, double *restrict y)
{
    double acc[VW];

    for (size_t k = 0; k < VW; k++)
        acc[k] = b2;
    for (size_t h = 0; h < H; h++) {
        double a = w1[h], b = b1[h], c = w2[h];
        for (size_t k = 0; k < VW; k++) {
            double u = a * x[k] + b;
            acc[k] += c * (u > 0.0 ? u : 0.0);
        }
    }
    for (size_t k = 0; k < VW; k++)
        y[k] = acc[k];
}

/* The MLP 1 -> H -> 1 on cnt values (blocks of VW, the tail padded). */
static void mlp_fwd(const double *w1, const double *b1, const double *w2,
                    double b2, size_t H, const double *x, double *y, size_t cnt)
{
    size_t i = 0;

    for (; i + VW <= cnt; i += VW)
        mlp_fwd_block(w1, b1, w2, b2, H, x + i, y + i);
    if (i < cnt) {
        double xb[VW] = {0}, yb[VW];
        memcpy(xb, x + i, (cnt - i) * sizeof(double));
        mlp_fwd_block(w1, b1, w2, b2, H, xb, yb);
        memcpy(y + i, yb, (cnt - i) * sizeof(double));
    }
}

/* Backward of the MLP for one value x with output gradient g: adds the
 * parameter gradients and returns d(out)/dx * g. */
CRCA_VECTORISE
static double mlp_bwd_one(const double *restrict w1, const double *restrict b1,
                          const double *restrict w2, double *restrict gw1,
                          double *restrict gb1, double *restrict gw2, size_t H,
                          double x, double g)
{
    double gx[VW] = {0}, s = 0.0;

    for (size_t h0 = 0; h0 < H; h0 += VW)
        for (size_t k = 0; k < VW; k++) {
            size_t h = h0 + k;
            double u = w1[h] * x + b1[h];
            double gw = g * w2[h];
            double r = u > 0.0 ? u : 0.0, du = u > 0.0 ? gw : 0.0;
            gw2[h] += g * r;
            gw1[h] += du * x;
            gb1[h] += du;
            gx[k] += du * w1[h];
        }
    for (size_t k = 0; k < VW; k++)
        s += gx[k];
    return s;
}

static void encoder_fwd(const struct net *t, const double *X, double *E,
                        size_t cnt)
{
    mlp_fwd(t->W1, t->b1, t->W2, *t->b2, t->H, X, E, cnt);
}

static void encoder_bwd(struct net *t, const double *X, const double *gE,
                        size_t cnt)
{
    double gb2 = 0.0;

    for (size_t i = 0; i < cnt; i++) {
        gb2 += gE[i];
        mlp_bwd_one(t->W1, t->b1, t->W2, t->gW1, t->gb1, t->gW2, t->H, X[i],
                    gE[i]);
    }
    *t->gb2 += gb2;
}

/* Decoder forward and backward on Z = E: returns sum (out - X)^2 and adds
 * d(NLL)/dE into gE (NLL = 0.5 sum (out - X)^2 / n). out: cnt scratch. */
static double decoder(struct net *t, const double *E, const double *X,
                      double *gE, double *out, size_t cnt, double inv_n)
{
    double sse = 0.0, gb4 = 0.0;

    mlp_fwd(t->W3, t->b3, t->W4, *t->b4, t->H, E, out, cnt);
    for (size_t i = 0; i < cnt; i++) {
        double r = out[i] - X[i], g = r * inv_n;
        sse += r * r;
        gb4 += g;
        gE[i] += mlp_bwd_one(t->W3, t->b3, t->W4, t->gW3, t->gb3, t->gW4, t->H,
                             E[i], g);
    }
    *t->gb4 += gb4;
    return sse;
}

/* sum a[j] b[j] over a padded length (multiple of VW). */
CRCA_VECTORISE
static double dotp(const double *restrict a, const double *restrict b,
                   size_t dp)
{
    double acc[VW] = {0}, s = 0.0;

    for (size_t j0 = 0; j0 < dp; j0 += VW)
        for (size_t k = 0; k < VW; k++)
            acc[k] += a[j0 + k] * b[j0 + k];
    for (size_t k = 0; k < VW; k++)
        s += acc[k];
    return s;
}

/* y += a x over a padded length. */
CRCA_VECTORISE
static void axpyp(double a, const double *restrict x, double *restrict y,
                  size_t dp)
{
    for (size_t j0 = 0; j0 < dp; j0 += VW)
        for (size_t k = 0; k < VW; k++)
            y[j0 + k] += a * x[j0 + k];
}

/* The linear SEM part: logits L = Ew (I - A1) - Wa with Ew = E + Wa; its KL
 * term 0.5 |L|^2 / n; gradients: gE set, gA1p set, gWa added. */
static double sem(struct net *t, struct work *w)
{
    size_t n = w->n, d = w->d, dp = w->dp;
    double kl = 0.0, wa = *t->Wa, inv_n = 1.0 / (double)n, gwa = 0.0;
    double *ep = w->row, *l = w->row + dp, *g = w->row + 2 * dp;

    memset(w->gA1p, 0, dp * dp * sizeof(double));
    memset(w->row, 0, 3 * dp * sizeof(double));
    for (size_t s = 0; s < n; s++) {
        const double *e = w->E + s * d;
        double *ge = w->gE + s * d;

        memcpy(ep, e, d * sizeof(double));
        memcpy(l, e, d * sizeof(double));
        for (size_t i = 0; i < d; i++)
            axpyp(-(ep[i] + wa), w->A1p + i * dp, l, dp);
        for (size_t j = 0; j < d; j++) {
            kl += l[j] * l[j];
            g[j] = l[j] * inv_n;
            gwa -= g[j];
        }
        /* dEw = G (I - A1)^T */
        for (size_t i = 0; i < d; i++) {
            ge[i] = g[i] - dotp(g, w->A1p + i * dp, dp);
            gwa += ge[i];
        }
        /* dA1 -= Ew^T G */
        for (size_t i = 0; i < d; i++)
            axpyp(-(ep[i] + wa), g, w->gA1p + i * dp, dp);
    }
    *t->gWa += gwa;
    return 0.5 * kl * inv_n;
}

struct epoch_out {
    double elbo; /* KL + NLL before the step */
    double h;    /* h(A1) before the step */
};

static void epoch(struct net *t, struct work *w, double lambda, double c,
                  double lr, struct epoch_out *eo)
{
    size_t n = w->n, d = w->d, cnt = n * d;
    double kl, nll, h, coef;

    memset(t->g, 0, t->np * sizeof(double));
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++)
            w->A1p[i * w->dp + j] = w->A1[i * d + j] =
                sinh(3.0 * t->A[i * d + j]);
    encoder_fwd(t, w->X, w->E, cnt);
    kl = sem(t, w);
    nll = 0.5 * decoder(t, w->E, w->X, w->gE, w->out, cnt, 1.0 / (double)n) /
          (double)n;
    encoder_bwd(t, w->X, w->gE, cnt);
    h = h_of(w->A1, d, w->hg, w->hw);
    coef = lambda + c * h;
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            double g = w->gA1p[i * w->dp + j] + coef * w->hg[i * d + j];
            if (i == j)
                g += 200.0 * w->A1[i * d + j]; /* 100 tr(A1 o A1) */
            t->gA[i * d + j] = g * 3.0 * cosh(3.0 * t->A[i * d + j]);
        }
    net_adam(t, lr);
    eo->elbo = kl + nll;
    eo->h = h;
}

/* ---------------------------------------------------------------------
 * The augmented Lagrangian loop
 * --------------------------------------------------------------------- */

static double lr_for(double base, double c)
{
    double lr = base / (log10(c) + 1e-10);

    return lr > 1e-2 ? 1e-2 : lr < 1e-4 ? 1e-4 : lr;
}

/* Trains; leaves in w->A1 the A1 of the last epoch. Returns 0, or
 * -RCA_E_NOCONV on a NaN loss. *epochs_run gets the epochs run. */
static int train(struct net *t, struct work *w, const struct crca_opts *o,
                 size_t *epochs_run)
{
    double c = 1.0, lambda = 0.0, h_new = 1.0, h_old = INFINITY;
    double best_elbo = INFINITY;
    size_t total = 0;
    struct epoch_out eo = {0};

    for (size_t k = 0; k < o->k_max_iter && total < o->max_epochs; k++) {
        while (c < 1e20 && total < o->max_epochs) {
            double lr = lr_for(o->lr, c);
            for (size_t e = 0; e < o->epochs && total < o->max_epochs; e++) {
                epoch(t, w, lambda, c, lr, &eo);
                total++;
                if (isnan(eo.elbo) || isnan(eo.h)) {
                    *epochs_run = total;
                    return -RCA_E_NOCONV;
                }
                if (eo.elbo < best_elbo)
                    best_elbo = eo.elbo;
            }
            if (eo.elbo > 2.0 * best_elbo)
                break;
            /* h of the last epoch's A1 (before its step), as RCAEval */
            h_new = eo.h;
            if (h_new > 0.25 * h_old)
                c *= 10.0;
            else
                break;
        }
        h_old = h_new;
        lambda += c * h_new;
        if (h_new <= 1e-8)
            break;
    }
    *epochs_run = total;
    return 0;
}

/* ---------------------------------------------------------------------
 * The method
 * --------------------------------------------------------------------- */

/* preprocess() and data /= data.max(), row-major n x d. */
static double *crca_data(const struct series_table *t)
{
    size_t n = t->nrows, d = t->ncols;
    double *X = malloc((n * d + 1) * sizeof(double));

    if (!X)
        return NULL;
    for (size_t j = 0; j < d; j++) {
        const double *v = series_table_col(t, j);
        double mx = v[0];
        for (size_t r = 1; r < n; r++)
            mx = v[r] > mx ? v[r] : mx;
        if (mx == 0.0)
            mx = 1.0;
        for (size_t r = 0; r < n; r++)
            X[r * d + j] = v[r] / mx;
    }
    return X;
}

static int work_alloc(struct work *w, size_t n, size_t d)
{
    size_t dp = (d + VW - 1) / VW * VW;

    w->n = n;
    w->d = d;
    w->dp = dp;
    w->E = malloc(n * d * sizeof(double));
    w->gE = malloc(n * d * sizeof(double));
    w->out = malloc(n * d * sizeof(double));
    w->A1 = malloc(d * d * sizeof(double));
    w->A1p = calloc(dp * dp, sizeof(double));
    w->gA1p = calloc(dp * dp, sizeof(double));
    w->row = calloc(3 * dp, sizeof(double));
    w->hg = malloc(d * d * sizeof(double));
    w->hw = malloc(4 * d * d * sizeof(double));
    return w->E && w->gE && w->out && w->A1 && w->A1p && w->gA1p && w->row &&
                   w->hg && w->hw
               ? 0
               : -RCA_E_NOMEM;
}

static void work_free(struct work *w)
{
    free(w->E);
    free(w->gE);
    free(w->out);
    free(w->A1);
    free(w->A1p);
    free(w->gA1p);
    free(w->row);
    free(w->hg);
    free(w->hw);
}

/* PageRank on |A1| thresholded; ranking of the columns. */
static int crca_pagerank(const struct series_table *t, const double *A1,
                         double thr, struct rca_ranking *out)
{
    size_t d = t->ncols;
    double *W = malloc(d * d * sizeof(double)),
           *sc = malloc(d * sizeof(double));
    int rc = -RCA_E_NOMEM;

    if (!W || !sc)
        goto out;
    for (size_t i = 0; i < d * d; i++)
        W[i] = fabs(A1[i]) < thr ? 0.0 : fabs(A1[i]);
    if (stats_pagerank_sknet(W, d, NULL, sc) < 0) {
        rc = -RCA_E_DATA;
        goto out;
    }
    rc = 0;
    for (size_t j = 0; j < d && rc == 0; j++)
        if (rca_ranking_add(out, t->cols[j].name, sc[j]) < 0)
            rc = -RCA_E_NOMEM;
    if (rc == 0)
        rca_ranking_sort(out);
out:
    free(W);
    free(sc);
    return rc;
}

static int causalrca_rank(const struct rca_case *c, const struct rca_params *p,
                          struct rca_ranking *out, char *err, size_t errlen)
{
    const char *name = c->name && *c->name ? c->name : "case";
    struct series_table *t = series_table_copy(c->metrics);
    struct crca_opts o;
    struct net net = {0};
    struct work w = {0};
    double *X = NULL;
    size_t ran = 0;
    int rc;

    if ((rc = crca_opts_read(p, &o, err, errlen)) < 0)
        goto out;
    if (!t)
        goto oom;
    series_table_preprocess_rcaeval(t);
    if (t->ncols == 0 || t->nrows == 0) {
        rc = rca_fail(err, errlen, RCA_E_DATA, name,
                      "causalrca: no non-constant column");
        goto out;
    }
    if (!(X = crca_data(t)) ||
        net_init(&net, t->ncols, o.hidden, p->seed) < 0 ||
        work_alloc(&w, t->nrows, t->ncols) < 0)
        goto oom;
    w.X = X;
    if ((rc = train(&net, &w, &o, &ran)) < 0) {
        rc = rca_fail(err, errlen, RCA_E_NOCONV, name,
                      "causalrca: the loss became NaN after %zu epochs", ran);
        goto out;
    }
    if ((rc = crca_pagerank(t, w.A1, o.threshold, out)) == -RCA_E_NOMEM)
        goto oom;
    if (rc < 0)
        rc = rca_fail(err, errlen, RCA_E_DATA, name, "causalrca: PageRank");
    goto out;
oom:
    rc = rca_fail(err, errlen, RCA_E_NOMEM, name, "out of memory");
out:
    work_free(&w);
    net_free(&net);
    free(X);
    series_table_destroy(t);
    return rc;
}

const struct rca_method rca_method_causalrca = {
    .name = "causalrca",
    .summary = "CausalRCA: DAG-GNN graph learned by gradient descent, "
               "PageRank",
    .inputs = RCA_IN_METRICS,
    .flags = RCA_METHOD_STOCHASTIC,
    .params = crca_params,
    .validate = crca_validate,
    .rank = causalrca_rank,
};
