/* tls.h - what the TLS tests share: certificates made at run time (a CA of the test's own,
 * and leaf certificates that are good, expired, for another name, self-signed or from a
 * stranger CA), and TLS scenarios for net.h's scripted server (blocking OpenSSL in the
 * server's threads). Test-only; include after net.h. Link -lssl -lcrypto. No key is ever
 * written anywhere but the test's own temp dir. */
#ifndef TLS_H
#define TLS_H
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* ------------------------------------------------------------------ */
/* certificates                                                        */

typedef struct tls_cert {
    EVP_PKEY *key;
    X509 *cert;
} tls_cert;

NET_FN void tls_add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

/* A P-256 key and a certificate for cn with subjectAltName san (NULL: none), valid from
   not_before to not_after seconds from now; signed by issuer (NULL: by itself). A CA if ca. */
NET_FN tls_cert tls_make(const char *cn, const char *san, long not_before, long not_after, const tls_cert *issuer,
                         int ca) {
    static long serial = 1000;
    tls_cert c;
    X509_NAME *name;
    c.key = EVP_EC_gen("P-256");
    c.cert = X509_new();
    X509_set_version(c.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(c.cert), not_before);
    X509_gmtime_adj(X509_getm_notAfter(c.cert), not_after);
    X509_set_pubkey(c.cert, c.key);
    name = X509_get_subject_name(c.cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c.cert, issuer ? X509_get_subject_name(issuer->cert) : name);
    tls_add_ext(c.cert, issuer ? issuer->cert : c.cert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    tls_add_ext(c.cert, issuer ? issuer->cert : c.cert, NID_subject_key_identifier, "hash");
    if (ca) tls_add_ext(c.cert, c.cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    else tls_add_ext(c.cert, issuer ? issuer->cert : c.cert, NID_ext_key_usage, "serverAuth");
    if (san) tls_add_ext(c.cert, issuer ? issuer->cert : c.cert, NID_subject_alt_name, san);
    X509_sign(c.cert, issuer ? issuer->key : c.key, EVP_sha256());
    return c;
}

NET_FN void tls_free(tls_cert *c) {
    EVP_PKEY_free(c->key);
    X509_free(c->cert);
}

/* <dir>/<name>.pem (the certificate, then the issuer's if given) and <dir>/<name>.key. */
NET_FN void tls_write(const char *dir, const char *name, const tls_cert *c, const tls_cert *chain) {
    char path[512];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s.pem", dir, name);
    f = fopen(path, "w");
    PEM_write_X509(f, c->cert);
    if (chain) PEM_write_X509(f, chain->cert);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    f = fopen(path, "w");
    PEM_write_PrivateKey(f, c->key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

#define TLS_DAY (24L * 3600)
#define TLS_LOCAL_SAN "DNS:localhost,IP:127.0.0.1,IP:::1"

/* The test's PKI in dir: ca.pem (trusted by the client), and leaf certificates:
   good (localhost, 127.0.0.1, ::1), expired, other (another name), self (self-signed),
   stranger (from a CA the client does not trust). */
NET_FN void tls_make_pki(const char *dir) {
    tls_cert ca = tls_make("async_http.h test CA", NULL, -TLS_DAY, 30 * TLS_DAY, NULL, 1);
    tls_cert stranger_ca = tls_make("a stranger CA", NULL, -TLS_DAY, 30 * TLS_DAY, NULL, 1);
    tls_cert good = tls_make("localhost", TLS_LOCAL_SAN, -TLS_DAY, 30 * TLS_DAY, &ca, 0);
    tls_cert expired = tls_make("localhost", TLS_LOCAL_SAN, -30 * TLS_DAY, -TLS_DAY, &ca, 0);
    tls_cert other = tls_make("other.example", "DNS:other.example,IP:10.9.8.7", -TLS_DAY, 30 * TLS_DAY, &ca, 0);
    tls_cert self = tls_make("localhost", TLS_LOCAL_SAN, -TLS_DAY, 30 * TLS_DAY, NULL, 0);
    tls_cert stranger = tls_make("localhost", TLS_LOCAL_SAN, -TLS_DAY, 30 * TLS_DAY, &stranger_ca, 0);
    tls_write(dir, "ca", &ca, NULL);
    tls_write(dir, "good", &good, NULL);
    tls_write(dir, "expired", &expired, NULL);
    tls_write(dir, "other", &other, NULL);
    tls_write(dir, "self", &self, NULL);
    tls_write(dir, "stranger", &stranger, NULL);
    tls_free(&ca), tls_free(&stranger_ca), tls_free(&good), tls_free(&expired);
    tls_free(&other), tls_free(&self), tls_free(&stranger);
}

NET_FN void tls_path(char *out, size_t n, const char *dir, const char *file) { snprintf(out, n, "%s/%s", dir, file); }

/* ------------------------------------------------------------------ */
/* TLS scenarios for the scripted server                               */

/* The context the TLS scenarios serve with; set before server_start. */
static SSL_CTX *tls_scenario_ctx;

/* ALPN as nginx answers it: http/1.1 when the client offers it. */
NET_FN int tls_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned inlen,
                    void *arg) {
    static const unsigned char http11[] = "\x08http/1.1";
    (void)ssl, (void)arg;
    return SSL_select_next_proto((unsigned char **)(uintptr_t)out, outlen, http11, sizeof http11 - 1, in, inlen) ==
                   OPENSSL_NPN_NEGOTIATED
               ? SSL_TLSEXT_ERR_OK
               : SSL_TLSEXT_ERR_NOACK;
}

/* A server context with <dir>/<name>.pem and .key; max_version 0: any. */
NET_FN SSL_CTX *tls_server_ctx(const char *dir, const char *name, int min_version, int max_version) {
    char cert[512], key[512];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    snprintf(cert, sizeof cert, "%s/%s.pem", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    if (min_version) {
        SSL_CTX_set_security_level(ctx, 0); /* OpenSSL 3 refuses TLS 1.0 above level 0 */
        SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0");
        SSL_CTX_set_min_proto_version(ctx, min_version);
    }
    if (max_version) SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        fprintf(stderr, "tls_server_ctx: %s: cannot load\n", name);
    return ctx;
}

/* The TLS session of a scenario's connection, handshake done; NULL if it failed. */
NET_FN SSL *tls_accept(int fd) {
    SSL *ssl = SSL_new(tls_scenario_ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

/* One request head through TLS into buf (NUL-terminated): its length, 0 when the client
   went away. */
NET_FN size_t tls_read_head(SSL *ssl, char *buf, size_t cap) {
    size_t len = 0;
    while (len < cap - 1) {
        int n = SSL_read(ssl, buf + len, (int)(cap - 1 - len));
        if (n <= 0) return 0;
        len += (size_t)n;
        buf[len] = 0;
        if (strstr(buf, "\r\n\r\n")) return len;
    }
    return 0;
}

NET_FN int tls_read_request(SSL *ssl) {
    char buf[4096];
    return tls_read_head(ssl, buf, sizeof buf) != 0;
}

NET_FN int tls_send_str(SSL *ssl, const char *s) { return SSL_write(ssl, s, (int)strlen(s)) > 0; }

/* How the clients of play_tls_ok ended their connections: with close_notify, or not. */
static int tls_closed_clean, tls_closed_unclean;

/* Well-behaved: s->response (or OK_RESPONSE) to each request; close_notify at the end. */
NET_FN void play_tls_ok(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    int rc;
    char byte;
    (void)index;
    if (!ssl) return;
    while (tls_read_request(ssl))
        if (!tls_send_str(ssl, s->response ? s->response : OK_RESPONSE)) break;
    rc = SSL_read(ssl, &byte, 1); /* the client is gone: how? */
    pthread_mutex_lock(&s->lock);
    if (SSL_get_error(ssl, rc) == SSL_ERROR_ZERO_RETURN) tls_closed_clean++;
    else tls_closed_unclean++;
    pthread_mutex_unlock(&s->lock);
    SSL_shutdown(ssl);
    SSL_free(ssl);
}

/* As play_tls_ok, and each request's head is recorded (server_capture, has_line); the
   answers are play_capture's (s->responses, or s->response). */
NET_FN void play_tls_capture(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    char buf[4096];
    size_t len;
    if (!ssl) return;
    while ((len = tls_read_head(ssl, buf, sizeof buf)) != 0) {
        captured c;
        memset(&c, 0, sizeof c);
        c.bytes = (char *)malloc(len + 1);
        memcpy(c.bytes, buf, len + 1);
        c.len = c.head_len = len;
        c.complete = 1;
        c.conn = index;
        if (!tls_send_str(ssl, server_response_for(s, server_record(s, &c)))) break;
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
}

/* Answers the request's head with nothing, until the client closes or the server stops. */
NET_FN void play_tls_silent(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    char buf[64];
    (void)index;
    if (!ssl) return;
    if (tls_read_request(ssl)) /* what comes next (a close_notify) is read past, up to the end */
        while (!server_stopping(s) && recv(fd, buf, sizeof buf, MSG_DONTWAIT) != 0) msleep(5);
    SSL_free(ssl);
}

/* The head and part of a body whose end is the connection's, then a TCP close with no
   close_notify: a truncation an attacker could make, not the end of the body. */
NET_FN void play_tls_cut(server *s, int fd, int index) {
    SSL *ssl = tls_accept(fd);
    (void)index;
    if (!ssl) return;
    if (tls_read_request(ssl)) tls_send_str(ssl, s->response);
    SSL_free(ssl); /* no SSL_shutdown */
}

/* Reads the ClientHello, then says nothing until the client closes or the server stops. */
NET_FN void play_tls_stall(server *s, int fd, int index) {
    char buf[4096];
    (void)index;
    if (recv(fd, buf, sizeof buf, 0) <= 0) return;
    while (!server_stopping(s) && recv(fd, buf, sizeof buf, MSG_DONTWAIT) != 0) msleep(5);
}

/* Reads the ClientHello and closes. */
NET_FN void play_tls_close_early(server *s, int fd, int index) {
    char buf[4096];
    (void)s, (void)index;
    if (recv(fd, buf, sizeof buf, 0) <= 0) return;
}

/* Plain HTTP on the port the client takes for TLS. */
NET_FN void play_plain_http(server *s, int fd, int index) {
    char buf[4096];
    (void)s, (void)index;
    if (recv(fd, buf, sizeof buf, 0) <= 0) return;
    send_str(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}
#endif
