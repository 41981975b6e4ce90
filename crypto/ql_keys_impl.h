/*
 * Private to the ql_keys module (ql_keys.c, ql_keyfile.c): the body of
 * struct ql_key. Nothing outside those two files includes this.
 */
#ifndef QL_KEYS_IMPL_H
#define QL_KEYS_IMPL_H

#include "ql_keys.h"

struct ql_key {
    const struct ql_profile *profile;
    char name[QL_KEY_NAME_MAX + 1];
    uint8_t pk[QL_PK_MAX];
    size_t pk_len;
    uint32_t id; /* the note key ID for the profile's own key type */
    uint8_t *sk; /* sodium_malloc, ql_profile_sk_len bytes; NULL if public */
};

/*
 * Builds a key from a secret key's bytes (copied into guarded memory),
 * deriving and checking the public half. For key files.
 */
ql_err ql_key_from_secret(const struct ql_profile *p, const char *name,
                          const uint8_t *sk, size_t sk_len,
                          struct ql_key **out, struct ql_diag *d);

#endif
