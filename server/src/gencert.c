/* `ventrad gen-cert` (see gencert.h), on OpenSSL 3. Development only: a
 * deployment uses a certificate its clients trust (WIRE-6). */
#include "gencert.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static bool add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return false;
    bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

vt_err vtd_gen_cert(const char *cert_path, const char *key_path)
{
    vt_err err = VT_ERR_CRYPTO;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    FILE *f = NULL;
    if (!key || !cert)
        goto out;
    ASN1_INTEGER_set(X509_get_serialNumber(cert), (long)time(NULL));
    X509_set_version(cert, 2);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               (const unsigned char *)"ventrad development", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    if (!add_ext(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") ||
        !add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") ||
        X509_sign(cert, key, EVP_sha256()) == 0)
        goto out;
    err = VT_ERR_IO;
    int fd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd);
        goto out;
    }
    if (!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
        goto out;
    fclose(f);
    f = fopen(cert_path, "w");
    if (!f || !PEM_write_X509(f, cert))
        goto out;
    err = VT_OK;
out:
    if (f)
        fclose(f);
    if (err != VT_OK)
        fprintf(stderr, "ventrad: gen-cert failed (%s)\n", vt_strerror(err));
    else
        printf("wrote %s and %s\n", cert_path, key_path);
    X509_free(cert);
    EVP_PKEY_free(key);
    return err;
}
