/* A mutex-contended counter: T threads increment one shared counter under a lock. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define T 4
static int ITERS = 40000;
static long counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *work(void *arg) {
    (void)arg;
    for (int i = 0; i < ITERS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) ITERS = atoi(argv[1]);
    pthread_t th[T];
    for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, work, NULL);
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    printf("counter %ld\n", counter);
    return counter == (long)T * ITERS ? 0 : 1;
}
