#include "runtime/wire/envelope.hpp"

#include <msgpack.hpp>

namespace inferstack::wire {

std::string_view to_string(frame_type x) {
  switch (x) {
    case frame_type::send:
      return "send";
    case frame_type::request:
      return "request";
    case frame_type::response:
      return "response";
    case frame_type::error:
      return "error";
    case frame_type::heartbeat:
      return "heartbeat";
    case frame_type::heartbeat_ack:
      return "heartbeat_ack";
    case frame_type::event:
      return "event";
  }
  return "unknown";
}

namespace {

void pack_address(msgpack::packer<msgpack::sbuffer>& pk, const actor_address& a) {
  pk.pack_array(3);
  pk.pack(a.node);
  pk.pack(a.actor);
  pk.pack(a.name);
}

// Field readers: each checks the msgpack type before converting, so no msgpack exception can
// escape and every failure names the field.
bool read_uint(const msgpack::object& o, uint64_t& out) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) return false;
  out = o.via.u64;
  return true;
}

bool read_string(const msgpack::object& o, std::string& out) {
  if (o.type == msgpack::type::STR) {
    out.assign(o.via.str.ptr, o.via.str.size);
    return true;
  }
  if (o.type == msgpack::type::BIN) {
    out.assign(o.via.bin.ptr, o.via.bin.size);
    return true;
  }
  return false;
}

bool read_address(const msgpack::object& o, actor_address& out) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != 3) return false;
  const auto* f = o.via.array.ptr;
  return read_string(f[0], out.node) && read_uint(f[1], out.actor) && read_string(f[2], out.name);
}

decode_result fail(std::string why) {
  return decode_result{std::nullopt, std::move(why)};
}

}  // namespace

std::string encode(const envelope& x) {
  msgpack::sbuffer buf(64 + x.payload.size());
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(7);
  pk.pack(x.version);
  pk.pack(static_cast<uint8_t>(x.type));
  pack_address(pk, x.sender);
  pack_address(pk, x.receiver);
  pk.pack(x.correlation_id);
  pk.pack(x.kind);
  pk.pack_bin(static_cast<uint32_t>(x.payload.size()));
  pk.pack_bin_body(x.payload.data(), static_cast<uint32_t>(x.payload.size()));
  return std::string(buf.data(), buf.size());
}

decode_result decode(std::string_view bytes) {
  if (bytes.empty()) return fail("empty frame");
  if (bytes.size() > max_frame_bytes) return fail("frame larger than the limit");
  msgpack::object_handle handle;
  try {
    // Limits bound what a hostile frame can make the parser allocate.
    msgpack::unpack_limit limit(64, 64, bytes.size(), bytes.size(), 64, 8);
    std::size_t offset = 0;
    handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
    if (offset != bytes.size()) return fail("trailing bytes after the envelope");
  } catch (const std::exception& e) {
    return fail(std::string("not msgpack: ") + e.what());
  }
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY) return fail("envelope is not an array");
  if (root.via.array.size < 1) return fail("envelope has no version");
  const auto* f = root.via.array.ptr;
  uint64_t version = 0;
  if (!read_uint(f[0], version)) return fail("field 'version' is not an unsigned integer");
  if (version != wire_version)
    return fail("unsupported wire version " + std::to_string(version) + " (this build speaks " +
                std::to_string(wire_version) + ")");
  if (root.via.array.size != 7)
    return fail("envelope has " + std::to_string(root.via.array.size) + " fields, expected 7");
  envelope out;
  out.version = static_cast<uint32_t>(version);
  uint64_t type = 0;
  if (!read_uint(f[1], type) || type < 1 || type > static_cast<uint64_t>(max_frame_type))
    return fail("field 'type' is not a known frame type");
  out.type = static_cast<frame_type>(type);
  if (!read_address(f[2], out.sender)) return fail("field 'sender' is not an address");
  if (!read_address(f[3], out.receiver)) return fail("field 'receiver' is not an address");
  if (!read_uint(f[4], out.correlation_id))
    return fail("field 'correlation_id' is not an unsigned integer");
  uint64_t kind = 0;
  if (!read_uint(f[5], kind) || kind > 0xFFFF) return fail("field 'kind' is not a 16-bit kind");
  out.kind = static_cast<uint16_t>(kind);
  if (!read_string(f[6], out.payload)) return fail("field 'payload' is not binary");
  return decode_result{std::move(out), {}};
}

}  // namespace inferstack::wire
