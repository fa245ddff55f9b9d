/* Threaded matrix multiply: T threads compute row blocks of C = A x B. */
#include <pthread.h>
#include <stdio.h>

#define T 4
#define N 128
static double a[N][N], b[N][N], c[N][N];

static void *work(void *arg) {
    long id = (long)arg;
    for (int i = id * N / T; i < (id + 1) * N / T; i++)
        for (int k = 0; k < N; k++)
            for (int j = 0; j < N; j++) c[i][j] += a[i][k] * b[k][j];
    return NULL;
}

int main(void) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) { a[i][j] = (i + 2 * j) % 9; b[i][j] = (3 * i + j) % 11; }
    pthread_t th[T];
    for (long i = 0; i < T; i++) pthread_create(&th[i], NULL, work, (void *)i);
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    double s = 0;
    for (int i = 0; i < N; i++) s += c[i][i];
    printf("trace %.0f\n", s);
    return 0;
}
