// The message catalogue: every message that crosses an actor boundary, in one CAF type-ID
// block, each with one fixed wire kind. The builds define CAF_ENABLE_TYPE_ID_CHECKS, so CAF
// refuses at compile time to put any type without an ID from this block into a message.
//
// To add a message: define it with INFERSTACK_FIELDS in its protocol header, include the
// header below, and append one line to INFERSTACK_WIRE_MESSAGES with a new, never reused
// kind number. tests/runtime/catalogue_test.cpp then demands a sample for its round trip.
#pragma once

#include <caf/type_id.hpp>

#include "actors/authorizer/authorizer_protocol.hpp"
#include "actors/controller/controller_protocol.hpp"
#include "actors/node_mocker/node_mocker_protocol.hpp"
#include "actors/picker/picker_protocol.hpp"
#include "actors/pod/pod_protocol.hpp"
#include "actors/router/router_protocol.hpp"
#include "actors/scaler/scaler_protocol.hpp"
#include "gateway/gateway_protocol.hpp"
#include "runtime/probe_protocol.hpp"
#include "runtime/wire/wire_error.hpp"

// X(kind number, enum name, (fully qualified type)) -- kind numbers are on the wire: never
// renumber or reuse one.
#define INFERSTACK_WIRE_MESSAGES(X)                                              \
  /* error payload of a failed request */                                        \
  X(1, wire_error, (inferstack::wire::wire_error))                               \
  /* transport probe: liveness, echo, streams, one-way notes */                  \
  X(10, probe_ping, (inferstack::runtime::probe_ping))                           \
  X(11, probe_pong, (inferstack::runtime::probe_pong))                           \
  X(12, probe_echo, (inferstack::runtime::probe_echo))                           \
  X(13, probe_stream_request, (inferstack::runtime::probe_stream_request))       \
  X(14, probe_stream_item, (inferstack::runtime::probe_stream_item))             \
  X(15, probe_stream_done, (inferstack::runtime::probe_stream_done))             \
  X(16, probe_note, (inferstack::runtime::probe_note))                           \
  X(17, probe_count_request, (inferstack::runtime::probe_count_request))         \
  X(18, probe_count, (inferstack::runtime::probe_count))                         \
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

namespace inferstack::wire {

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

}  // namespace inferstack::wire
