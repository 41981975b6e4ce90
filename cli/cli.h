/*
 * cli: the qingling command. The only code that reads argv, prompts,
 * prints and exits. Each command lives in cmd_<name>.c and is listed in
 * the table in main.c.
 */
#ifndef QL_CLI_H
#define QL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ql_err.h"

struct ql_county;
struct ql_key;

/* Exit codes (DESIGN.md section 9). */
enum {
    EXIT_OK = 0,
    EXIT_NO = 1,        /* a negative answer: status --check */
    EXIT_USAGE = 2,     /* the command line is wrong */
    EXIT_REFUSED = 3,   /* permission, guard, workflow rule */
    EXIT_BADINPUT = 4,  /* the data given is wrong */
    EXIT_INTEGRITY = 5, /* a signature, proof or log does not verify */
    EXIT_ENV = 6,       /* store busy or unreadable, disk full, I/O */
};

/* What every command shares: global options and what they open. */
struct cli {
    const char *db;       /* --db or QINGLING_DB */
    const char *key_path; /* --key or QINGLING_KEY */
    bool json;            /* --json */
    bool now_set;
    int64_t now;          /* QINGLING_NOW, else the system clock */
    struct ql_key *key;   /* the acting key, once loaded */
    struct ql_county *county;
};

/* Command flags. */
#define CMD_NEEDS_STORE 0x1u /* opens --db before running */
#define CMD_NEEDS_KEY 0x2u   /* loads --key before running */
#define CMD_READONLY 0x4u    /* the store is only read */
#define CMD_OWN_HELP 0x8u    /* the command answers --help per subcommand */

struct cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv, struct cli *cli);
    const char *usage;   /* word for word the man page synopsis */
    const char *summary; /* one line for `qingling --help` */
    unsigned flags;
};

/* The commands, one file each (cmd_<name>.c). */
int cmd_audit(int argc, char **argv, struct cli *cli);
int cmd_backup(int argc, char **argv, struct cli *cli);
int cmd_calendar(int argc, char **argv, struct cli *cli);
int cmd_commit(int argc, char **argv, struct cli *cli);
int cmd_init(int argc, char **argv, struct cli *cli);
int cmd_key(int argc, char **argv, struct cli *cli);
int cmd_lead(int argc, char **argv, struct cli *cli);
int cmd_principal(int argc, char **argv, struct cli *cli);
int cmd_report(int argc, char **argv, struct cli *cli);
int cmd_status(int argc, char **argv, struct cli *cli);
int cmd_unit(int argc, char **argv, struct cli *cli);
int cmd_workflow(int argc, char **argv, struct cli *cli);
/* `qingling lead import` (lead_import.c); argv[0] is "import". */
int lead_import(int argc, char **argv, struct cli *cli);
/* `qingling lead spotcheck` (cmd_commit.c); argv[0] is "spotcheck". */
int lead_spotcheck(int argc, char **argv, struct cli *cli);

/* The status as one JSON object and a newline (cmd_status.c). */
struct ql_status;
void cli_status_json(FILE *f, const struct ql_status *st);
/* A rate as "num/den  p.p%", or "-" when den is 0 (cmd_status.c). */
void cli_status_rate(char *buf, size_t size, size_t num, size_t den);

/* The command table, sorted by name, and its length (main.c). */
extern const struct cli_cmd cli_commands[];
extern const size_t cli_ncommands;

/* Maps an error code to its exit code. */
int cli_exit_code(ql_err code);

/* Prints "qingling: <message>" to stderr; returns the exit code. */
int cli_error(int exit_code, const char *fmt, ...) QL_PRINTF(2, 3);

/* Prints the diagnostic and returns the exit code for its class. */
int cli_fail(const struct ql_diag *d);

/* Prints a usage error with the command's synopsis; returns EXIT_USAGE. */
int cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
    QL_PRINTF(2, 3);

/*
 * The usage error for what getopt_long returned as opt ('?' or ':', with
 * opterr 0 and an option string that starts with ':'): the option's name,
 * never a value given with it. Returns EXIT_USAGE.
 */
int cli_option_error(const struct cli_cmd *cmd, int opt, int argc,
                     char **argv);

/* The table entry for name, or NULL. */
const struct cli_cmd *cli_find(const char *name);

/*
 * Loads the acting key (--key / QINGLING_KEY), asking for its passphrase
 * when the file is encrypted: from QINGLING_PASSPHRASE_FILE, else from the
 * terminal without echo. Returns an exit code.
 */
int cli_load_key(struct cli *cli);

/* Opens the store (--db / QINGLING_DB) and sets the clock and actor. */
int cli_open_county(struct cli *cli, bool readonly);

/*
 * Reads a passphrase (prompt on the terminal, or the file named by
 * QINGLING_PASSPHRASE_FILE) into guarded memory; confirm asks twice.
 * *pass is freed with cli_passphrase_free. Returns an exit code.
 */
int cli_passphrase(const char *prompt, bool confirm, char **pass,
                   size_t *len);
void cli_passphrase_free(char *pass);

/* Reads a whole file (or "-" for stdin) into a NUL-terminated buffer. */
int cli_read_file(const char *path, size_t max, char **out, size_t *len);

/* True when stdout (or stdin) is a terminal. */
bool cli_stdout_tty(void);
bool cli_stdin_tty(void);

/* ---- JSON output ---- */

/* Writes s as a JSON string, escaped; UTF-8 passes through. */
void cli_json_str(FILE *f, const char *s);
/* Writes "key": "value" with a leading comma unless first. */
void cli_json_kv(FILE *f, bool *first, const char *key, const char *value);
void cli_json_ki(FILE *f, bool *first, const char *key, long long value);
void cli_json_kb(FILE *f, bool *first, const char *key, bool value);

/* ---- text tables ---- */

/* The number of terminal columns s takes (CJK characters take two). */
size_t cli_width(const char *s);
/* Prints s padded with spaces to width columns. */
void cli_pad(FILE *f, const char *s, size_t width);

#endif
