/* Single-threaded kernels with a deterministic instruction count: a blocked matrix multiply,
 * a pointer chase over a shuffled ring, and an insertion sort. Prints checksums. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#define N 96

static double a[N][N], b[N][N], c[N][N];

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) { a[i][j] = (i + j) % 7; b[i][j] = (i * j) % 5; }
    for (int r = 0; r < scale; r++)
        for (int ii = 0; ii < N; ii += 16)
            for (int kk = 0; kk < N; kk += 16)
                for (int i = ii; i < ii + 16; i++)
                    for (int k = kk; k < kk + 16; k++)
                        for (int j = 0; j < N; j++) c[i][j] += a[i][k] * b[k][j];
    double trace = 0;
    for (int i = 0; i < N; i++) trace += c[i][i];

    size_t n = 1 << 16;
    size_t *next_of = malloc(n * sizeof *next_of), *perm = malloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) { size_t j = next() % (i + 1); size_t t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
    for (size_t i = 0; i < n; i++) next_of[perm[i]] = perm[(i + 1) % n];
    size_t p = 0, steps = 0;
    for (long r = 0; r < 4L * scale * (long)n; r++) { p = next_of[p]; steps += p & 1; }

    int m = 2000;
    int *v = malloc(m * sizeof *v);
    for (int i = 0; i < m; i++) v[i] = (int)(next() % 100000);
    for (int i = 1; i < m; i++) { int x = v[i], j = i - 1; while (j >= 0 && v[j] > x) { v[j + 1] = v[j]; j--; } v[j + 1] = x; }

    printf("matmul trace %.0f\nchase %zu %zu\nsorted %d %d %d\n", trace, p, steps, v[0], v[m / 2], v[m - 1]);
    free(next_of); free(perm); free(v);
    return 3;
}
