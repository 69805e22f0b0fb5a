#include "protocol/registration.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>

#include "protocol/catalogue.hpp"
#include "runtime/actor_system_setup.hpp"

namespace inferstack::protocol {

void register_messages(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::inferstack>();
  cfg.add_error_category(caf::atom("router"),
                         runtime::render_errors_of<actors::router::router_errc>("router"));
  cfg.add_error_category(caf::atom("pod"), runtime::render_errors_of<actors::pod::pod_errc>("pod"));
  cfg.add_error_category(caf::atom("picker"),
                         runtime::render_errors_of<actors::picker::picker_errc>("picker"));
}

}  // namespace inferstack::protocol
