#pragma once
// The HTTP-01 challenge responses a node answers right now: token -> key
// authorization. ACME threads publish a token before they ask the CA to
// validate it and withdraw it after; the HTTP listeners' io threads look
// tokens up for GET /.well-known/acme-challenge/TOKEN. Thread-safe; a
// lookup copies the answer out under a shared lock (challenges are rare,
// requests for them rarer still).

#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

namespace ika::acme {

class challenge_tokens {
public:
  void publish(std::string token, std::string key_authorization) {
    std::unique_lock lock{mutex_};
    tokens_[std::move(token)] = std::move(key_authorization);
  }

  void withdraw(std::string_view token) {
    std::unique_lock lock{mutex_};
    if (auto it = tokens_.find(token); it != tokens_.end())
      tokens_.erase(it);
  }

  std::optional<std::string> find(std::string_view token) const {
    std::shared_lock lock{mutex_};
    if (auto it = tokens_.find(token); it != tokens_.end())
      return it->second;
    return std::nullopt;
  }

  std::size_t size() const {
    std::shared_lock lock{mutex_};
    return tokens_.size();
  }

private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::string, std::less<>> tokens_;
};

} // namespace ika::acme
