#include "actors/probe/probe_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace inferstack::actors::probe {

namespace {

struct probe_state {
  std::string node_id;
  uint64_t notes = 0;
};

probe_actor::behavior_type probe_impl(probe_actor::stateful_pointer<probe_state> self,
                                      std::string node_id) {
  self->state.node_id = std::move(node_id);
  return {
      [=](probe_ping& ping) {
        return probe_pong{ping.seq, ping.sent_ns, self->state.node_id};
      },
      [](probe_echo& echo) { return echo; },
      [=](probe_stream_request& req) {
        // Items go to whoever asked (a local actor, or the proxy of a remote one) in order,
        // ahead of the reply that closes the stream.
        auto requester = caf::actor_cast<caf::actor>(self->current_sender());
        std::string data(req.item_bytes, 'x');
        for (uint64_t seq = 0; seq < req.count; ++seq)
          caf::unsafe_send_as(self, requester, probe_stream_item{req.stream, seq, data});
        return probe_stream_done{req.stream, req.count};
      },
      [=](probe_note&) { ++self->state.notes; },
      [=](probe_count_request&) { return probe_count{self->state.notes}; },
  };
}

}  // namespace

probe_actor spawn_probe(caf::actor_system& sys, std::string node_id) {
  return sys.spawn(probe_impl, std::move(node_id));
}

}  // namespace inferstack::actors::probe
