/* A program that marks its region of interest: setup outside, a kernel inside. */
#include <stdio.h>
#include <stdlib.h>

#define ROI_BEGIN() __asm__ __volatile__("xchg %%bx, %%bx" ::: "memory")
#define ROI_END() __asm__ __volatile__("xchg %%cx, %%cx" ::: "memory")

int main(void) {
    long n = 40000;
    long *v = malloc(n * sizeof *v);
    for (long i = 0; i < n; i++) v[i] = (i * 7919) % 1000;   /* setup: not simulated */
    ROI_BEGIN();
    long s = 0;
    for (int r = 0; r < 10; r++)
        for (long i = 0; i < n; i++) s += v[i];               /* the region of interest */
    ROI_END();
    for (long i = 0; i < n; i++) v[i] = 0;                    /* teardown: not simulated */
    printf("sum %ld\n", s);
    free(v);
    return 0;
}
