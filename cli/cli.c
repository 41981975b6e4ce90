/* What every command shares: errors, keys, the store, output helpers. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "ql_county.h"
#include "ql_keys.h"
#include "ql_profile.h"
#include "ql_store.h"

int
cli_exit_code(ql_err code)
{
    switch (code) {
    case QL_OK:
        return EXIT_OK;
    case QL_EUSAGE:
        return EXIT_USAGE;
    case QL_EDENIED:
    case QL_ERULE:
        return EXIT_REFUSED;
    case QL_EFORMAT:
    case QL_ETOOBIG:
    case QL_EPASS:
    case QL_EDAMAGED:
    case QL_EEXIST:
    case QL_ENOTFOUND:
    case QL_ESCRIPT:
    case QL_EUNSUPPORTED:
        return EXIT_BADINPUT;
    case QL_EVERIFY:
    case QL_EINTEGRITY:
        return EXIT_INTEGRITY;
    case QL_ENOMEM:
    case QL_EIO:
    case QL_EBUSY:
    case QL_ESTORE:
    case QL_ECRYPTO:
    case QL_EFULL:
        return EXIT_ENV;
    }
    return EXIT_ENV;
}

int
cli_error(int exit_code, const char *fmt, ...)
{
    va_list ap;

    fputs("qingling: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return exit_code;
}

int
cli_fail(const struct ql_diag *d)
{
    return cli_error(cli_exit_code(d->code), "%s",
                     d->msg[0] ? d->msg : ql_strerror(d->code));
}

int
cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;

    fputs("qingling: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd != NULL)
        fprintf(stderr, "\nusage: %s", cmd->usage);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

int
cli_option_error(const struct cli_cmd *cmd, int opt, int argc, char **argv)
{
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    const char *eq = strchr(arg, '=');
    int len = eq != NULL ? (int)(eq - arg) : (int)strnlen(arg, 64);

    /* Only the option's name: a value after '=' may be anything. */
    if (opt == ':')
        return cli_usage(cmd, "option '%.*s' needs a value", len, arg);
    if (optopt != 0 && strncmp(arg, "--", 2) != 0)
        return cli_usage(cmd, "unknown option '-%c'", optopt);
    return cli_usage(cmd, "unknown option '%.*s'", len, arg);
}

bool
cli_stdout_tty(void)
{
    return isatty(STDOUT_FILENO) == 1;
}

bool
cli_stdin_tty(void)
{
    return isatty(STDIN_FILENO) == 1;
}

int
cli_read_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = NULL, *grown;
    size_t n = 0, cap = 0, got;

    if (f == NULL)
        return cli_error(EXIT_BADINPUT, "cannot open '%s': %s", path,
                         strerror(errno));
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if ((grown = realloc(buf, cap)) == NULL) {
                free(buf);
                if (f != stdin)
                    fclose(f);
                return cli_error(EXIT_ENV, "out of memory reading '%s'",
                                 path);
            }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > max) {
            free(buf);
            if (f != stdin)
                fclose(f);
            return cli_error(EXIT_BADINPUT, "'%s' is larger than %zu bytes",
                             path, max);
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        if (f != stdin)
            fclose(f);
        return cli_error(EXIT_BADINPUT, "cannot read '%s'", path);
    }
    if (f != stdin)
        fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return EXIT_OK;
}

/* Passphrases live in guarded memory, wiped when released. */
static char *
secret_alloc(size_t n)
{
    return ql_secret_alloc(n);
}

void
cli_passphrase_free(char *pass)
{
    ql_secret_free(pass);
}

/* Reads one line from fd into buf (cap bytes), without the newline. */
static int
read_line(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    char ch;
    ssize_t r;

    while ((r = read(fd, &ch, 1)) == 1 && ch != '\n') {
        if (n + 1 >= cap)
            return -1;
        buf[n++] = ch;
    }
    if (r < 0)
        return -1;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return 0;
}

/* Zeroes n bytes at p through a volatile pointer no compiler drops. */
static void
wipe(char *p, size_t n)
{
    volatile char *v = p;

    while (n-- > 0)
        *v++ = '\0';
}

/* The signal that interrupted a prompt, for prompt_tty to act on. */
static volatile sig_atomic_t prompt_signal;

static void
on_prompt_signal(int sig)
{
    prompt_signal = sig;
}

/* Signals that end a process at a prompt: each must give echo back. */
static const int PROMPT_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NPROMPT_SIGNALS (sizeof PROMPT_SIGNALS / sizeof PROMPT_SIGNALS[0])

/*
 * Reads one line from the terminal fd like read_line, waiting for each
 * byte with pselect so that the prompt's signals, blocked everywhere else,
 * can arrive only while it waits: one that arrives ends the wait, however
 * early it came. -1 with prompt_signal set when one did.
 */
static int
read_tty_line(int fd, char *buf, size_t cap, size_t *len,
              const sigset_t *waiting)
{
    size_t n = 0;
    char ch;

    for (;;) {
        fd_set in;
        ssize_t r;

        FD_ZERO(&in);
        FD_SET(fd, &in);
        if (pselect(fd + 1, &in, NULL, NULL, NULL, waiting) < 0) {
            if (errno == EINTR && prompt_signal == 0)
                continue;
            return -1;
        }
        if ((r = read(fd, &ch, 1)) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        if (r == 0 || ch == '\n')
            break;
        if (n + 1 >= cap)
            return -1;
        buf[n++] = ch;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return 0;
}

/*
 * Asks for a line on the terminal without echo. Echo goes off before the
 * prompt appears, so that nothing typed once it shows is ever echoed (and
 * what was typed ahead is discarded); a terminal that keeps echoing is
 * refused rather than trusted. A signal that would end the process (Ctrl-C
 * at the prompt) first gives the terminal its echo back and wipes what was
 * typed, then ends it as the signal would have.
 */
static int
prompt_tty(const char *prompt, char *buf, size_t cap, size_t *len)
{
    struct sigaction catch, saved[NPROMPT_SIGNALS];
    struct termios old, quiet;
    sigset_t block, waiting;
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    size_t i;
    int rc, sig;

    if (fd < 0)
        return -1;
    if (tcgetattr(fd, &old) != 0) {
        close(fd);
        return -1;
    }
    memset(&catch, 0, sizeof catch);
    catch.sa_handler = on_prompt_signal;
    sigemptyset(&catch.sa_mask);
    sigemptyset(&block);
    for (i = 0; i < NPROMPT_SIGNALS; i++)
        sigaddset(&block, PROMPT_SIGNALS[i]);
    /* Held back until the wait for input, which lets them in. */
    sigprocmask(SIG_BLOCK, &block, &waiting);
    prompt_signal = 0;
    for (i = 0; i < NPROMPT_SIGNALS; i++)
        sigaction(PROMPT_SIGNALS[i], &catch, &saved[i]);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0 ||
        tcgetattr(fd, &quiet) != 0 || (quiet.c_lflag & ECHO) != 0 ||
        write(fd, prompt, strlen(prompt)) < 0)
        rc = -1;
    else
        rc = read_tty_line(fd, buf, cap, len, &waiting);
    tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0)
        rc = -1;
    close(fd);
    for (i = 0; i < NPROMPT_SIGNALS; i++)
        sigaction(PROMPT_SIGNALS[i], &saved[i], NULL);
    sigprocmask(SIG_SETMASK, &waiting, NULL);
    if ((sig = prompt_signal) != 0) {
        wipe(buf, cap);
        /* Ends the process unless the signal was ignored before. */
        raise(sig);
        return -1;
    }
    return rc;
}

/*
 * A passphrase file is as secret as the key it opens, and held to the
 * same rule as a key file: a regular file of this account's own that no
 * one else may read or write.
 */
static int
passphrase_file_ok(int fd, const char *file)
{
    struct stat sb;

    if (fstat(fd, &sb) != 0)
        return cli_error(EXIT_BADINPUT, "cannot stat the passphrase file "
                                        "'%s': %s",
                         file, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return cli_error(EXIT_BADINPUT, "the passphrase file '%s' is not a "
                                        "regular file",
                         file);
    if ((sb.st_mode & (S_IRGRP | S_IROTH)) != 0)
        return cli_error(EXIT_REFUSED, "the passphrase file '%s' is "
                                       "readable by others; chmod 600 it",
                         file);
    if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return cli_error(EXIT_REFUSED, "the passphrase file '%s' is "
                                       "writable by others; chmod 600 it",
                         file);
    if (sb.st_uid != geteuid())
        return cli_error(EXIT_REFUSED, "the passphrase file '%s' belongs to "
                                       "another account (uid %lu)",
                         file, (unsigned long)sb.st_uid);
    return EXIT_OK;
}

int
cli_passphrase(const char *prompt, bool confirm, char **pass, size_t *len)
{
    const char *file = getenv("QINGLING_PASSPHRASE_FILE");
    char *a = secret_alloc(QL_PASSPHRASE_MAX + 2);
    char *b = NULL;
    size_t alen = 0, blen = 0;
    int fd;

    if (a == NULL)
        return cli_error(EXIT_ENV, "out of memory");
    if (file != NULL && *file != '\0') {
        int ex;

        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
            cli_passphrase_free(a);
            return cli_error(EXIT_BADINPUT,
                             "cannot open QINGLING_PASSPHRASE_FILE '%s': %s",
                             file, strerror(errno));
        }
        if ((ex = passphrase_file_ok(fd, file)) != EXIT_OK) {
            close(fd);
            cli_passphrase_free(a);
            return ex;
        }
        if (read_line(fd, a, QL_PASSPHRASE_MAX + 2, &alen) != 0) {
            close(fd);
            cli_passphrase_free(a);
            return cli_error(EXIT_BADINPUT, "the passphrase file '%s' is "
                                            "unreadable or too long",
                             file);
        }
        close(fd);
    } else {
        if (prompt_tty(prompt, a, QL_PASSPHRASE_MAX + 2, &alen) != 0) {
            cli_passphrase_free(a);
            return cli_error(EXIT_USAGE,
                             "a passphrase is needed and there is no "
                             "terminal: set QINGLING_PASSPHRASE_FILE");
        }
        if (confirm) {
            b = secret_alloc(QL_PASSPHRASE_MAX + 2);
            if (b == NULL ||
                prompt_tty("Repeat passphrase: ", b, QL_PASSPHRASE_MAX + 2,
                           &blen) != 0 ||
                blen != alen || memcmp(a, b, alen) != 0) {
                cli_passphrase_free(a);
                cli_passphrase_free(b);
                return cli_error(EXIT_BADINPUT,
                                 "the passphrases do not match");
            }
            cli_passphrase_free(b);
        }
    }
    if (alen == 0) {
        cli_passphrase_free(a);
        return cli_error(EXIT_BADINPUT, "the passphrase is empty");
    }
    *pass = a;
    *len = alen;
    return EXIT_OK;
}

int
cli_load_key(struct cli *cli)
{
    struct ql_diag d;
    char *pass = NULL;
    size_t plen = 0;
    ql_err rc;
    int ex;

    if (cli->key != NULL)
        return EXIT_OK;
    if (cli->key_path == NULL || *cli->key_path == '\0')
        return cli_error(EXIT_USAGE, "no key given: use --key FILE or "
                                     "QINGLING_KEY");
    /*
     * A file without a passphrase is read once. Without a passphrase, an
     * encrypted one is refused with QL_EPASS before any key derivation,
     * after the same access and format checks, and read again once the
     * passphrase is asked for.
     */
    ql_diag_clear(&d);
    rc = ql_keyfile_read(cli->key_path, NULL, 0, &cli->key, &d);
    if (rc == QL_EPASS) {
        if ((ex = cli_passphrase("Passphrase for key: ", false, &pass,
                                 &plen)) != EXIT_OK)
            return ex;
        ql_diag_clear(&d);
        rc = ql_keyfile_read(cli->key_path, pass, plen, &cli->key, &d);
        cli_passphrase_free(pass);
    }
    if (rc != QL_OK)
        return cli_fail(&d);
    return EXIT_OK;
}

int
cli_open_county(struct cli *cli, bool readonly)
{
    struct ql_diag d;

    if (cli->county != NULL)
        return EXIT_OK;
    if (cli->db == NULL || *cli->db == '\0')
        return cli_error(EXIT_USAGE, "no store given: use --db PATH or "
                                     "QINGLING_DB");
    ql_diag_clear(&d);
    if (ql_county_open(cli->db, readonly ? QL_COUNTY_READONLY : 0,
                       &cli->county, &d) != QL_OK)
        return cli_fail(&d);
    {
        const char *busy = getenv("QINGLING_BUSY_TIMEOUT");
        char *end = NULL;
        long ms;

        if (busy != NULL && *busy != '\0') {
            ms = strtol(busy, &end, 10);
            if (*end != '\0' || ms < 0 || ms > 3600000)
                return cli_error(EXIT_USAGE,
                                 "QINGLING_BUSY_TIMEOUT must be 0 to 3600000 "
                                 "milliseconds");
            ql_store_set_busy_timeout(ql_county_store(cli->county), (int)ms);
        }
    }
    if (cli->now_set)
        ql_county_set_now(cli->county, cli->now);
    if (cli->key != NULL)
        ql_county_set_actor(cli->county, cli->key);
    return EXIT_OK;
}

/* ---- JSON ---- */

void
cli_json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    fputc('"', f);
    for (; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void
json_key(FILE *f, bool *first, const char *key)
{
    if (!*first)
        fputc(',', f);
    *first = false;
    cli_json_str(f, key);
    fputc(':', f);
}

void
cli_json_kv(FILE *f, bool *first, const char *key, const char *value)
{
    json_key(f, first, key);
    if (value == NULL)
        fputs("null", f);
    else
        cli_json_str(f, value);
}

void
cli_json_ki(FILE *f, bool *first, const char *key, long long value)
{
    json_key(f, first, key);
    fprintf(f, "%lld", value);
}

void
cli_json_kb(FILE *f, bool *first, const char *key, bool value)
{
    json_key(f, first, key);
    fputs(value ? "true" : "false", f);
}

/* ---- widths ---- */

static bool
wide(uint32_t c)
{
    return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) ||
           (c >= 0x3041 && c <= 0x33FF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
           (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
           (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x20000 && c <= 0x3FFFD);
}

size_t
cli_width(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0;

    while (*p != '\0') {
        uint32_t c;
        int n;

        if (*p < 0x80) {
            c = *p;
            n = 1;
        } else if ((*p & 0xE0) == 0xC0) {
            c = *p & 0x1F;
            n = 2;
        } else if ((*p & 0xF0) == 0xE0) {
            c = *p & 0x0F;
            n = 3;
        } else {
            c = *p & 0x07;
            n = 4;
        }
        for (int i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                n = i;
                break;
            }
            c = c << 6 | (p[i] & 0x3F);
        }
        w += wide(c) ? 2 : 1;
        p += n;
    }
    return w;
}

void
cli_pad(FILE *f, const char *s, size_t width)
{
    size_t w = cli_width(s);

    fputs(s, f);
    while (w++ < width)
        fputc(' ', f);
}
