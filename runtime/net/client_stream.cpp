#include "runtime/net/client_stream.hpp"

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace ika::net {
namespace {

/// Room for one whole TLS record (16 KiB of payload plus its overhead) and
/// the start of the next.
constexpr std::size_t in_capacity = client_stream::input_capacity;
/// Buffers up to this size are joined into one record before encryption.
constexpr std::size_t record_payload = 16 * 1024;

std::error_code tls_error() {
  ERR_clear_error();
  return std::make_error_code(std::errc::protocol_error);
}

} // namespace

/// The memory BIO between OpenSSL and a client_stream.
struct stream_bio {
  static int write(BIO* bio, const char* data, int size) {
    auto* s = static_cast<client_stream*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    s->out_.append(data, static_cast<std::size_t>(size));
    return size;
  }

  static int read(BIO* bio, char* data, int size) {
    auto* s = static_cast<client_stream*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    std::size_t available = s->in_end_ - s->in_begin_;
    if (available == 0) {
      BIO_set_retry_read(bio);
      return -1;
    }
    std::size_t n = std::min(available, static_cast<std::size_t>(size));
    std::memcpy(data, s->in_.get() + s->in_begin_, n);
    s->in_begin_ += n;
    return static_cast<int>(n);
  }

  static long ctrl(BIO*, int command, long, void*) {
    switch (command) {
      case BIO_CTRL_FLUSH: // out_ is sent by the stream itself
      case BIO_CTRL_PUSH:
      case BIO_CTRL_POP:
        return 1;
      default:
        return 0;
    }
  }

  static int create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
  }

  static BIO_METHOD* method() {
    static BIO_METHOD* m = [] {
      BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ika client stream");
      BIO_meth_set_write(made, write);
      BIO_meth_set_read(made, read);
      BIO_meth_set_ctrl(made, ctrl);
      BIO_meth_set_create(made, create);
      return made;
    }();
    return m;
  }
};

client_stream::~client_stream() {
  if (ssl_ != nullptr)
    SSL_free(ssl_);
}

asio::awaitable<std::error_code> client_stream::accept_tls(SSL_CTX* context, void* app_data) {
  ssl_ = SSL_new(context);
  BIO* bio = ssl_ != nullptr ? BIO_new(stream_bio::method()) : nullptr;
  if (bio == nullptr)
    co_return tls_error();
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);
  SSL_set_app_data(ssl_, app_data);
  SSL_set_accept_state(ssl_);
  for (;;) {
    int r = SSL_do_handshake(ssl_);
    if (r == 1)
      break;
    int err = SSL_get_error(ssl_, r);
    if (err != SSL_ERROR_WANT_READ)
      co_return tls_error();
    // Our flight (or an alert) first, then the client's next one.
    std::error_code ec = co_await flush();
    if (ec)
      co_return ec;
    co_await fill(ec);
    if (ec)
      co_return ec;
  }
  // The server's last flight and its session ticket.
  co_return co_await flush();
}

std::string_view client_stream::server_name() const noexcept {
  const char* name = ssl_ != nullptr ? SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name) : nullptr;
  return name != nullptr ? std::string_view{name} : std::string_view{};
}

std::string_view client_stream::tls_version() const noexcept {
  return ssl_ != nullptr ? std::string_view{SSL_get_version(ssl_)} : std::string_view{};
}

std::unique_ptr<char[]> client_stream::release_input() noexcept {
  if (in_begin_ != in_end_)
    return nullptr;
  // What a large response left behind is not kept while idle either.
  if (out_.capacity() > 4096 && out_sent_ == out_.size()) {
    std::string{}.swap(out_);
    out_sent_ = 0;
  }
  if (coalesce_.capacity() > 4096)
    std::string{}.swap(coalesce_);
  return std::move(in_);
}

void client_stream::lend_input(std::unique_ptr<char[]> buffer) noexcept {
  if (in_ == nullptr)
    in_ = std::move(buffer);
}

void client_stream::make_room() {
  if (in_ == nullptr) // given up while idle (nothing was pending in it)
    in_.reset(new char[in_capacity]);
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (in_end_ == in_capacity) {
    std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
}

asio::awaitable<void> client_stream::fill(std::error_code& ec) {
  make_room();
  std::size_t n = co_await read_some(socket_, in_.get() + in_end_, in_capacity - in_end_, ec);
  in_end_ += n;
}

void client_stream::add_ciphertext(const char* data, std::size_t size) {
  make_room();
  size = std::min(size, in_capacity - in_end_); // an idle stream has all of in_
  std::memcpy(in_.get() + in_end_, data, size);
  in_end_ += size;
}

asio::awaitable<std::error_code> client_stream::flush() {
  // A reader and a writer may both flush (a tunnel): each sends from where
  // the output stands and returns once all of it is out.
  std::error_code ec;
  while (out_sent_ < out_.size()) {
    std::size_t n = socket_.write_some(asio::buffer(out_.data() + out_sent_, out_.size() - out_sent_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      co_await socket_.async_wait(asio::socket_base::wait_write,
                                  asio::redirect_error(asio::use_awaitable, ec));
      if (ec)
        co_return ec;
      continue;
    }
    if (ec)
      co_return ec;
    out_sent_ += n;
  }
  out_.clear();
  out_sent_ = 0;
  co_return ec;
}

asio::awaitable<std::size_t> client_stream::tls_read_some(char* data, std::size_t size, std::error_code& ec) {
  ec.clear();
  for (;;) {
    std::size_t got = 0;
    int r = SSL_read_ex(ssl_, data, size, &got);
    if (r == 1)
      co_return got;
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_ZERO_RETURN) {
      ec = asio::error::eof;
      co_return 0;
    }
    if (err != SSL_ERROR_WANT_READ) {
      ec = tls_error();
      co_return 0;
    }
    // Whatever OpenSSL wants to say first (a key update's answer).
    if (out_sent_ < out_.size()) {
      ec = co_await flush();
      if (ec)
        co_return 0;
    }
    co_await fill(ec);
    if (ec)
      co_return 0;
  }
}

bool client_stream::encrypt(const void* data, std::size_t size) noexcept {
  std::size_t written = 0;
  // The BIO takes everything: SSL_write either writes all or fails.
  return size == 0 || SSL_write_ex(ssl_, data, size, &written) == 1;
}

asio::awaitable<std::error_code> client_stream::tls_write_all(std::span<asio::const_buffer> buffers) {
  // Small buffers are joined (a head and a small body become one record);
  // a large one is encrypted where it lies.
  coalesce_.clear();
  bool ok = true;
  for (auto& b : buffers) {
    std::size_t n = b.size();
    if (n == 0)
      continue;
    if (coalesce_.size() + n <= record_payload) {
      coalesce_.append(static_cast<const char*>(b.data()), n);
    } else {
      ok = ok && encrypt(coalesce_.data(), coalesce_.size());
      coalesce_.clear();
      if (n < record_payload)
        coalesce_.append(static_cast<const char*>(b.data()), n);
      else
        ok = ok && encrypt(b.data(), n);
    }
    b = asio::const_buffer{};
  }
  ok = ok && encrypt(coalesce_.data(), coalesce_.size());
  if (!ok)
    co_return tls_error();
  co_return co_await flush();
}

asio::awaitable<void> client_stream::close_notify() {
  if (ssl_ == nullptr || !socket_.is_open())
    co_return;
  if (!SSL_is_init_finished(ssl_))
    co_return;
  if (SSL_shutdown(ssl_) < 0)
    ERR_clear_error();
  std::error_code ignored = co_await flush();
  (void)ignored;
}

} // namespace ika::net
