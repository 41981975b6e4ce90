/*
 * Driving the qingling binary on a pseudo-terminal, as a person at a
 * terminal would: prompts, typed answers, control characters.
 */
#ifndef QLT_PTY_H
#define QLT_PTY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct qlt_pty {
    int fd;    /* the terminal's master side */
    pid_t pid; /* the command */
    char buf[16384];
    size_t len, seen; /* shown so far; matched by qlt_pty_expect so far */
};

/*
 * Runs the qingling binary ($QINGLING_BIN, default build/qingling) with
 * argv (NULL-terminated, without the program name) and exactly the
 * environment envp, on a new pseudo-terminal that is its controlling
 * terminal. child, when not NULL, runs in the child before the binary
 * (to change accounts, say); it returns false to make the child exit 126.
 */
void qlt_pty_start(struct qlt_pty *t, const char *const *argv,
                   const char *const *envp, bool (*child)(void));

/* Reads what the terminal shows until want appears past what an earlier
   call matched; fails the test after 20 seconds or at the end. */
void qlt_pty_expect(struct qlt_pty *t, const char *want);

/* Types text (control characters included) at the terminal. */
void qlt_pty_say(struct qlt_pty *t, const char *text);

/* Reads the rest of what the terminal shows until the command ends. */
void qlt_pty_drain(struct qlt_pty *t);

/* Waits for the command (20 seconds at most, then kills it and fails
   the test) and returns its wait status; the terminal stays open for its
   settings to be read (close t->fd after). */
int qlt_pty_wait(struct qlt_pty *t);

#endif
