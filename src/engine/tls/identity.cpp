/// The server's ephemeral identity: a P-256 key and a self-signed certificate, in memory only.
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include "engine/tls/context.hpp"
#include "engine/tls/tls.hpp"

namespace kp::engine::tls {

std::string fingerprint_of(const x509_st* cert) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
    std::string hex;
    hex.reserve(2 * len);
    for (unsigned int i = 0; i < len; ++i)
        hex += fmt::format("{:02x}", md[i]);
    return hex;
}

std::string openssl_errors() {
    std::string text;
    while (unsigned long e = ERR_get_error()) {
        if (!text.empty()) text += "; ";
        // The reason alone ("sslv3 alert bad certificate") reads better than the coded form.
        if (const char* reason = ERR_reason_error_string(e)) {
            text += reason;
        } else {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof buf);
            text += buf;
        }
    }
    return text.empty() ? std::string("no OpenSSL error recorded") : text;
}

result<identity> make_identity() {
    ERR_clear_error();
    std::shared_ptr<EVP_PKEY> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    if (!key) return fail("generating the TLS key: " + openssl_errors());
    std::shared_ptr<X509> cert(X509_new(), X509_free);
    if (!cert) return fail("creating the TLS certificate: " + openssl_errors());
    X509* x = cert.get();

    // A random serial keeps certificates from different runs distinct for anyone who logs them.
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) return fail("TLS certificate serial: " + openssl_errors());
    serial[0] &= 0x7f; // positive
    std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial, sizeof serial, nullptr), BN_free);
    X509_NAME* name = X509_get_subject_name(x);
    // Valid from an hour ago to tolerate clock skew between hosts; the client pins the
    // fingerprint, so dates and names matter only to keep OpenSSL's sanity checks happy.
    bool ok =
        bn && X509_set_version(x, 2) == 1 && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x)) &&
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) && X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
        X509_set_pubkey(x, key.get()) == 1 &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("kperf-plan"), -1, -1, 0) == 1 &&
        X509_set_issuer_name(x, name) == 1 && X509_sign(x, key.get(), EVP_sha256()) > 0;
    if (!ok) return fail("building the TLS certificate: " + openssl_errors());

    identity id;
    id.fingerprint = fingerprint_of(x);
    if (id.fingerprint.empty()) return fail("TLS certificate fingerprint: " + openssl_errors());
    id.key = std::move(key);
    id.cert = std::move(cert);
    return id;
}

} // namespace kp::engine::tls
