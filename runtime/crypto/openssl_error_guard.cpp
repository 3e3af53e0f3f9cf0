// Clears OpenSSL's per-thread error queue before every SSL_read, SSL_write,
// SSL_accept and SSL_connect in the process, as OpenSSL requires of callers
// ("the current thread's error queue must be empty before the TLS/SSL I/O
// operation is attempted, or SSL_get_error() will not work reliably").
//
// Why: caf::openssl 0.17 (Debian's libcaf-openssl0.17) empties the queue
// only inside its log statements, and Debian builds CAF without logging. A
// connection that fails on the middleman's multiplexer thread (a peer that
// closes without close_notify, which every `ika` command does, or any
// refused handshake) leaves its error queued; the next read on another
// connection of that thread that ends in "want read" is then reported as
// that error, and CAF drops a healthy connection with requests in flight
// (their senders wait for replies that never come).
//
// These definitions interpose on libssl's (the executable exports them, see
// runtime/CMakeLists.txt): libcaf_openssl's calls bind to them. ika's own
// code uses SSL_read_ex/SSL_write_ex/SSL_do_handshake and clears the queue
// itself. Not part of the ika_runtime archive: the object is linked into
// every executable that links ika_runtime, and require_mutual_tls() refuses
// to run the admin channel without it (openssl_error_guard_active()).

#include "runtime/crypto/mutual_tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace {

template <class Fn>
Fn next_definition(const char* name) {
  void* found = ::dlsym(RTLD_NEXT, name);
  if (found == nullptr) {
    std::fprintf(stderr, "ika: OpenSSL's %s not found: %s\n", name, ::dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(found);
}

using io_fn = int (*)(SSL*, void*, int);
using const_io_fn = int (*)(SSL*, const void*, int);
using handshake_fn = int (*)(SSL*);

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto real = next_definition<io_fn>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto real = next_definition<const_io_fn>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static const auto real = next_definition<handshake_fn>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static const auto real = next_definition<handshake_fn>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"

namespace ika::crypto {

bool openssl_error_guard_active() {
  // What a shared library's call binds to: the first definition in the
  // global scope, ours only if the executable exports it.
  return ::dlsym(RTLD_DEFAULT, "SSL_read") == reinterpret_cast<void*>(&SSL_read) &&
         ::dlsym(RTLD_DEFAULT, "SSL_accept") == reinterpret_cast<void*>(&SSL_accept);
}

} // namespace ika::crypto
