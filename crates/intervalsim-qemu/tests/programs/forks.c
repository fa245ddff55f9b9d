/* A process that forks a child which computes and exits without exec, then waits for it. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    volatile long s = 0;
    pid_t pid = fork();
    if (pid == 0) {
        for (long i = 0; i < 100000; i++) s += i;
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    for (long i = 0; i < 300000; i++) s += i;
    printf("parent done, child exit %d\n", WEXITSTATUS(status));
    return 0;
}
