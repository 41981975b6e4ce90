/*
 * The command table, `--help` and the man page agree: every command listed
 * by `qingling --help` is in name order, prints its usage with `--help`,
 * and every line of that usage is in the man page's synopsis; every
 * synopsis line belongs to a command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_test.h"

/* The man page's synopsis lines, with roff's "\-" read as "-". */
static char *
synopsis(void)
{
    char *path = qlt_data_path("../../docs/qingling.1");
    char *page = qlt_read_file(path, NULL), *start, *end, *out, *o;
    const char *p;

    free(path);
    start = strstr(page, ".SH SYNOPSIS\n.nf\n");
    assert_non_null(start);
    start += strlen(".SH SYNOPSIS\n.nf\n");
    end = strstr(start, "\n.fi\n");
    assert_non_null(end);
    out = o = malloc((size_t)(end - start) + 2);
    for (p = start; p < end; p++) {
        if (p[0] == '\\' && p[1] == '-') {
            *o++ = '-';
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\n';
    *o = '\0';
    free(page);
    return out;
}

/* True when line (len bytes) is a whole line of text. */
static bool
has_line(const char *text, const char *line, size_t len)
{
    const char *p;

    for (p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);

        if (n == len && memcmp(p, line, len) == 0)
            return true;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return false;
}

static void
test_table_help_and_man_agree(void **state)
{
    const char *const help[] = {"--help", NULL};
    struct qlt_run r;
    char *syn = synopsis(), *p, prev[32] = "";
    int commands = 0, covered = 0;

    (void)state;
    qlt_exec(&r, help, NULL, NULL);
    assert_int_equal(r.status, 0);
    p = strstr(r.out, "commands:\n");
    assert_non_null(p);
    p += strlen("commands:\n");
    while (strncmp(p, "  ", 2) == 0) {
        char name[32], arg_help[] = "--help";
        const char *argv[3];
        struct qlt_run c;
        char *u, *line;

        assert_int_equal(sscanf(p, " %31s", name), 1);
        print_message("command %s\n", name);
        /* The table is sorted by name. */
        assert_true(strcmp(prev, name) < 0);
        snprintf(prev, sizeof prev, "%s", name);
        argv[0] = name;
        argv[1] = arg_help;
        argv[2] = NULL;
        qlt_exec(&c, argv, NULL, NULL);
        assert_int_equal(c.status, 0);
        assert_true(strncmp(c.out, "usage: ", 7) == 0);
        /* Each line of the usage stands in the synopsis, word for word. */
        for (u = c.out + 7; *u != '\0'; u = line + 1) {
            size_t n;

            while (*u == ' ')
                u++;
            line = strchr(u, '\n');
            assert_non_null(line);
            n = (size_t)(line - u);
            if (!has_line(syn, u, n))
                fail_msg("'%.*s' is not in the man page", (int)n, u);
            covered++;
        }
        qlt_run_free(&c);
        commands++;
        p = strchr(p, '\n') + 1;
    }
    assert_true(commands >= 9);
    /* And the synopsis has no line that no command prints. */
    {
        int lines = 0;

        for (p = syn; (p = strstr(p, "\nqingling ")) != NULL; p++)
            lines++;
        /* The first line is the global form, not a command's. */
        assert_int_equal(lines, covered);
    }
    qlt_run_free(&r);
    free(syn);
}

static void
test_unknown_command_and_bare_call(void **state)
{
    const char *const nope[] = {"frobnicate", NULL};
    const char *const none[] = {NULL};
    struct qlt_run r;

    (void)state;
    qlt_exec(&r, nope, NULL, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "unknown command 'frobnicate'"));
    assert_string_equal(r.out, "");
    qlt_run_free(&r);
    qlt_exec(&r, none, NULL, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "usage: qingling"));
    qlt_run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_help_and_man_agree),
        cmocka_unit_test(test_unknown_command_and_bare_call),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
