/* Producer/consumer over a bounded ring with a mutex and two condition variables. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS 16
static long ITEMS = 20000;
static long ring[SLOTS];
static int head, tail, count;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;

static void *producer(void *arg) {
    (void)arg;
    for (long i = 1; i <= ITEMS; i++) {
        pthread_mutex_lock(&m);
        while (count == SLOTS) pthread_cond_wait(&not_full, &m);
        ring[head] = i; head = (head + 1) % SLOTS; count++;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&m);
    }
    return NULL;
}

static void *consumer(void *arg) {
    long *sum = arg;
    for (long i = 0; i < ITEMS; i++) {
        pthread_mutex_lock(&m);
        while (count == 0) pthread_cond_wait(&not_empty, &m);
        *sum += ring[tail]; tail = (tail + 1) % SLOTS; count--;
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&m);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) ITEMS = atol(argv[1]);
    pthread_t p, c;
    long sum = 0;
    pthread_create(&p, NULL, producer, NULL);
    pthread_create(&c, NULL, consumer, &sum);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    printf("consumed %ld\n", sum);
    return sum == (long)ITEMS * (ITEMS + 1) / 2 ? 0 : 1;
}
