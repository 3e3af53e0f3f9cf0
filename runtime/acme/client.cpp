#include "runtime/acme/client.hpp"

#include "runtime/acme/https_client.hpp"

#include <nlohmann/json.hpp>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace ika::acme {

namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::string_view jose_json = "application/jose+json";
constexpr std::string_view bad_nonce = "urn:ietf:params:acme:error:badNonce";
// A rejected nonce costs one round trip. With 20 retries a request fails for
// nonces alone 1 time in 2^21 even if the CA rejects half of them (pebble's
// test setting); 10 left a 1 % chance per certificate at that rate.
constexpr int max_nonce_retries = 20;
constexpr std::chrono::milliseconds min_poll_interval = 200ms;
constexpr std::chrono::milliseconds max_poll_interval = 2s;

error fail(std::string message, std::optional<std::uint32_t> retry_after = std::nullopt) {
  return error{std::move(message), retry_after};
}

/// A string member, or empty when missing or not a string.
std::string str(const json& j, const char* key) {
  if (!j.is_object())
    return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

json parse_json(std::string_view text) {
  return json::parse(text.begin(), text.end(), nullptr, false);
}

/// "TYPE: DETAIL" of a problem document, subproblems appended.
std::string describe_problem(const json& problem) {
  std::string type = str(problem, "type");
  std::string detail = str(problem, "detail");
  std::string out = type.empty() ? std::string{"(no problem type)"} : type;
  if (!detail.empty())
    out += ": " + detail;
  if (problem.is_object()) {
    auto subs = problem.find("subproblems");
    if (subs != problem.end() && subs->is_array())
      for (const auto& sub : *subs) {
        std::string id;
        if (sub.is_object() && sub.contains("identifier"))
          id = str(sub["identifier"], "value");
        out += "; " + (id.empty() ? std::string{} : id + ": ") + str(sub, "type") + " " + str(sub, "detail");
      }
  }
  return out;
}

/// Owns a published token: withdraws it when the scope ends.
class published_token {
public:
  published_token(const challenge_hooks& hooks, std::string token)
      : hooks_(hooks), token_(std::move(token)) {}
  published_token(const published_token&) = delete;
  published_token& operator=(const published_token&) = delete;
  ~published_token() {
    if (hooks_.withdraw) {
      try {
        hooks_.withdraw(token_);
      } catch (...) {
        // A hook must not throw; nothing sensible to do here.
      }
    }
  }

private:
  const challenge_hooks& hooks_;
  std::string token_;
};

/// One issuance: the HTTP client, the account, the current nonce.
class session {
public:
  session(const settings& s, const std::atomic<bool>* cancel)
      : settings_(s), http_(http_client_settings{s.ca_bundle, s.request_timeout, 1 << 20}), cancel_(cancel) {}

  result run(const std::vector<std::string>& names, std::string_view certificate_key_pem,
             const challenge_hooks& hooks);

private:
  bool cancelled() const { return cancel_ != nullptr && cancel_->load(std::memory_order_relaxed); }

  /// Sleeps up to `d`, waking early when cancelled; false if cancelled.
  bool pause(std::chrono::milliseconds d) const {
    auto until = clock::now() + d;
    while (clock::now() < until) {
      if (cancelled())
        return false;
      std::this_thread::sleep_for(std::min<clock::duration>(50ms, until - clock::now()));
    }
    return !cancelled();
  }

  void keep_nonce(const http_response& r) {
    auto n = r.header("replay-nonce");
    if (!n.empty())
      nonce_ = std::string{n};
  }

  /// The error for a CA response that is not a success.
  static error ca_error(std::string_view step, const http_response& r) {
    std::optional<std::uint32_t> retry;
    if (auto ra = r.header("retry-after"); !ra.empty())
      retry = parse_retry_after(ra);
    json problem = parse_json(r.body);
    std::string what = problem.is_object() ? describe_problem(problem) : std::string{"no problem document"};
    return fail(std::string{step} + ": the CA answered HTTP " + std::to_string(r.status) + ": " + what,
                retry);
  }

  outcome<json> get_directory();
  std::optional<error> fresh_nonce();
  outcome<http_response> post(std::string_view step, const std::string& url, const std::string& payload,
                              std::string_view accept = {});
  outcome<json> post_json(std::string_view step, const std::string& url, const std::string& payload,
                          http_response* raw = nullptr);
  std::optional<error> create_account();
  std::optional<error> authorize(const std::string& authz_url, const challenge_hooks& hooks);

  const settings& settings_;
  https_client http_;
  const std::atomic<bool>* cancel_;
  json directory_;
  ec_key account_;
  std::string kid_;
  std::string nonce_;
  int bad_nonce_retries_ = 0;
};

outcome<json> session::get_directory() {
  auto r = http_.request("GET", settings_.directory_url, {}, {}, "application/json");
  if (auto* e = std::get_if<error>(&r))
    return fail("directory: " + e->message);
  auto& resp = std::get<http_response>(r);
  if (resp.status != 200)
    return ca_error("directory", resp);
  json dir = parse_json(resp.body);
  if (!dir.is_object() || str(dir, "newNonce").empty() || str(dir, "newAccount").empty() ||
      str(dir, "newOrder").empty())
    return fail("directory: " + settings_.directory_url +
                " is not an ACME directory (no newNonce/newAccount/newOrder)");
  return dir;
}

std::optional<error> session::fresh_nonce() {
  auto r = http_.request("HEAD", str(directory_, "newNonce"));
  if (auto* e = std::get_if<error>(&r))
    return fail("newNonce: " + e->message);
  auto& resp = std::get<http_response>(r);
  keep_nonce(resp);
  if (resp.status != 200 && resp.status != 204)
    return ca_error("newNonce", resp);
  if (resp.header("replay-nonce").empty())
    return fail("newNonce: the CA sent no Replay-Nonce");
  return std::nullopt;
}

outcome<http_response> session::post(std::string_view step, const std::string& url,
                                     const std::string& payload, std::string_view accept) {
  for (int attempt = 0;; ++attempt) {
    if (cancelled())
      return fail(std::string{step} + ": cancelled");
    if (nonce_.empty())
      if (auto e = fresh_nonce())
        return fail(std::string{step} + ": " + e->message, e->retry_after);
    std::string nonce = std::exchange(nonce_, {});
    auto body = sign_jws(jws_signer{&account_, kid_}, nonce, url, payload);
    if (auto* e = std::get_if<error>(&body))
      return fail(std::string{step} + ": " + e->message);
    auto r = http_.request("POST", url, std::get<std::string>(body), jose_json, accept);
    if (auto* e = std::get_if<error>(&r))
      return fail(std::string{step} + ": " + e->message);
    auto& resp = std::get<http_response>(r);
    keep_nonce(resp);
    if (resp.status >= 200 && resp.status < 300)
      return std::move(resp);
    if (resp.status == 400 && attempt < max_nonce_retries &&
        str(parse_json(resp.body), "type") == bad_nonce) {
      ++bad_nonce_retries_;
      continue; // with the nonce from this response (or a fresh one)
    }
    return ca_error(step, resp);
  }
}

outcome<json> session::post_json(std::string_view step, const std::string& url, const std::string& payload,
                                 http_response* raw) {
  auto r = post(step, url, payload);
  if (auto* e = std::get_if<error>(&r))
    return *e;
  auto& resp = std::get<http_response>(r);
  json j = parse_json(resp.body);
  if (!j.is_object())
    return fail(std::string{step} + ": the CA's answer is not a JSON object");
  if (raw != nullptr)
    *raw = std::move(resp);
  return j;
}

std::optional<error> session::create_account() {
  json payload = {{"termsOfServiceAgreed", true}};
  if (!settings_.contact_email.empty())
    payload["contact"] = json::array({"mailto:" + settings_.contact_email});
  http_response raw;
  auto r = post_json("newAccount", str(directory_, "newAccount"), payload.dump(), &raw);
  if (auto* e = std::get_if<error>(&r))
    return *e;
  auto location = raw.header("location");
  if (location.empty())
    return fail("newAccount: the CA sent no Location for the account");
  std::string status = str(std::get<json>(r), "status");
  if (!status.empty() && status != "valid")
    return fail("newAccount: the account is " + status);
  kid_ = std::string{location};
  return std::nullopt;
}

std::optional<error> session::authorize(const std::string& authz_url, const challenge_hooks& hooks) {
  auto a = post_json("authorization", authz_url, "");
  if (auto* e = std::get_if<error>(&a))
    return *e;
  json authz = std::get<json>(a);
  std::string name = str(authz.value("identifier", json::object()), "value");
  std::string step = "authorization for " + (name.empty() ? authz_url : name);
  std::string status = str(authz, "status");
  if (status == "valid")
    return std::nullopt; // the CA reuses an earlier validation
  if (status != "pending")
    return fail(step + ": status is " + (status.empty() ? std::string{"missing"} : status));

  const json* challenge = nullptr;
  if (auto it = authz.find("challenges"); it != authz.end() && it->is_array())
    for (const auto& c : *it)
      if (str(c, "type") == "http-01") {
        challenge = &c;
        break;
      }
  if (challenge == nullptr)
    return fail(step + ": the CA offers no http-01 challenge");
  std::string token = str(*challenge, "token");
  std::string challenge_url = str(*challenge, "url");
  if (token.empty() || challenge_url.empty() ||
      token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                              "0123456789-_") != std::string::npos)
    return fail(step + ": the http-01 challenge has no valid token or URL");

  if (!hooks.publish)
    return fail(step + ": no publish hook for the http-01 token");
  try {
    hooks.publish(token, key_authorization(token, jwk_thumbprint(account_)));
  } catch (...) {
    return fail(step + ": publishing the http-01 token failed");
  }
  published_token guard{hooks, token};

  if (str(*challenge, "status") == "pending") {
    auto c = post_json(step + ": http-01 challenge", challenge_url, "{}");
    if (auto* e = std::get_if<error>(&c))
      return *e;
  }

  auto deadline = clock::now() + settings_.poll_limit;
  auto interval = min_poll_interval;
  for (;;) {
    http_response raw;
    auto p = post_json(step, authz_url, "", &raw);
    if (auto* e = std::get_if<error>(&p))
      return *e;
    const json& current = std::get<json>(p);
    status = str(current, "status");
    if (status == "valid")
      return std::nullopt;
    if (status == "invalid") {
      std::string why = "no reason given";
      if (auto it = current.find("challenges"); it != current.end() && it->is_array())
        for (const auto& c : *it)
          if (str(c, "type") == "http-01" && c.contains("error"))
            why = describe_problem(c["error"]);
      return fail(step + ": http-01 challenge failed: " + why);
    }
    if (status != "pending")
      return fail(step + ": status became " + (status.empty() ? std::string{"missing"} : status));
    auto wait = interval;
    if (auto ra = parse_retry_after(raw.header("retry-after")))
      wait = std::chrono::seconds{*ra};
    wait = std::max(wait, min_poll_interval);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left <= 0ms)
      return fail(step + ": still pending after " + std::to_string(settings_.poll_limit.count() / 1000) +
                  " s");
    if (!pause(std::min(wait, left)))
      return fail(step + ": cancelled");
    interval = std::min(interval * 3 / 2, max_poll_interval);
  }
}

result session::run(const std::vector<std::string>& names, std::string_view certificate_key_pem,
                    const challenge_hooks& hooks) {
  if (cancelled())
    return fail("cancelled");
  if (names.empty())
    return fail("no names to issue a certificate for");
  // Check the certificate key and the names before talking to the CA.
  auto csr = make_csr_der(certificate_key_pem, names);
  if (auto* e = std::get_if<error>(&csr))
    return *e;
  auto cert_key = ec_key::from_pem(certificate_key_pem);
  if (auto* e = std::get_if<error>(&cert_key))
    return fail("certificate key: " + e->message);

  auto key = load_or_create_account_key(settings_.account_key_file);
  if (auto* e = std::get_if<error>(&key))
    return *e;
  account_ = std::move(std::get<ec_key>(key));

  if (cancelled())
    return fail("cancelled");
  auto dir = get_directory();
  if (auto* e = std::get_if<error>(&dir))
    return *e;
  directory_ = std::move(std::get<json>(dir));

  if (auto e = fresh_nonce())
    return *e;
  if (auto e = create_account())
    return *e;

  json identifiers = json::array();
  for (const auto& n : names)
    identifiers.push_back({{"type", "dns"}, {"value", n}});
  http_response raw;
  auto o =
      post_json("newOrder", str(directory_, "newOrder"), json{{"identifiers", identifiers}}.dump(), &raw);
  if (auto* e = std::get_if<error>(&o))
    return *e;
  json order = std::get<json>(o);
  std::string order_url{raw.header("location")};
  std::string finalize_url = str(order, "finalize");
  if (order_url.empty() || finalize_url.empty())
    return fail("newOrder: the CA sent no order Location or finalize URL");

  if (auto it = order.find("authorizations"); it != order.end() && it->is_array()) {
    for (const auto& a : *it) {
      if (!a.is_string())
        return fail("newOrder: an authorization URL is not a string");
      if (cancelled())
        return fail("cancelled");
      if (auto e = authorize(a.get<std::string>(), hooks))
        return *e;
    }
  } else {
    return fail("newOrder: the order lists no authorizations");
  }

  if (cancelled())
    return fail("cancelled");
  auto f =
      post_json("finalize", finalize_url, json{{"csr", base64url(std::get<std::string>(csr))}}.dump(), &raw);
  if (auto* e = std::get_if<error>(&f))
    return *e;
  order = std::get<json>(f);

  auto deadline = clock::now() + settings_.poll_limit;
  auto interval = min_poll_interval;
  for (;;) {
    std::string status = str(order, "status");
    if (status == "valid")
      break;
    if (status == "invalid")
      return fail("order: became invalid" +
                  (order.contains("error") ? ": " + describe_problem(order["error"]) : std::string{}));
    if (status != "processing" && status != "ready" && status != "pending")
      return fail("order: unexpected status " + (status.empty() ? std::string{"(missing)"} : status));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left <= 0ms)
      return fail("order: still " + status + " after " + std::to_string(settings_.poll_limit.count() / 1000) +
                  " s");
    auto wait = interval;
    if (auto ra = parse_retry_after(raw.header("retry-after")))
      wait = std::max<std::chrono::milliseconds>(std::chrono::seconds{*ra}, min_poll_interval);
    if (!pause(std::min(wait, left)))
      return fail("order: cancelled");
    interval = std::min(interval * 3 / 2, max_poll_interval);
    auto p = post_json("order", order_url, "", &raw);
    if (auto* e = std::get_if<error>(&p))
      return *e;
    order = std::get<json>(p);
  }

  std::string certificate_url = str(order, "certificate");
  if (certificate_url.empty())
    return fail("order: valid but without a certificate URL");
  if (cancelled())
    return fail("cancelled");
  auto c = post("certificate", certificate_url, "", "application/pem-certificate-chain");
  if (auto* e = std::get_if<error>(&c))
    return *e;
  std::string chain = std::move(std::get<http_response>(c).body);

  // The leaf must be for our key: a CA mixing up orders must not go unnoticed.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new_mem_buf(chain.data(), static_cast<int>(chain.size())),
                                                &BIO_free};
  std::unique_ptr<X509, decltype(&X509_free)> leaf{
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free};
  ERR_clear_error();
  if (!leaf)
    return fail("certificate: the CA's answer is not a PEM certificate chain");
  if (EVP_PKEY_eq(X509_get0_pubkey(leaf.get()), std::get<ec_key>(cert_key).get()) != 1)
    return fail("certificate: the issued certificate is not for the given key");
  return issued{std::move(chain), kid_, bad_nonce_retries_};
}

} // namespace

outcome<ec_key> load_or_create_account_key(const std::string& path) {
  auto where = "account key " + path + ": ";
  if (path.empty())
    return fail("account key: no file given");
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    auto key = ec_key::generate();
    if (auto* e = std::get_if<error>(&key))
      return fail(where + e->message);
    secret_text pem = std::get<ec_key>(key).to_pem();
    if (pem.empty())
      return fail(where + "cannot encode the new key");
    // Written beside the target, then linked into place: never a partial
    // file, never replacing one made meanwhile by someone else.
    std::string tmp = path + ".tmp.XXXXXX";
    int out = ::mkstemp(tmp.data());
    if (out < 0)
      return fail(where + "cannot create: " + std::strerror(errno));
    bool ok = ::fchmod(out, 0600) == 0;
    for (std::string_view rest = pem.view(); ok && !rest.empty();) {
      ssize_t n = ::write(out, rest.data(), rest.size());
      if (n < 0 && errno == EINTR)
        continue;
      ok = n > 0;
      if (ok)
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    ok = ok && ::fsync(out) == 0;
    int saved = errno;
    ::close(out);
    if (!ok) {
      ::unlink(tmp.c_str());
      return fail(where + "cannot write: " + std::strerror(saved));
    }
    int linked = ::link(tmp.c_str(), path.c_str());
    saved = errno;
    ::unlink(tmp.c_str());
    if (linked == 0)
      return key;
    if (saved != EEXIST)
      return fail(where + "cannot create: " + std::strerror(saved));
    fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC); // made meanwhile: use that one
  }
  if (fd < 0)
    return fail(where + "cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(where + "not a regular file");
  }
  if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    ::close(fd);
    return fail(where + "must be owned by this user and not accessible to group or others (chmod 600)");
  }
  if (st.st_size > (1 << 16)) {
    ::close(fd);
    return fail(where + "too large for a key");
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  secret_text pem{std::move(text)};
  auto key = ec_key::from_pem(pem.view());
  if (auto* e = std::get_if<error>(&key))
    return fail(where + e->message);
  return key;
}

result issue(const settings& settings, const std::vector<std::string>& names,
             std::string_view certificate_key_pem, const challenge_hooks& hooks,
             const std::atomic<bool>* cancel) {
  try {
    session s{settings, cancel};
    return s.run(names, certificate_key_pem, hooks);
  } catch (const std::exception& e) {
    return fail(std::string{"ACME: internal error: "} + e.what());
  } catch (...) {
    return fail("ACME: internal error");
  }
}

} // namespace ika::acme
