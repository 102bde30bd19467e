/* `sys NR [ARG...]`: call syscall NR with up to six integer arguments and
 * print "RET ERRNO" (with CATCH_SIGSYS set, a SIGSYS prints "trapped").  Static, so it runs in a busybox bundle; the seccomp
 * tests use it to make exactly the calls a filter must judge. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

static void on_sigsys(int sig) {
    (void)sig;
    write(1, "trapped\n", 8);  /* SCMP_ACT_TRAP: the signal can be caught, a kill cannot */
    _exit(0);
}

int main(int argc, char **argv) {
    long a[6] = {0};
    if (argc < 2)
        return 2;
    if (getenv("CATCH_SIGSYS"))
        signal(SIGSYS, on_sigsys);
    for (int i = 2; i < argc && i < 8; i++)
        a[i - 2] = (long)strtoul(argv[i], NULL, 0);
    errno = 0;
    long r = syscall(strtol(argv[1], NULL, 0), a[0], a[1], a[2], a[3], a[4], a[5]);
    printf("%ld %d\n", r, r < 0 ? errno : 0);
    fflush(stdout);
    return 0;
}
