/* Threads created one after another, each joined before the next starts: QEMU hands the same
 * vCPU index to every worker in turn. */
#include <pthread.h>
#include <stdio.h>

#define WORKERS 6
static volatile long sink;

static void *work(void *arg) {
    long k = (long)arg, s = 0;
    for (long i = 0; i < 100000; i++) s += i ^ k;
    sink += s;
    return NULL;
}

int main(void) {
    for (long k = 0; k < WORKERS; k++) {
        pthread_t t;
        pthread_create(&t, NULL, work, (void *)k);
        pthread_join(t, NULL);
    }
    printf("done %d\n", WORKERS);
    return 0;
}
