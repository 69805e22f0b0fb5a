#include "runtime/actor_system_setup.hpp"

#include <caf/atom.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/message.hpp>

#include "runtime/catalogue.hpp"
#include "runtime/errors.hpp"

namespace inferstack::runtime {

system_config::system_config(scheduling mode, std::size_t worker_threads) {
  add_message_types<caf::id_block::inferstack>();
  add_error_category(caf::atom("transport"),
                     [](uint8_t code, caf::atom_value, const caf::message& context) {
                       auto text = "transport: " + to_string(static_cast<transport_errc>(code));
                       if (context.match_elements<std::string>())
                         text += ": " + context.get_as<std::string>(0);
                       else if (!context.empty())
                         text += " " + caf::deep_to_string(context);
                       return text;
                     });
  set("logger.file-verbosity", caf::atom("quiet"));
  set("logger.console-verbosity", caf::atom("quiet"));
  if (mode == scheduling::deterministic) {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.inline-output", true);
  } else if (worker_threads > 0) {
    set("scheduler.max-threads", worker_threads);
  }
}

}  // namespace inferstack::runtime
