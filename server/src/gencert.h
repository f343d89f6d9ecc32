/* `ventrad gen-cert`: a self-signed TLS certificate for development. */
#ifndef VTD_GENCERT_H
#define VTD_GENCERT_H

#include "ventra/err.h"

/* Writes a P-256 key (mode 0600) to |key_path| and a self-signed
 * certificate for localhost, 127.0.0.1 and ::1, valid for 365 days, to
 * |cert_path|, both PEM. Errors: VT_ERR_IO, VT_ERR_CRYPTO. */
vt_err vtd_gen_cert(const char *cert_path, const char *key_path);

#endif
