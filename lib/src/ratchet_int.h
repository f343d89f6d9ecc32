/* Private layout of a Double Ratchet session, shared by ratchet.c and
 * ratchet_serial.c. The variables are those of spec/crypto.md 6.1. */
#ifndef VENTRA_RATCHET_INT_H
#define VENTRA_RATCHET_INT_H

#include <stdint.h>

#include "ventra/ratchet.h"

/* The fixed-size part of the state: what a decryption attempt copies into
 * its scratch space and writes back only on commit (CRYPTO-97). */
typedef struct vt_ratchet_core {
    uint8_t role; /* vt_ratchet_role */
    uint8_t confirmed;
    uint8_t has_dhr, has_cks, has_ckr;
    uint8_t ad[VT_RATCHET_AD_LEN];
    uint8_t base_key[32];
    uint32_t spk_id, otk_id, lr_id; /* initiator's X3DH fields (CRYPTO-61) */
    uint8_t dhs_pub[32], dhs_priv[32];
    uint8_t dhr[32];
    uint8_t rk[32], cks[32], ckr[32];
    uint32_t ns, nr, pn;
} vt_ratchet_core;

struct vt_ratchet {
    vt_ratchet_core c;
    /* MKSKIPPED, oldest first; sodium_malloc'd, grown on demand up to
     * MAX_SKIPPED_KEYS entries, unused tail kept zero. */
    vt_ratchet_skipped *sk;
    size_t sk_len, sk_cap;
};

/* Allocates an empty session (all zero). NULL on allocation failure. */
vt_ratchet *vt_ratchet_alloc_int(void);
/* Makes room for |want| (<= MAX_SKIPPED_KEYS) skipped keys; the stored keys
 * are unchanged. VT_ERR_NO_MEMORY. */
vt_err vt_ratchet_reserve_int(vt_ratchet *r, size_t want);

#endif
