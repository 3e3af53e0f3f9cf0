#include "runtime/net/socket_io.hpp"

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

namespace ika::net {

void prepare_socket(asio::ip::tcp::socket& s) noexcept {
  std::error_code ignored;
  s.non_blocking(true, ignored);
  s.set_option(asio::ip::tcp::no_delay{true}, ignored);
}

asio::awaitable<std::size_t> read_some(asio::ip::tcp::socket& s, char* data, std::size_t size,
                                       std::error_code& ec) {
  ec.clear();
  std::size_t n =
      co_await s.async_read_some(asio::buffer(data, size), asio::redirect_error(asio::use_awaitable, ec));
  co_return n;
}

asio::awaitable<std::error_code> write_all(asio::ip::tcp::socket& s, std::span<asio::const_buffer> buffers) {
  std::error_code ec;
  std::size_t first = 0;
  while (first < buffers.size()) {
    if (buffers[first].size() == 0) {
      ++first;
      continue;
    }
    // One buffer goes out with send(2), several with sendmsg(2): the
    // single-buffer path skips importing an iovec array.
    std::size_t n = first + 1 == buffers.size() ? s.write_some(buffers[first], ec)
                                                : s.write_some(buffers.subspan(first), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      co_await s.async_wait(asio::socket_base::wait_write, asio::redirect_error(asio::use_awaitable, ec));
      if (ec)
        co_return ec;
      continue;
    }
    if (ec)
      co_return ec;
    // Consume what went out.
    while (n > 0 && first < buffers.size()) {
      auto& b = buffers[first];
      if (n >= b.size()) {
        n -= b.size();
        b = asio::const_buffer{};
        ++first;
      } else {
        b += n;
        n = 0;
      }
    }
  }
  co_return std::error_code{};
}

} // namespace ika::net
