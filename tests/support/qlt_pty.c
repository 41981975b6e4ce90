#define _XOPEN_SOURCE 700 /* <pty.h>: forkpty */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "qlt_pty.h"

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void
qlt_pty_start(struct qlt_pty *t, const char *const *argv,
              const char *const *envp, bool (*child)(void))
{
    const char *bin = getenv("QINGLING_BIN");
    const char *full[32];
    size_t n;

    if (bin == NULL || *bin == '\0')
        bin = "build/qingling";
    full[0] = bin;
    for (n = 0; argv[n] != NULL; n++) {
        if (n + 2 >= sizeof full / sizeof full[0])
            fail_msg("too many arguments for a terminal run");
        full[n + 1] = argv[n];
    }
    full[n + 1] = NULL;
    memset(t, 0, sizeof *t);
    t->pid = forkpty(&t->fd, NULL, NULL, NULL);
    if (t->pid < 0)
        fail_msg("forkpty failed");
    if (t->pid == 0) {
        /*
         * A terminal's user gets the default signal dispositions; a shell
         * that started the tests in the background without job control
         * left SIGINT and SIGQUIT ignored, which the command would keep.
         */
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        if (child != NULL && !child())
            _exit(126);
        execve(bin, (char *const *)full, (char *const *)envp);
        _exit(127);
    }
}

void
qlt_pty_expect(struct qlt_pty *t, const char *want)
{
    time_t start = time(NULL);

    for (;;) {
        struct pollfd pfd = {t->fd, POLLIN, 0};
        char *hit;
        ssize_t n;

        t->buf[t->len] = '\0';
        if ((hit = strstr(t->buf + t->seen, want)) != NULL) {
            t->seen = (size_t)(hit - t->buf) + strlen(want);
            return;
        }
        if (time(NULL) - start > 20 || t->len + 1 >= sizeof t->buf)
            fail_msg("terminal never showed '%s'; it showed:\n%s", want,
                     t->buf);
        if (poll(&pfd, 1, 1000) <= 0)
            continue;
        n = read(t->fd, t->buf + t->len, sizeof t->buf - 1 - t->len);
        if (n <= 0)
            fail_msg("terminal closed before '%s'; it showed:\n%s", want,
                     t->buf);
        t->len += (size_t)n;
    }
}

void
qlt_pty_say(struct qlt_pty *t, const char *text)
{
    size_t n = strlen(text);

    assert_int_equal(write(t->fd, text, n), (ssize_t)n);
}

void
qlt_pty_drain(struct qlt_pty *t)
{
    for (;;) {
        struct pollfd pfd = {t->fd, POLLIN, 0};
        ssize_t n;

        if (poll(&pfd, 1, 5000) <= 0)
            return;
        n = read(t->fd, t->buf + t->len, sizeof t->buf - 1 - t->len);
        if (n <= 0)
            return;
        t->len += (size_t)n;
        t->buf[t->len] = '\0';
    }
}

int
qlt_pty_wait(struct qlt_pty *t)
{
    time_t start = time(NULL);
    int status = 0;
    pid_t r;

    /* A command stuck at its prompt fails the test instead of hanging it. */
    while ((r = waitpid(t->pid, &status, WNOHANG)) == 0) {
        if (time(NULL) - start > 20) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, &status, 0);
            fail_msg("the command did not end; the terminal showed:\n%s",
                     t->buf);
        }
        poll(NULL, 0, 20);
    }
    if (r != t->pid)
        fail_msg("waiting for the terminal's command failed");
    return status;
}
