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
  X(104, key_set_applied, (inferstack::actors::authorizer::key_set_applied))

#define INFERSTACK_ADD_CATALOGUE_TYPE(number, name, type) CAF_ADD_TYPE_ID(inferstack, type)

CAF_BEGIN_TYPE_ID_BLOCK(inferstack, caf::first_custom_type_id)

INFERSTACK_WIRE_MESSAGES(INFERSTACK_ADD_CATALOGUE_TYPE)

// Local-only signals (timers inside one actor); they never cross a process boundary.
CAF_ADD_ATOM(inferstack, inferstack::atoms, tick_atom, "tick")
CAF_ADD_ATOM(inferstack, inferstack::atoms, flush_atom, "flush")
CAF_ADD_ATOM(inferstack, inferstack::atoms, stop_atom, "stop")

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
