// Certificates the TLS tests make for themselves, with OpenSSL, once per process: a CA, a
// server certificate it signed for localhost and 127.0.0.1, one for another name, one that
// expired, and a self-signed one. Keys are P-256. The CA is written to a file for ca_file.
#ifndef IDEM_TEST_SUPPORT_TLS_CERTS_HPP
#define IDEM_TEST_SUPPORT_TLS_CERTS_HPP

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace idem_test {

struct key_and_cert {
    EVP_PKEY* key = nullptr;
    X509* cert = nullptr;
};

namespace detail {

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) std::abort();
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

// A certificate for `cn` with `san` (or a CA), valid from `from` to `to` seconds from now,
// signed by `issuer` (itself when null).
inline key_and_cert make_cert(const char* cn, const char* san, bool ca, long from, long to,
                              const key_and_cert* issuer) {
    static long serial = 1;
    key_and_cert k;
    k.key = EVP_EC_gen("P-256");
    k.cert = X509_new();
    if (k.key == nullptr || k.cert == nullptr) std::abort();
    X509_set_version(k.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(k.cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(k.cert), from);
    X509_gmtime_adj(X509_getm_notAfter(k.cert), to);
    X509_set_pubkey(k.cert, k.key);
    X509_NAME* name = X509_get_subject_name(k.cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509* signer = issuer ? issuer->cert : k.cert;
    X509_set_issuer_name(k.cert, X509_get_subject_name(signer));
    add_ext(k.cert, signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    add_ext(k.cert, signer, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    add_ext(k.cert, signer, NID_subject_key_identifier, "hash");
    if (!ca) add_ext(k.cert, signer, NID_ext_key_usage, "serverAuth");
    if (san != nullptr) add_ext(k.cert, signer, NID_subject_alt_name, san);
    if (X509_sign(k.cert, issuer ? issuer->key : k.key, EVP_sha256()) == 0) std::abort();
    return k;
}

} // namespace detail

struct test_certs {
    key_and_cert ca, good, wrong_name, expired, self_signed;
    std::string ca_file; // PEM of `ca`

    static const test_certs& get() {
        static const test_certs c;
        return c;
    }

private:
    test_certs() {
        const long day = 24 * 3600;
        ca = detail::make_cert("idem test CA", nullptr, true, -day, 30 * day, nullptr);
        good = detail::make_cert("localhost", "DNS:localhost,IP:127.0.0.1,IP:::1", false, -day, 30 * day, &ca);
        wrong_name = detail::make_cert("elsewhere.example", "DNS:elsewhere.example", false, -day, 30 * day, &ca);
        expired = detail::make_cert("localhost", "DNS:localhost,IP:127.0.0.1", false, -3 * day, -day, &ca);
        self_signed = detail::make_cert("localhost", "DNS:localhost,IP:127.0.0.1", false, -day, 30 * day, nullptr);
        const char* dir = std::getenv("TMPDIR");
        ca_file = std::string(dir && *dir ? dir : "/tmp") + "/idem-test-ca-" + std::to_string(::getpid()) + ".pem";
        FILE* f = std::fopen(ca_file.c_str(), "w");
        if (f == nullptr || PEM_write_X509(f, ca.cert) != 1) std::abort();
        std::fclose(f);
    }
    ~test_certs() {
        std::remove(ca_file.c_str());
        for (key_and_cert* k : {&ca, &good, &wrong_name, &expired, &self_signed}) {
            X509_free(k->cert);
            EVP_PKEY_free(k->key);
        }
    }
};

} // namespace idem_test

#endif
