// The message catalogue's names: every message that crosses an actor boundary, in one CAF
// type-ID block, each with one fixed wire kind. Declared over forward declarations (as CAF's
// examples/custom_type do), so each protocol header includes this at its top and nothing
// circles: a translation unit that sends a message gets its type ID without parsing every
// other protocol. The builds define CAF_ENABLE_TYPE_ID_CHECKS, so CAF refuses at compile time
// to put any type without an ID from this block into a message.
//
// To add a message: define it with INFERSTACK_FIELDS in its protocol header, declare it below,
// append one line to INFERSTACK_WIRE_MESSAGES with a new, never reused kind number, and include
// its header in protocol/catalogue.hpp. tests/protocol/catalogue_test.cpp then demands a sample
// for its round trip.
#pragma once

#include <cstdint>

#include <caf/type_id.hpp>

namespace inferstack::wire {
struct wire_error;
}  // namespace inferstack::wire

namespace inferstack::actors::probe {
struct probe_ping;
struct probe_pong;
struct probe_echo;
struct probe_stream_request;
struct probe_stream_item;
struct probe_stream_done;
struct probe_note;
struct probe_count_request;
struct probe_count;
}  // namespace inferstack::actors::probe

namespace inferstack::actors::authorizer {
struct authorize_request;
struct authorize_result;
struct namespace_keys;
struct key_set;
struct key_set_applied;
}  // namespace inferstack::actors::authorizer

namespace inferstack::actors::router {
struct route_backend_entry;
struct route_entry;
struct route_set;
struct route_set_applied;
struct route_request;
struct route_decision;
struct models_request;
struct model_list;
}  // namespace inferstack::actors::router

namespace inferstack::actors::pod {
struct generate_request;
struct token_chunk;
struct stream_ack;
struct cancel_request;
struct choice_result;
struct generate_result;
struct load_report;
struct kv_event_message;
struct mark_ready;
struct drain_request;
struct drain_done;
struct status_request;
struct lora_change;
struct lora_change_result;
}  // namespace inferstack::actors::pod

namespace inferstack::actors::picker {
struct pool_member;
struct pool_membership;
struct choose_pod;
struct chosen_pod;
struct request_done;
}  // namespace inferstack::actors::picker

namespace inferstack::gateway {
struct upstream_event;
}  // namespace inferstack::gateway

namespace inferstack::actors::node_mocker {
struct pod_template;
struct delete_pod;
struct pod_event;
struct node_info;
struct pod_info;
struct cluster_query;
struct cluster_snapshot;
struct pod_loaded;
struct node_provisioned;
struct pod_exited;
}  // namespace inferstack::actors::node_mocker

namespace inferstack::actors::controller {
struct scale_set;
struct scale_result;
struct set_status;
struct set_status_query;
struct set_status_list;
struct reconcile_now;
}  // namespace inferstack::actors::controller

namespace inferstack::actors::scaler {
struct activate_pool;
struct activation;
struct scaler_tick;
}  // namespace inferstack::actors::scaler

// X(kind number, enum name, (fully qualified type)) -- kind numbers are on the wire: never
// renumber or reuse one.
#define INFERSTACK_WIRE_MESSAGES(X)                                              \
  /* error payload of a failed request */                                        \
  X(1, wire_error, (inferstack::wire::wire_error))                               \
  /* transport probe: liveness, echo, streams, one-way notes */                  \
  X(10, probe_ping, (inferstack::actors::probe::probe_ping))                     \
  X(11, probe_pong, (inferstack::actors::probe::probe_pong))                     \
  X(12, probe_echo, (inferstack::actors::probe::probe_echo))                     \
  X(13, probe_stream_request, (inferstack::actors::probe::probe_stream_request)) \
  X(14, probe_stream_item, (inferstack::actors::probe::probe_stream_item))       \
  X(15, probe_stream_done, (inferstack::actors::probe::probe_stream_done))       \
  X(16, probe_note, (inferstack::actors::probe::probe_note))                     \
  X(17, probe_count_request, (inferstack::actors::probe::probe_count_request))   \
  X(18, probe_count, (inferstack::actors::probe::probe_count))                   \
  /* authorizer */                                                               \
  X(100, authorize_request, (inferstack::actors::authorizer::authorize_request)) \
  X(101, authorize_result, (inferstack::actors::authorizer::authorize_result))   \
  X(102, namespace_keys, (inferstack::actors::authorizer::namespace_keys))       \
  X(103, key_set, (inferstack::actors::authorizer::key_set))                     \
  X(104, key_set_applied, (inferstack::actors::authorizer::key_set_applied))     \
  /* router */                                                                   \
  X(120, route_backend_entry, (inferstack::actors::router::route_backend_entry)) \
  X(121, route_entry, (inferstack::actors::router::route_entry))                 \
  X(122, route_set, (inferstack::actors::router::route_set))                     \
  X(123, route_set_applied, (inferstack::actors::router::route_set_applied))     \
  X(124, route_request, (inferstack::actors::router::route_request))             \
  X(125, route_decision, (inferstack::actors::router::route_decision))           \
  X(126, models_request, (inferstack::actors::router::models_request))           \
  X(127, model_list, (inferstack::actors::router::model_list))                   \
  /* pod */                                                                      \
  X(140, generate_request, (inferstack::actors::pod::generate_request))          \
  X(141, token_chunk, (inferstack::actors::pod::token_chunk))                    \
  X(142, stream_ack, (inferstack::actors::pod::stream_ack))                      \
  X(143, cancel_request, (inferstack::actors::pod::cancel_request))              \
  X(144, choice_result, (inferstack::actors::pod::choice_result))                \
  X(145, generate_result, (inferstack::actors::pod::generate_result))            \
  X(146, load_report, (inferstack::actors::pod::load_report))                    \
  X(147, kv_event_message, (inferstack::actors::pod::kv_event_message))          \
  X(148, mark_ready, (inferstack::actors::pod::mark_ready))                      \
  X(149, drain_request, (inferstack::actors::pod::drain_request))                \
  X(150, drain_done, (inferstack::actors::pod::drain_done))                      \
  X(151, status_request, (inferstack::actors::pod::status_request))              \
  X(152, lora_change, (inferstack::actors::pod::lora_change))                    \
  X(153, lora_change_result, (inferstack::actors::pod::lora_change_result))      \
  /* picker */                                                                   \
  X(170, pool_member, (inferstack::actors::picker::pool_member))                 \
  X(171, pool_membership, (inferstack::actors::picker::pool_membership))         \
  X(172, choose_pod, (inferstack::actors::picker::choose_pod))                   \
  X(173, chosen_pod, (inferstack::actors::picker::chosen_pod))                   \
  X(174, request_done, (inferstack::actors::picker::request_done))               \
  /* gateway */                                                                  \
  X(190, upstream_event, (inferstack::gateway::upstream_event))                  \
  /* node mocker */                                                              \
  X(200, pod_template, (inferstack::actors::node_mocker::pod_template))          \
  X(201, delete_pod, (inferstack::actors::node_mocker::delete_pod))              \
  X(202, pod_event, (inferstack::actors::node_mocker::pod_event))                \
  X(203, node_info, (inferstack::actors::node_mocker::node_info))                \
  X(204, pod_info, (inferstack::actors::node_mocker::pod_info))                  \
  X(205, cluster_query, (inferstack::actors::node_mocker::cluster_query))        \
  X(206, cluster_snapshot, (inferstack::actors::node_mocker::cluster_snapshot))  \
  X(207, pod_loaded, (inferstack::actors::node_mocker::pod_loaded))              \
  X(208, node_provisioned, (inferstack::actors::node_mocker::node_provisioned))  \
  X(209, pod_exited, (inferstack::actors::node_mocker::pod_exited))              \
  /* controller */                                                               \
  X(220, scale_set, (inferstack::actors::controller::scale_set))                 \
  X(221, scale_result, (inferstack::actors::controller::scale_result))           \
  X(222, set_status, (inferstack::actors::controller::set_status))               \
  X(223, set_status_query, (inferstack::actors::controller::set_status_query))   \
  X(224, set_status_list, (inferstack::actors::controller::set_status_list))     \
  X(225, reconcile_now, (inferstack::actors::controller::reconcile_now))         \
  /* scaler */                                                                   \
  X(240, activate_pool, (inferstack::actors::scaler::activate_pool))             \
  X(241, activation, (inferstack::actors::scaler::activation))                   \
  X(242, scaler_tick, (inferstack::actors::scaler::scaler_tick))

#define INFERSTACK_ADD_CATALOGUE_TYPE(number, name, type) CAF_ADD_TYPE_ID(inferstack, type)

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
#define INFERSTACK_KIND_ENUM(number, name, type) name = number,
  INFERSTACK_WIRE_MESSAGES(INFERSTACK_KIND_ENUM)
#undef INFERSTACK_KIND_ENUM
};

/// kind_of<T>::value is the wire kind of catalogue message T.
template <class T>
struct kind_of;

#define INFERSTACK_KIND_OF(number, name, type)                \
  template <>                                                 \
  struct kind_of<CAF_PP_EXPAND type> {                        \
    static constexpr message_kind value = message_kind::name; \
  };
INFERSTACK_WIRE_MESSAGES(INFERSTACK_KIND_OF)
#undef INFERSTACK_KIND_OF

}  // namespace inferstack::protocol
