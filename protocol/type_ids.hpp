// The message catalogue's names: every message that crosses an actor boundary, in one CAF
// type-ID block, each with one fixed wire kind. Given over forward declarations (as CAF's
// examples/custom_type do), so each protocol header includes this at its top and nothing
// circles: a translation unit that sends a message gets its type ID without parsing every
// other protocol. The builds define CAF_ENABLE_TYPE_ID_CHECKS, so CAF refuses at compile time
// to put any type without an ID from this block into a message.
//
// To add a message: define it with INFERSTACK_FIELDS in its protocol header, append one line to
// INFERSTACK_WIRE_MESSAGES with a new, never reused kind number (and include the header in
// protocol/catalogue.hpp if it is a new one). tests/protocol/catalogue_test.cpp then demands a
// sample for its round trip.
#pragma once

#include <cstdint>

#include <caf/type_id.hpp>

// X(kind number, namespace below inferstack::, name) -- the message is
// inferstack::<namespace>::<name> and its kind is message_kind::<name>. Kind numbers are on the
// wire: never renumber or reuse one.
#define INFERSTACK_WIRE_MESSAGES(X)                             \
  /* error payload of a failed request */                       \
  X(1, wire, wire_error)                                        \
  /* transport probe: liveness, echo, streams, one-way notes */ \
  X(10, actors::probe, probe_ping)                              \
  X(11, actors::probe, probe_pong)                              \
  X(12, actors::probe, probe_echo)                              \
  X(13, actors::probe, probe_stream_request)                    \
  X(14, actors::probe, probe_stream_item)                       \
  X(15, actors::probe, probe_stream_done)                       \
  X(16, actors::probe, probe_note)                              \
  X(17, actors::probe, probe_count_request)                     \
  X(18, actors::probe, probe_count)                             \
  /* authorizer */                                              \
  X(100, actors::authorizer, authorize_request)                 \
  X(101, actors::authorizer, authorize_result)                  \
  X(102, actors::authorizer, namespace_keys)                    \
  X(103, actors::authorizer, key_set)                           \
  X(104, actors::authorizer, key_set_applied)                   \
  /* router */                                                  \
  X(120, actors::router, route_backend_entry)                   \
  X(121, actors::router, route_entry)                           \
  X(122, actors::router, route_set)                             \
  X(123, actors::router, route_set_applied)                     \
  X(124, actors::router, route_request)                         \
  X(125, actors::router, route_decision)                        \
  X(126, actors::router, models_request)                        \
  X(127, actors::router, model_list)                            \
  /* pod */                                                     \
  X(140, actors::pod, generate_request)                         \
  X(141, actors::pod, token_chunk)                              \
  X(142, actors::pod, stream_ack)                               \
  X(143, actors::pod, cancel_request)                           \
  X(144, actors::pod, choice_result)                            \
  X(145, actors::pod, generate_result)                          \
  X(146, actors::pod, load_report)                              \
  X(147, actors::pod, kv_event_message)                         \
  X(148, actors::pod, mark_ready)                               \
  X(149, actors::pod, drain_request)                            \
  X(150, actors::pod, drain_done)                               \
  X(151, actors::pod, status_request)                           \
  X(152, actors::pod, lora_change)                              \
  X(153, actors::pod, lora_change_result)                       \
  X(154, actors::pod, freeze_pod)                               \
  X(155, actors::pod, apply_options)                            \
  X(156, actors::pod, options_applied)                          \
  X(157, actors::pod, sleep_control)                            \
  /* picker */                                                  \
  X(170, actors::picker, pool_member)                           \
  X(171, actors::picker, pool_membership)                       \
  X(172, actors::picker, choose_pod)                            \
  X(173, actors::picker, chosen_pod)                            \
  X(174, actors::picker, request_done)                          \
  X(175, actors::picker, recent_picks)                          \
  X(176, actors::picker, pick_decisions)                        \
  X(177, actors::picker, cancel_pick)                           \
  /* picker replicas (actors/picker/replication/) */            \
  X(178, actors::picker, replica_decision)                      \
  X(179, actors::picker, replica_in_flight)                     \
  X(180, actors::picker, replica_batch)                         \
  X(181, actors::picker, replica_snapshot_request)              \
  X(182, actors::picker, replica_snapshot)                      \
  X(183, actors::picker, replica_peer)                          \
  X(184, actors::picker, replica_peers)                         \
  /* gateway */                                                 \
  X(190, gateway, upstream_event)                               \
  /* node mocker */                                             \
  X(200, actors::node_mocker, pod_template)                     \
  X(201, actors::node_mocker, delete_pod)                       \
  X(202, actors::node_mocker, pod_event)                        \
  X(203, actors::node_mocker, node_info)                        \
  X(204, actors::node_mocker, pod_info)                         \
  X(205, actors::node_mocker, cluster_query)                    \
  X(206, actors::node_mocker, cluster_snapshot)                 \
  X(207, actors::node_mocker, pod_loaded)                       \
  X(208, actors::node_mocker, node_provisioned)                 \
  X(209, actors::node_mocker, pod_exited)                       \
  X(210, actors::node_mocker, lose_node)                        \
  X(211, actors::node_mocker, node_command)                     \
  X(212, actors::node_mocker, node_command_result)              \
  X(213, actors::node_mocker, node_reclaimed)                   \
  X(214, actors::node_mocker, reclaim_due)                      \
  /* controller */                                              \
  X(220, actors::controller, scale_set)                         \
  X(221, actors::controller, scale_result)                      \
  X(222, actors::controller, set_status)                        \
  X(223, actors::controller, set_status_query)                  \
  X(224, actors::controller, set_status_list)                   \
  X(225, actors::controller, reconcile_now)                     \
  /* scaler */                                                  \
  X(240, actors::scaler, activate_pool)                         \
  X(241, actors::scaler, activation)                            \
  X(242, actors::scaler, scaler_tick)                           \
  X(243, actors::scaler, pod_loads_query)                       \
  X(244, actors::scaler, pod_loads)

// Declares every message, so its type ID can be given here without its definition.
#define INFERSTACK_DECLARE_MESSAGE(number, space, name) \
  namespace inferstack::space {                         \
  struct name;                                          \
  }
INFERSTACK_WIRE_MESSAGES(INFERSTACK_DECLARE_MESSAGE)
#undef INFERSTACK_DECLARE_MESSAGE

#define INFERSTACK_ADD_CATALOGUE_TYPE(number, space, name) \
  CAF_ADD_TYPE_ID(inferstack, (inferstack::space::name))

CAF_BEGIN_TYPE_ID_BLOCK(inferstack, caf::first_custom_type_id)

INFERSTACK_WIRE_MESSAGES(INFERSTACK_ADD_CATALOGUE_TYPE)

// Local-only signals (timers inside one actor); they never cross a process boundary.
CAF_ADD_ATOM(inferstack, inferstack::atoms, tick_atom, "tick")
CAF_ADD_ATOM(inferstack, inferstack::atoms, flush_atom, "flush")
CAF_ADD_ATOM(inferstack, inferstack::atoms, stop_atom, "stop")
CAF_ADD_ATOM(inferstack, inferstack::atoms, step_atom, "step")
CAF_ADD_ATOM(inferstack, inferstack::atoms, report_atom, "report")
CAF_ADD_ATOM(inferstack, inferstack::atoms, ready_atom, "ready")
CAF_ADD_ATOM(inferstack, inferstack::atoms, timeout_atom, "timeout")

CAF_END_TYPE_ID_BLOCK(inferstack)

namespace inferstack::protocol {

/// Wire kind of every catalogue message (0 = empty payload, e.g. a void reply).
enum class message_kind : uint16_t {
  empty = 0,
#define INFERSTACK_KIND_ENUM(number, space, name) name = number,
  INFERSTACK_WIRE_MESSAGES(INFERSTACK_KIND_ENUM)
#undef INFERSTACK_KIND_ENUM
};

/// kind_of<T>::value is the wire kind of catalogue message T.
template <class T>
struct kind_of;

#define INFERSTACK_KIND_OF(number, space, name)               \
  template <>                                                 \
  struct kind_of<inferstack::space::name> {                   \
    static constexpr message_kind value = message_kind::name; \
  };
INFERSTACK_WIRE_MESSAGES(INFERSTACK_KIND_OF)
#undef INFERSTACK_KIND_OF

}  // namespace inferstack::protocol
