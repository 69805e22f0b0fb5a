// Runs actors on CAF's deterministic test coordinator inside Catch2 test cases (the
// runtime::simulation underneath): nothing happens until the test says run(), and time moves
// only by advance_time(). (CAF's own test DSL needs CAF's test engine, so it cannot be used from
// Catch2; this is the part we need.) Adds a scoped actor for requests and mailbox checks.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include "protocol/registration.hpp"
#include "runtime/simulation.hpp"

namespace inferstack::testing {

class caf_fixture : public runtime::simulation {
 public:
  caf_fixture() : runtime::simulation(protocol::register_messages), self(sys, true) {}

  /// Sends a request from the test's scoped actor and runs the system until the answer is in.
  template <class T, class Handle, class... Ts>
  caf::expected<T> request(const Handle& dest, Ts&&... xs) {
    self->send(dest, std::forward<Ts>(xs)...);
    return take_response<T>();
  }

  /// Takes the next message of type T from the test's mailbox after running the system.
  template <class T>
  std::optional<T> received() {
    run();
    std::optional<T> out;
    bool again = true;
    while (again && !out) {
      again = false;
      self->receive([&](T& x) { out = std::move(x); },
                    [&](caf::message&) { again = true; },  // skip others
                    caf::after(std::chrono::seconds(0)) >> [] {});
    }
    return out;
  }

  caf::scoped_actor self;

 private:
  template <class T>
  caf::expected<T> take_response() {
    run();
    caf::expected<T> out = caf::make_error(caf::sec::request_timeout);
    self->receive([&](T& x) { out = std::move(x); }, [&](caf::error& err) { out = err; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return out;
  }
};

/// An actor that keeps every message it gets, for tests to inspect.
struct message_log {
  std::vector<caf::message> messages;

  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& m : messages)
      if (m.match_elements<T>()) out.push_back(m.get_as<T>(0));
    return out;
  }
};

inline caf::actor spawn_recorder(caf::actor_system& sys, std::shared_ptr<message_log> log) {
  return sys.spawn([log](caf::event_based_actor* self) -> caf::behavior {
    self->set_default_handler(
        [log](caf::scheduled_actor*, caf::message_view& view) -> caf::result<caf::message> {
          log->messages.push_back(view.move_content_to_message());
          return caf::message{};
        });
    return {[](caf::exit_msg&) {}};
  });
}

}  // namespace inferstack::testing
