#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ql_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
