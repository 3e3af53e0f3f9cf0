#include "runtime/health/prober.hpp"

#include "runtime/http/parser.hpp"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <array>
#include <memory>

namespace ika::health {

namespace {

/// One probe's state: the socket, the deadline timer, the verdict.
struct probe_op {
  explicit probe_op(asio::io_context& io) : socket{io}, timer{io} {}
  asio::ip::tcp::socket socket;
  asio::steady_timer timer;
  bool timed_out = false;
};

std::string describe(const asio::error_code& ec, const probe_op& op) {
  if (op.timed_out)
    return "timed out";
  return ec.message();
}

asio::awaitable<probe_result> run(std::shared_ptr<probe_op> op, probe_spec spec) {
  asio::error_code ec;
  co_await op->socket.async_connect(spec.endpoint, asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return probe_result{false, "connect: " + describe(ec, *op)};
  if (spec.path.empty())
    co_return probe_result{true, {}};

  std::string request = "GET " + spec.path + " HTTP/1.1\r\nHost: " + spec.host +
                        "\r\nX-Ika-Health: " + spec.token +
                        "\r\nUser-Agent: ika-health\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(op->socket, asio::buffer(request),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return probe_result{false, "send: " + describe(ec, *op)};

  // The status is all that counts; the head is parsed by the same strict
  // parser the proxy uses, so a garbled answer is a failure.
  http::parser parser{http::message_kind::response};
  std::array<char, 4096> buffer;
  for (;;) {
    std::size_t n = co_await op->socket.async_read_some(asio::buffer(buffer),
                                                        asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::eof && parser.head_complete())
        break;
      co_return probe_result{false, "receive: " + describe(ec, *op)};
    }
    auto r = parser.parse(buffer.data(), n);
    parser.clear_pieces();
    if (r.event == http::parse_event::error)
      co_return probe_result{false, "invalid response"};
    if (parser.head_complete())
      break;
  }
  int status = parser.head().status;
  if (status >= 200 && status < 300)
    co_return probe_result{true, {}};
  co_return probe_result{false, "status " + std::to_string(status)};
}

} // namespace

void prober::probe(probe_spec spec, std::function<void(probe_result)> done) {
  asio::post(io_, [this, spec = std::move(spec), done = std::move(done)]() mutable {
    auto op = std::make_shared<probe_op>(io_);
    op->timer.expires_after(spec.timeout);
    op->timer.async_wait([op](const asio::error_code& ec) {
      if (ec)
        return;
      op->timed_out = true;
      asio::error_code ignored;
      op->socket.close(ignored);
    });
    asio::co_spawn(io_, run(op, std::move(spec)),
                   [op, done = std::move(done)](std::exception_ptr e, probe_result result) {
                     op->timer.cancel();
                     if (e)
                       result = probe_result{false, "internal error"};
                     done(std::move(result));
                   });
  });
}

} // namespace ika::health
