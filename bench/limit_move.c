/*
 * The limit of row 2: a whole process that does only what one
 * interactive write cannot avoid. It starts (linked against libsodium and
 * SQLite alone), reads a 32-byte signing seed from a file, opens the
 * SQLite file, signs one entry-sized text with Ed25519 and commits it
 * durably (WAL, synchronous=FULL) as the next row of a log table.
 *
 * It keeps the WAL file between processes and skips SQLite's checkpoint
 * on close: a checkpoint is deferred work that SQLite's automatic
 * checkpoints spread over many commits, not work one write must wait for.
 *
 * usage: limit_move DB SEEDFILE SIZE
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

/* The largest text it signs. */
#define SIZE_MAX_TEXT 65536

static int
fail(const char *what, sqlite3 *db)
{
    fprintf(stderr, "limit_move: %s: %s\n", what,
            db ? sqlite3_errmsg(db) : "failed");
    return 1;
}

int
main(int argc, char **argv)
{
    static unsigned char text[SIZE_MAX_TEXT];
    unsigned char seed[32], pk[32], sk[64], sig[64];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long size;
    char *end;
    int fd, one = 1, rc = 1;
    sqlite3_int64 next = 0;

    if (argc != 4)
        return fail("usage: limit_move DB SEEDFILE SIZE", NULL);
    size = strtol(argv[3], &end, 10);
    if (*end != '\0' || size < 64 || size > SIZE_MAX_TEXT)
        return fail("SIZE", NULL);
    if (sodium_init() < 0)
        return fail("sodium_init", NULL);
    fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, seed, sizeof seed) != (ssize_t)sizeof seed)
        return fail("seed", NULL);
    close(fd);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) !=
        SQLITE_OK)
        goto out;
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
    if (sqlite3_exec(db, "PRAGMA synchronous=FULL; BEGIN IMMEDIATE", NULL,
                     NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT coalesce(max(idx), -1) + 1 FROM e",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto out;
    next = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    /* The text carries its index, as an entry does. */
    memset(text, 'x', (size_t)size);
    snprintf((char *)text, 32, "index %lld\n", (long long)next);
    crypto_sign_detached(sig, NULL, text, (unsigned long long)size, sk);
    if (sqlite3_prepare_v2(db, "INSERT INTO e VALUES (?1, ?2, ?3)", -1, &st,
                           NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, next);
    sqlite3_bind_blob(st, 2, text, (int)size, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, sig, sizeof sig, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        fail("write", db);
    sqlite3_finalize(st);
    sqlite3_close(db);
    sodium_memzero(sk, sizeof sk);
    return rc;
}
