/* Parallel sum with a barrier: T threads sum slices of an array, meet at a pthread barrier,
 * then thread 0 combines the partial sums. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define T 4
static long n = 1 << 20;
static double *data, partial[T];
static pthread_barrier_t barrier;

static void *work(void *arg) {
    long id = (long)arg;
    double s = 0;
    for (int r = 0; r < 4; r++)
        for (long i = id * n / T; i < (id + 1) * n / T; i++) s += data[i];
    partial[id] = s;
    pthread_barrier_wait(&barrier);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) n = atol(argv[1]);
    data = malloc(n * sizeof *data);
    for (long i = 0; i < n; i++) data[i] = (double)(i % 1000);
    pthread_barrier_init(&barrier, NULL, T);
    pthread_t th[T];
    for (long i = 0; i < T; i++) pthread_create(&th[i], NULL, work, (void *)i);
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    double s = 0;
    for (int i = 0; i < T; i++) s += partial[i];
    printf("sum %.0f\n", s);
    return 0;
}
