#include "runtime/wire/wire_error.hpp"

#include <caf/actor_system.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include "runtime/wire/message_codec.hpp"

namespace inferstack::wire {

std::optional<msgpack::object_handle> unpack_payload(std::string_view bytes, std::string_view name,
                                                     std::string* error) {
  try {
    msgpack::unpack_limit limit(1u << 24, 1u << 16, bytes.size(), bytes.size(), 1024, 32);
    std::size_t offset = 0;
    auto handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
    if (offset != bytes.size()) {
      if (error) *error = "trailing bytes after " + std::string(name);
      return std::nullopt;
    }
    return handle;
  } catch (const std::exception& e) {
    if (error) *error = std::string(name) + ": " + e.what();
    return std::nullopt;
  }
}

wire_error to_wire_error(const caf::error& err, const caf::actor_system* sys) {
  wire_error out;
  out.category = caf::to_string(err.category());
  out.code = err.code();
  out.context = sys != nullptr ? sys->render(err) : caf::deep_to_string(err.context());
  return out;
}

caf::error from_wire_error(const wire_error& err) {
  return caf::error(err.code, caf::atom_from_string(err.category), caf::make_message(err.context));
}

std::string encode_wire_error(const wire_error& err) {
  return encode_value(err);
}

std::optional<wire_error> decode_wire_error(std::string_view bytes, std::string* error) {
  auto handle = unpack_payload(bytes, "wire_error", error);
  if (!handle) return std::nullopt;
  try {
    wire_error out;
    handle->get().convert(out);
    return out;
  } catch (const std::exception& e) {
    if (error) *error = std::string("wire_error: ") + e.what();
    return std::nullopt;
  }
}

}  // namespace inferstack::wire
