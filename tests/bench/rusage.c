/*
 * rusage OUT CMD [ARGS...]: runs CMD and writes its resource usage to the file OUT as one line
 *   user_seconds sys_seconds max_rss_kb wait_status
 * then exits with CMD's exit status (128 + the signal when it was killed).
 *
 * Why not wait4 from the benchmark's Python harness directly: Linux folds the RSS of the
 * memory a process had before execve (for a child of Python, a copy of Python's) into the
 * ru_maxrss of that process, so a child of a harness holding a large data set reports at
 * least the harness's size. This launcher is small, and CMD is forked from it, so CMD's
 * ru_maxrss is its own. CMD's stdin, stdout and stderr are this process's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: rusage OUT CMD [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("rusage: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "rusage: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    /* a Ctrl-C reaches CMD too (one process group): wait for it to end and report */
    signal(SIGINT, SIG_IGN);
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("rusage: wait4");
            return 2;
        }
    }
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    fprintf(f, "%ld.%06ld %ld.%06ld %ld %d\n", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
            (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, ru.ru_maxrss, status);
    if (fclose(f) != 0) {
        perror(argv[1]);
        return 2;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
