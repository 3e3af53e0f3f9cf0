#pragma once
// What one io thread owns for the proxy: its deadline ticker, its upstream
// pool and its request-id generator. Nothing in here is shared between
// threads, so nothing in here is locked.

#include "runtime/cache/store.hpp"
#include "runtime/http/parser.hpp"
#include "runtime/net/client_stream.hpp"
#include "runtime/net/deadline_list.hpp"
#include "runtime/net/io_pool.hpp"
#include "runtime/net/recycler.hpp"
#include "runtime/proxy/gather.hpp"
#include "runtime/proxy/limits.hpp"
#include "runtime/proxy/request_id.hpp"
#include "runtime/proxy/upstream_pool.hpp"

#include <algorithm>
#include <memory>
#include <vector>

namespace ika::proxy {

struct worker {
  worker(asio::io_context& ctx, const limits& l, std::size_t i = 0)
      : context(ctx), deadlines(ctx), pool(ctx, deadlines, l.upstream_keepalive, l.upstream_idle_timeout),
        client_buffers(net::make_buffer{client_buffer_size(l)}),
        request_parsers(make_parser{{l.max_head_bytes, l.max_uri_bytes, l.max_headers}}),
        tls_buffers(net::make_buffer{net::client_stream::input_capacity}), head_strings(head_string_size),
        gathers(make_gather{}), index(i) {}

  /// Room for a usual response head at once (one allocation, not a string
  /// doubling its way up).
  static constexpr std::size_t head_string_size = 512;

  /// A client connection's buffer: a whole request head and then some.
  static std::size_t client_buffer_size(const limits& l) noexcept {
    return std::max<std::size_t>(16 * 1024, l.max_head_bytes + 1024);
  }

  struct make_gather {
    std::unique_ptr<gather> operator()() const { return std::make_unique<gather>(); }
  };

  struct make_parser {
    http::parser_limits limits;
    std::unique_ptr<http::parser> operator()() const {
      return std::make_unique<http::parser>(http::message_kind::request, limits);
    }
  };

  asio::io_context& context;
  net::deadline_list deadlines;
  upstream_pool pool;
  request_id_generator ids;
  /// A client connection holds a buffer and a parser only while it has a
  /// request in progress (client_session.hpp); between requests they wait
  /// here for the next connection that needs them. All of a node's
  /// listeners share its limits, so one size fits every connection.
  net::buffer_recycler client_buffers;
  net::recycler<http::parser, make_parser> request_parsers;
  /// The same for a TLS connection's ciphertext input, and for the string
  /// a connection writes its heads into.
  net::buffer_recycler tls_buffers;
  net::string_recycler head_strings;
  /// And the scatter list its writes upstream and to the client are made of.
  net::recycler<gather, make_gather> gathers;
  std::uint32_t round_robin = 0;
  std::size_t index = 0; ///< which io thread
  /// The node's response cache (null: none). Set before the io threads run.
  cache::store* cache = nullptr;
};

/// One worker per io thread of a pool. Create before the pool starts (or
/// from its threads); destroy after it stopped.
class workers {
public:
  workers(net::io_pool& pool, const limits& l) {
    for (std::size_t i = 0; i < pool.size(); ++i)
      all_.push_back(std::make_unique<worker>(pool.context(i), l, i));
  }
  worker& at(std::size_t i) noexcept { return *all_[i]; }
  std::size_t size() const noexcept { return all_.size(); }

private:
  std::vector<std::unique_ptr<worker>> all_;
};

} // namespace ika::proxy
