// Placeholder until the certificate actor lands (replaced by h/certactor).
#include "actors/certificate.hpp"

#include <caf/send.hpp>

namespace ika::actors {

using namespace protocol;

certificate_actor::behavior_type certificate(certificate_pointer self, certificate_settings settings,
                                             caf::actor sink) {
  self->state.settings = std::move(settings);
  self->state.status.name = self->state.settings.name;
  self->state.status.source = self->state.settings.source;
  self->state.status.state = "failed";
  self->state.status.error = "not implemented";
  caf::anon_send(sink, certificate_atom::value, self->state.status);
  return {
      [self](status_atom) { return self->state.status; },
      [self](renew_atom) { return self->state.status; },
      [](timer_atom, std::uint64_t) {},
      [](issued_atom, std::uint64_t, const std::string&, std::uint32_t) {},
      [self](stop_atom) {
        self->quit();
        return ok_atom::value;
      },
  };
}

} // namespace ika::actors
