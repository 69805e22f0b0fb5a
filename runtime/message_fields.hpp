// One field list per message, two encodings derived from it: the msgpack map used on every
// process boundary, and CAF's inspect() used by the actor system (type-erased messages,
// deep_to_string in logs). Writing the list once keeps the two from drifting apart.
#pragma once

#include <caf/meta/type_name.hpp>
#include <msgpack.hpp>

#define INFERSTACK_PP_NARG(...)                                                                   \
  INFERSTACK_PP_NARG_(__VA_ARGS__, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, \
                      8, 7, 6, 5, 4, 3, 2, 1)
#define INFERSTACK_PP_NARG_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, \
                            _17, _18, _19, _20, _21, _22, _23, _24, N, ...)                        \
  N
#define INFERSTACK_PP_CAT(a, b) INFERSTACK_PP_CAT_(a, b)
#define INFERSTACK_PP_CAT_(a, b) a##b

// Prefixes every field name with `x.` for the inspect() call.
#define INFERSTACK_PP_X1(a) x.a
#define INFERSTACK_PP_X2(a, ...) x.a, INFERSTACK_PP_X1(__VA_ARGS__)
#define INFERSTACK_PP_X3(a, ...) x.a, INFERSTACK_PP_X2(__VA_ARGS__)
#define INFERSTACK_PP_X4(a, ...) x.a, INFERSTACK_PP_X3(__VA_ARGS__)
#define INFERSTACK_PP_X5(a, ...) x.a, INFERSTACK_PP_X4(__VA_ARGS__)
#define INFERSTACK_PP_X6(a, ...) x.a, INFERSTACK_PP_X5(__VA_ARGS__)
#define INFERSTACK_PP_X7(a, ...) x.a, INFERSTACK_PP_X6(__VA_ARGS__)
#define INFERSTACK_PP_X8(a, ...) x.a, INFERSTACK_PP_X7(__VA_ARGS__)
#define INFERSTACK_PP_X9(a, ...) x.a, INFERSTACK_PP_X8(__VA_ARGS__)
#define INFERSTACK_PP_X10(a, ...) x.a, INFERSTACK_PP_X9(__VA_ARGS__)
#define INFERSTACK_PP_X11(a, ...) x.a, INFERSTACK_PP_X10(__VA_ARGS__)
#define INFERSTACK_PP_X12(a, ...) x.a, INFERSTACK_PP_X11(__VA_ARGS__)
#define INFERSTACK_PP_X13(a, ...) x.a, INFERSTACK_PP_X12(__VA_ARGS__)
#define INFERSTACK_PP_X14(a, ...) x.a, INFERSTACK_PP_X13(__VA_ARGS__)
#define INFERSTACK_PP_X15(a, ...) x.a, INFERSTACK_PP_X14(__VA_ARGS__)
#define INFERSTACK_PP_X16(a, ...) x.a, INFERSTACK_PP_X15(__VA_ARGS__)
#define INFERSTACK_PP_X17(a, ...) x.a, INFERSTACK_PP_X16(__VA_ARGS__)
#define INFERSTACK_PP_X18(a, ...) x.a, INFERSTACK_PP_X17(__VA_ARGS__)
#define INFERSTACK_PP_X19(a, ...) x.a, INFERSTACK_PP_X18(__VA_ARGS__)
#define INFERSTACK_PP_X20(a, ...) x.a, INFERSTACK_PP_X19(__VA_ARGS__)
#define INFERSTACK_PP_X21(a, ...) x.a, INFERSTACK_PP_X20(__VA_ARGS__)
#define INFERSTACK_PP_X22(a, ...) x.a, INFERSTACK_PP_X21(__VA_ARGS__)
#define INFERSTACK_PP_X23(a, ...) x.a, INFERSTACK_PP_X22(__VA_ARGS__)
#define INFERSTACK_PP_X24(a, ...) x.a, INFERSTACK_PP_X23(__VA_ARGS__)
#define INFERSTACK_PP_PREFIX_X(...) \
  INFERSTACK_PP_CAT(INFERSTACK_PP_X, INFERSTACK_PP_NARG(__VA_ARGS__))(__VA_ARGS__)

/// Declares the fields of a catalogue message: a msgpack map keyed by field name (fields can be
/// added later without breaking old readers) and CAF's inspect(); also equality for tests.
#define INFERSTACK_FIELDS(message_type, ...)                                            \
  MSGPACK_DEFINE_MAP(__VA_ARGS__)                                                       \
  bool operator==(const message_type&) const = default;                                 \
  template <class Inspector>                                                            \
  friend typename Inspector::result_type inspect(Inspector& f, message_type& x) {       \
    return f(caf::meta::type_name(#message_type), INFERSTACK_PP_PREFIX_X(__VA_ARGS__)); \
  }

/// A message without fields (a signal): an empty msgpack map.
#define INFERSTACK_NO_FIELDS(message_type)                                      \
  template <class Packer>                                                       \
  void msgpack_pack(Packer& pk) const {                                         \
    pk.pack_map(0);                                                             \
  }                                                                             \
  void msgpack_unpack(const msgpack::object& o) {                               \
    if (o.type != msgpack::type::MAP) throw msgpack::type_error();              \
  }                                                                             \
  bool operator==(const message_type&) const = default;                         \
  template <class Inspector>                                                    \
  friend typename Inspector::result_type inspect(Inspector& f, message_type&) { \
    return f(caf::meta::type_name(#message_type));                              \
  }
