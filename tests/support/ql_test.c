#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ql_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *
qlt_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);

    if (p == NULL)
        fail_msg("out of memory");
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *
qlt_data_path(const char *name)
{
    const char *dir = getenv("QL_TEST_DATA");

    return qlt_join(dir != NULL && *dir != '\0' ? dir : "tests/data", name);
}

char *
qlt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;

    if (f == NULL)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    for (;;) {
        if (n + 4097 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            if (buf == NULL)
                fail_msg("out of memory");
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

void
qlt_write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0)
        fail_msg("cannot create %s: %s", path, strerror(errno));
    if (write(fd, buf, len) != (ssize_t)len)
        fail_msg("cannot write %s", path);
    close(fd);
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t
qlt_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;

    while (hex[0] != '\0' && hex[1] != '\0') {
        int hi = hexval(hex[0]), lo = hexval(hex[1]);

        if (hi < 0 || lo < 0)
            break;
        if (n == cap)
            fail_msg("hex string longer than %zu bytes", cap);
        out[n++] = (uint8_t)(hi << 4 | lo);
        hex += 2;
    }
    return n;
}

char *
qlt_tempdir(void)
{
    const char *tmp = getenv("TMPDIR");
    char *tmpl = qlt_join(tmp != NULL && *tmp != '\0' ? tmp : "/tmp",
                          "qingling-test-XXXXXX");

    if (mkdtemp(tmpl) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    return tmpl;
}

void
qlt_rmtree(char *dir)
{
    pid_t pid;
    int status;

    if (dir == NULL)
        return;
    pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, &status, 0);
    free(dir);
}

uint64_t
qlt_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* Reads all of fd into a NUL-terminated buffer. */
static char *
drain(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ssize_t r;

    if (buf == NULL)
        fail_msg("out of memory");
    while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (n + 1 >= cap) {
            cap *= 2;
            if ((buf = realloc(buf, cap)) == NULL)
                fail_msg("out of memory");
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

void
qlt_exec(struct qlt_run *r, const char *const *argv, const char *const *env,
         const char *stdin_text)
{
    const char *bin = getenv("QINGLING_BIN");
    char *tmp_out = NULL, *tmp_err = NULL, *tmp_in = NULL;
    char *dir = qlt_tempdir();
    int fo, fe, fi, status;
    pid_t pid;

    if (bin == NULL || *bin == '\0')
        bin = "build/qingling";
    tmp_out = qlt_join(dir, "out");
    tmp_err = qlt_join(dir, "err");
    tmp_in = qlt_join(dir, "in");
    qlt_write_file(tmp_in, stdin_text ? stdin_text : "",
                   stdin_text ? strlen(stdin_text) : 0);
    pid = fork();
    if (pid < 0)
        fail_msg("fork failed");
    if (pid == 0) {
        const char *keep[] = {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"};
        char *envp[64];
        const char *args[64];
        size_t ne = 0, na = 0, i;

        for (i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            const char *v = getenv(keep[i]);

            if (v != NULL) {
                size_t n = strlen(keep[i]) + strlen(v) + 2;
                char *e = malloc(n);

                snprintf(e, n, "%s=%s", keep[i], v);
                envp[ne++] = e;
            }
        }
        for (i = 0; env != NULL && env[i] != NULL && ne < 62; i++)
            envp[ne++] = (char *)env[i];
        envp[ne] = NULL;
        args[na++] = bin;
        for (i = 0; argv[i] != NULL && na < 62; i++)
            args[na++] = argv[i];
        args[na] = NULL;
        fo = open(tmp_out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        fe = open(tmp_err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        fi = stdin_text ? open(tmp_in, O_RDONLY) : open("/dev/null", O_RDONLY);
        if (fo < 0 || fe < 0 || fi < 0)
            _exit(127);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execve(bin, (char *const *)args, envp);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status)
                                  : 128 + WTERMSIG(status);
    fo = open(tmp_out, O_RDONLY);
    fe = open(tmp_err, O_RDONLY);
    r->out = drain(fo, &r->out_len);
    r->err = drain(fe, &r->err_len);
    close(fo);
    close(fe);
    free(tmp_out);
    free(tmp_err);
    free(tmp_in);
    qlt_rmtree(dir);
}

/* Appends what fd has to *buf; false at its end. */
static bool
pipe_take(int fd, char **buf, size_t *len, size_t *cap)
{
    ssize_t r;

    if (*len + 4097 > *cap) {
        *cap = *cap ? *cap * 2 : 8192;
        if ((*buf = realloc(*buf, *cap)) == NULL)
            fail_msg("out of memory");
    }
    r = read(fd, *buf + *len, *cap - *len - 1);
    if (r <= 0)
        return false;
    *len += (size_t)r;
    return true;
}

void
qlt_exec_fsize(struct qlt_run *r, const char *const *argv,
               const char *const *env, const char *stdin_text,
               long long fsize)
{
    const char *bin = getenv("QINGLING_BIN");
    char *dir = qlt_tempdir();
    char *tmp_in = qlt_join(dir, "in");
    size_t out_cap = 0, err_cap = 0;
    int po[2], pe[2], status;
    pid_t pid;

    if (bin == NULL || *bin == '\0')
        bin = "build/qingling";
    qlt_write_file(tmp_in, stdin_text ? stdin_text : "",
                   stdin_text ? strlen(stdin_text) : 0);
    if (pipe(po) != 0 || pipe(pe) != 0)
        fail_msg("pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        fail_msg("fork failed");
    if (pid == 0) {
        const char *keep[] = {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"};
        struct rlimit rl;
        char *envp[64];
        const char *args[64];
        size_t ne = 0, na = 0, i;
        int fi;

        for (i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            const char *v = getenv(keep[i]);

            if (v != NULL) {
                size_t n = strlen(keep[i]) + strlen(v) + 2;
                char *e = malloc(n);

                if (e == NULL)
                    _exit(127);
                snprintf(e, n, "%s=%s", keep[i], v);
                envp[ne++] = e;
            }
        }
        for (i = 0; env != NULL && env[i] != NULL && ne < 62; i++)
            envp[ne++] = (char *)env[i];
        envp[ne] = NULL;
        args[na++] = bin;
        for (i = 0; argv[i] != NULL && na < 62; i++)
            args[na++] = argv[i];
        args[na] = NULL;
        fi = open(stdin_text ? tmp_in : "/dev/null", O_RDONLY);
        if (fi < 0)
            _exit(127);
        dup2(fi, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        /* An ignored signal stays ignored across exec. */
        signal(SIGXFSZ, SIG_IGN);
        rl.rlim_cur = rl.rlim_max = (rlim_t)fsize;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(127);
        execve(bin, (char *const *)args, envp);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    memset(r, 0, sizeof *r);
    {
        struct pollfd pf[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
        int open_fds = 2;

        while (open_fds > 0) {
            if (poll(pf, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                fail_msg("poll: %s", strerror(errno));
            }
            if (pf[0].fd >= 0 && pf[0].revents != 0 &&
                !pipe_take(pf[0].fd, &r->out, &r->out_len, &out_cap)) {
                close(pf[0].fd);
                pf[0].fd = -1;
                open_fds--;
            }
            if (pf[1].fd >= 0 && pf[1].revents != 0 &&
                !pipe_take(pf[1].fd, &r->err, &r->err_len, &err_cap)) {
                close(pf[1].fd);
                pf[1].fd = -1;
                open_fds--;
            }
        }
    }
    waitpid(pid, &status, 0);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status)
                                  : 128 + WTERMSIG(status);
    if (r->out == NULL && (r->out = malloc(1)) == NULL)
        fail_msg("out of memory");
    if (r->err == NULL && (r->err = malloc(1)) == NULL)
        fail_msg("out of memory");
    r->out[r->out_len] = '\0';
    r->err[r->err_len] = '\0';
    free(tmp_in);
    qlt_rmtree(dir);
}

void
qlt_run_free(struct qlt_run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

uint64_t
qlt_file_hash(const char *path)
{
    size_t len, i;
    char *buf = qlt_read_file(path, &len);
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)buf[i];
        h *= 1099511628211ull;
    }
    free(buf);
    return h;
}
