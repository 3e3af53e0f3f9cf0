#include "runtime/acme/https_client.hpp"

#include <llhttp.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

namespace ika::acme {

namespace {

using clock = std::chrono::steady_clock;

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string tls_reason() {
  unsigned long err = ERR_peek_last_error();
  ERR_clear_error();
  if (err == 0)
    return "TLS error";
  const char* reason = ERR_reason_error_string(err);
  return reason != nullptr ? reason : "TLS error " + std::to_string(err);
}

bool is_ip_literal(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

int millis_left(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

/// Waits until `fd` is ready for `events`; false on timeout or poll error.
bool wait_fd(int fd, short events, clock::time_point deadline) {
  for (;;) {
    int left = millis_left(deadline);
    if (left == 0)
      return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, left);
    if (r > 0)
      return true;
    if (r == 0)
      return false;
    if (errno != EINTR)
      return false;
  }
}

/// Blocks SIGPIPE in this thread while alive (writes to a socket the peer
/// closed must fail with EPIPE, not kill the process) and swallows a
/// SIGPIPE raised meanwhile.
class sigpipe_guard {
public:
  sigpipe_guard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~sigpipe_guard() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;

private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

/// What llhttp reports while parsing one response.
struct parse_state {
  http_response* response = nullptr;
  std::size_t max_body = 0;
  bool skip_body = false;
  bool complete = false;
  bool keep_alive = false;
  bool too_large = false;
  bool in_value = false;
  std::string field;
  std::string value;

  void flush_header() {
    if (!field.empty() || !value.empty()) {
      // Trim optional whitespace around the value.
      auto b = value.find_first_not_of(" \t");
      auto e = value.find_last_not_of(" \t");
      std::string v = b == std::string::npos ? std::string{} : value.substr(b, e - b + 1);
      response->headers.emplace_back(lower(field), std::move(v));
    }
    field.clear();
    value.clear();
    in_value = false;
  }
};

parse_state& state_of(llhttp_t* p) {
  return *static_cast<parse_state*>(p->data);
}

const llhttp_settings_t* response_settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_header_field = [](llhttp_t* p, const char* at, std::size_t n) {
      auto& st = state_of(p);
      if (st.in_value)
        st.flush_header();
      st.field.append(at, n);
      if (st.field.size() > 8192)
        return -1;
      return 0;
    };
    s.on_header_value = [](llhttp_t* p, const char* at, std::size_t n) {
      auto& st = state_of(p);
      st.in_value = true;
      st.value.append(at, n);
      if (st.value.size() > 65536)
        return -1;
      return 0;
    };
    s.on_headers_complete = [](llhttp_t* p) {
      auto& st = state_of(p);
      st.flush_header();
      st.response->status = static_cast<int>(llhttp_get_status_code(p));
      return st.skip_body ? 1 : 0;
    };
    s.on_body = [](llhttp_t* p, const char* at, std::size_t n) {
      auto& st = state_of(p);
      if (st.response->body.size() + n > st.max_body) {
        st.too_large = true;
        return -1;
      }
      st.response->body.append(at, n);
      return 0;
    };
    s.on_message_complete = [](llhttp_t* p) {
      auto& st = state_of(p);
      st.complete = true;
      st.keep_alive = llhttp_should_keep_alive(p) != 0;
      return 0;
    };
    return s;
  }();
  return &settings;
}

} // namespace

// --- URLs and Retry-After ----------------------------------------------------

outcome<url_parts> parse_url(std::string_view url) {
  auto fail = [&](std::string why) {
    return error{"bad URL \"" + std::string{url} + "\": " + why, std::nullopt};
  };
  url_parts out;
  std::string_view rest;
  if (url.starts_with("https://")) {
    out.tls = true;
    out.port = 443;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    out.port = 80;
    rest = url.substr(7);
  } else {
    return fail("not http:// or https://");
  }
  if (rest.find('#') != std::string_view::npos)
    return fail("has a fragment");
  auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string{rest.substr(slash)};
  if (out.target.front() == '?')
    out.target.insert(out.target.begin(), '/');
  if (authority.find('@') != std::string_view::npos)
    return fail("has userinfo");
  std::string_view port;
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return fail("unterminated IPv6 literal");
    out.host = std::string{authority.substr(1, close - 1)};
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return fail("junk after the IPv6 literal");
      port = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    out.host = std::string{authority.substr(0, colon)};
    if (colon != std::string_view::npos)
      port = authority.substr(colon + 1);
  }
  if (out.host.empty())
    return fail("no host");
  for (char c : out.host)
    if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '\\')
      return fail("invalid host");
  if (!port.empty()) {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || p != port.data() + port.size() || value == 0 || value > 65535)
      return fail("invalid port");
    out.port = static_cast<std::uint16_t>(value);
  }
  for (char c : out.target)
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f)
      return fail("invalid character in the path");
  return out;
}

std::optional<std::uint32_t> parse_retry_after(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
    value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
    value.remove_suffix(1);
  if (value.empty())
    return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(value.front()))) {
    std::uint64_t seconds = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range)
      return UINT32_MAX;
    if (ec != std::errc{} || p != value.data() + value.size())
      return std::nullopt;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(seconds, UINT32_MAX));
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::string text{value};
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0')
    return std::nullopt;
  std::time_t when = timegm(&tm);
  std::time_t now = std::time(nullptr);
  if (when == static_cast<std::time_t>(-1))
    return std::nullopt;
  return when <= now ? 0u : static_cast<std::uint32_t>(std::min<std::time_t>(when - now, UINT32_MAX));
}

std::string_view http_response::header(std::string_view lower_name) const noexcept {
  for (const auto& [name, value] : headers)
    if (name == lower_name)
      return value;
  return {};
}

std::vector<std::string_view> http_response::header_values(std::string_view lower_name) const {
  std::vector<std::string_view> out;
  for (const auto& [name, value] : headers)
    if (name == lower_name)
      out.push_back(value);
  return out;
}

// --- the connection -----------------------------------------------------------

struct https_client::connection {
  int fd = -1;
  SSL* ssl = nullptr;
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;

  ~connection() {
    if (ssl != nullptr) {
      SSL_shutdown(ssl); // best effort close_notify; the socket is non-blocking
      SSL_free(ssl);
    }
    if (fd >= 0)
      ::close(fd);
  }

  bool same_origin(const url_parts& u) const { return tls == u.tls && host == u.host && port == u.port; }

  /// Writes everything; an error message or empty.
  std::string write_all(std::string_view data, clock::time_point deadline) {
    while (!data.empty()) {
      if (tls) {
        ERR_clear_error();
        int n = SSL_write(ssl, data.data(), static_cast<int>(std::min<std::size_t>(data.size(), 1 << 20)));
        if (n > 0) {
          data.remove_prefix(static_cast<std::size_t>(n));
          continue;
        }
        int err = SSL_get_error(ssl, n);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
          if (!wait_fd(fd, err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, deadline))
            return "timed out sending the request";
          continue;
        }
        return "TLS write failed: " + tls_reason();
      }
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (!wait_fd(fd, POLLOUT, deadline))
          return "timed out sending the request";
        continue;
      }
      return std::string{"send failed: "} + std::strerror(errno);
    }
    return {};
  }

  /// Reads some bytes: > 0 read, 0 the peer closed, < 0 error (`why` set).
  long read_some(char* buf, std::size_t size, clock::time_point deadline, std::string& why) {
    for (;;) {
      if (tls) {
        ERR_clear_error();
        int n = SSL_read(ssl, buf, static_cast<int>(size));
        if (n > 0)
          return n;
        int err = SSL_get_error(ssl, n);
        if (err == SSL_ERROR_ZERO_RETURN)
          return 0;
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
          if (!wait_fd(fd, err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, deadline)) {
            why = "timed out waiting for the response";
            return -1;
          }
          continue;
        }
        if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
          return 0; // the peer closed without close_notify
        why = "TLS read failed: " + tls_reason();
        return -1;
      }
      ssize_t n = ::recv(fd, buf, size, 0);
      if (n >= 0)
        return static_cast<long>(n);
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        if (!wait_fd(fd, POLLIN, deadline)) {
          why = "timed out waiting for the response";
          return -1;
        }
        continue;
      }
      why = std::string{"receive failed: "} + std::strerror(errno);
      return -1;
    }
  }
};

namespace {

/// Connects a non-blocking TCP socket to host:port; fd or an error message.
std::variant<int, std::string> tcp_connect(const std::string& host, std::uint16_t port,
                                           clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  // getaddrinfo has no timeout: the deadline starts counting after it.
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0)
    return std::string{"cannot resolve "} + host + ": " + gai_strerror(rc);
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list{found, &::freeaddrinfo};
  std::string last = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      return fd;
    if (errno == EINPROGRESS) {
      if (wait_fd(fd, POLLOUT, deadline)) {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
          return fd;
        last = std::strerror(err != 0 ? err : errno);
      } else {
        last = "timed out";
      }
    } else {
      last = std::strerror(errno);
    }
    ::close(fd);
    if (millis_left(deadline) == 0)
      break;
  }
  return "cannot connect to " + host + ":" + service + ": " + last;
}

} // namespace

// --- the client ----------------------------------------------------------------

https_client::https_client(http_client_settings settings) : settings_(std::move(settings)) {}

https_client::~https_client() = default;

void https_client::close() noexcept {
  conn_.reset();
}

outcome<http_response> https_client::request(std::string_view method, std::string_view url,
                                             std::string_view body, std::string_view content_type,
                                             std::string_view accept) {
  auto parts = parse_url(url);
  if (auto* e = std::get_if<error>(&parts))
    return *e;
  const auto& u = std::get<url_parts>(parts);
  sigpipe_guard no_sigpipe;
  auto deadline = clock::now() + settings_.timeout;
  bool reused = false;
  bool nothing_received = false;
  auto r = attempt(method, u, body, content_type, accept, deadline, reused, nothing_received);
  if (std::holds_alternative<error>(r) && reused && nothing_received && millis_left(deadline) > 0) {
    // The server closed the kept-alive connection before this request: once
    // more on a fresh one.
    close();
    r = attempt(method, u, body, content_type, accept, deadline, reused, nothing_received);
  }
  if (auto* e = std::get_if<error>(&r)) {
    close();
    e->message = std::string{method} + " " + std::string{url} + ": " + e->message;
  }
  return r;
}

outcome<http_response> https_client::attempt(std::string_view method, const url_parts& u,
                                             std::string_view body, std::string_view content_type,
                                             std::string_view accept, clock::time_point deadline,
                                             bool& reused, bool& nothing_received) {
  auto fail = [](std::string why) { return error{std::move(why), std::nullopt}; };
  reused = conn_ && conn_->same_origin(u);
  nothing_received = false;
  if (!reused) {
    conn_.reset();
    auto fd = tcp_connect(u.host, u.port, deadline);
    if (auto* why = std::get_if<std::string>(&fd))
      return fail(*why);
    auto c = std::make_unique<connection>();
    c->fd = std::get<int>(fd);
    c->tls = u.tls;
    c->host = u.host;
    c->port = u.port;
    if (u.tls) {
      ERR_clear_error();
      std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{SSL_CTX_new(TLS_client_method()), &SSL_CTX_free};
      if (!ctx)
        return fail("cannot create a TLS context: " + tls_reason());
      SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
      SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
      if (!settings_.ca_bundle.empty()) {
        if (SSL_CTX_load_verify_locations(ctx.get(), settings_.ca_bundle.c_str(), nullptr) != 1)
          return fail("cannot load the CA bundle " + settings_.ca_bundle + ": " + tls_reason());
      } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
        return fail("cannot load the system CA store: " + tls_reason());
      }
      c->ssl = SSL_new(ctx.get()); // holds its own reference to ctx
      if (c->ssl == nullptr || SSL_set_fd(c->ssl, c->fd) != 1)
        return fail("cannot create a TLS session: " + tls_reason());
      SSL_set_mode(c->ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      if (is_ip_literal(u.host)) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), u.host.c_str()) != 1)
          return fail("cannot set the expected IP address");
      } else {
        if (SSL_set_tlsext_host_name(c->ssl, u.host.c_str()) != 1 ||
            SSL_set1_host(c->ssl, u.host.c_str()) != 1)
          return fail("cannot set the expected host name");
      }
      for (;;) {
        ERR_clear_error();
        int r = SSL_connect(c->ssl);
        if (r == 1)
          break;
        int err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
          if (!wait_fd(c->fd, err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, deadline))
            return fail("timed out in the TLS handshake");
          continue;
        }
        long verify = SSL_get_verify_result(c->ssl);
        if (verify != X509_V_OK)
          return fail(std::string{"TLS: the server's certificate is not trusted: "} +
                      X509_verify_cert_error_string(verify));
        return fail("TLS handshake failed: " + tls_reason());
      }
    }
    conn_ = std::move(c);
  }

  std::string head;
  head.reserve(256 + body.size());
  head += method;
  head += ' ';
  head += u.target;
  head += " HTTP/1.1\r\nHost: ";
  bool v6 = u.host.find(':') != std::string::npos;
  head += v6 ? "[" + u.host + "]" : u.host;
  if (u.port != (u.tls ? 443 : 80))
    head += ":" + std::to_string(u.port);
  head += "\r\nUser-Agent: ika-acme/1\r\n";
  if (!accept.empty())
    head += "Accept: " + std::string{accept} + "\r\n";
  if (!content_type.empty())
    head += "Content-Type: " + std::string{content_type} + "\r\n";
  if (method == "POST" || !body.empty())
    head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  head += "\r\n";
  head += body;
  if (auto why = conn_->write_all(head, deadline); !why.empty()) {
    nothing_received = true;
    return fail(why);
  }

  http_response response;
  parse_state st;
  st.response = &response;
  st.max_body = settings_.max_body;
  st.skip_body = method == "HEAD";
  llhttp_t parser;
  llhttp_init(&parser, HTTP_RESPONSE, response_settings());
  parser.data = &st;
  std::array<char, 16 * 1024> buf;
  std::size_t received = 0;
  while (!st.complete) {
    std::string why;
    long n = conn_->read_some(buf.data(), buf.size(), deadline, why);
    if (n < 0) {
      nothing_received = received == 0;
      return fail(why);
    }
    if (n == 0) {
      nothing_received = received == 0;
      if (received == 0)
        return fail("the server closed the connection without a response");
      llhttp_errno_t e = llhttp_finish(&parser);
      if (e != HPE_OK || !st.complete)
        return fail("the server closed the connection before the response was complete");
      st.keep_alive = false;
      break;
    }
    received += static_cast<std::size_t>(n);
    llhttp_errno_t e = llhttp_execute(&parser, buf.data(), static_cast<std::size_t>(n));
    if (e != HPE_OK) {
      if (st.too_large)
        return fail("the response body exceeds " + std::to_string(settings_.max_body) + " bytes");
      return fail(std::string{"malformed response: "} + llhttp_errno_name(e));
    }
    if (st.complete && response.status < 200) {
      // An interim 1xx response: the real one follows.
      response = http_response{};
      st.complete = false;
      llhttp_init(&parser, HTTP_RESPONSE, response_settings());
      parser.data = &st;
    }
  }
  if (!st.keep_alive)
    conn_.reset();
  return response;
}

} // namespace ika::acme
