#include "runtime/codec.hpp"

#include <typeindex>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/make_message.hpp>

namespace inferstack::wire {

namespace {

struct codec_entry {
  uint16_t kind;
  std::string_view name;
  std::string (*encode)(const caf::message&);
  std::optional<caf::message> (*decode)(const msgpack::object&);
};

template <class T>
std::string encode_as(const caf::message& msg) {
  return encode_value(msg.get_as<T>(0));
}

template <class T>
std::optional<caf::message> decode_as(const msgpack::object& obj) {
  T value;
  obj.convert(value);  // throws msgpack::type_error on a shape mismatch; caught by the caller
  return caf::make_message(std::move(value));
}

struct codec_table {
  std::unordered_map<uint16_t, codec_entry> by_kind;
  std::unordered_map<std::type_index, codec_entry> by_type;

  codec_table() {
#define INFERSTACK_CODEC_ENTRY(number, name, type) add<CAF_PP_EXPAND type>(number, #name);
    INFERSTACK_WIRE_MESSAGES(INFERSTACK_CODEC_ENTRY)
#undef INFERSTACK_CODEC_ENTRY
  }

  template <class T>
  void add(uint16_t kind, std::string_view name) {
    codec_entry e{kind, name, &encode_as<T>, &decode_as<T>};
    if (!by_kind.emplace(kind, e).second) throw std::logic_error("duplicate message kind");
    by_type.emplace(std::type_index(typeid(T)), e);
  }
};

const codec_table& table() {
  static const codec_table instance;  // immutable after construction
  return instance;
}

}  // namespace

std::optional<encoded_message> encode_message(const caf::message& msg) {
  if (msg.empty()) return encoded_message{0, {}};
  if (msg.size() != 1) return std::nullopt;
  auto rtti = msg.type(0);
  if (rtti.second == nullptr) return std::nullopt;
  auto& t = table();
  auto i = t.by_type.find(std::type_index(*rtti.second));
  if (i == t.by_type.end()) return std::nullopt;
  return encoded_message{i->second.kind, i->second.encode(msg)};
}

std::optional<caf::message> decode_message(uint16_t kind, std::string_view bytes,
                                           std::string* error) {
  if (kind == 0) {
    if (!bytes.empty()) {
      if (error) *error = "empty message kind with a payload";
      return std::nullopt;
    }
    return caf::message{};
  }
  auto& t = table();
  auto i = t.by_kind.find(kind);
  if (i == t.by_kind.end()) {
    if (error) *error = "unknown message kind " + std::to_string(kind);
    return std::nullopt;
  }
  try {
    msgpack::unpack_limit limit(1u << 24, 1u << 16, bytes.size(), bytes.size(), 1024, 32);
    std::size_t offset = 0;
    auto handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
    if (offset != bytes.size()) {
      if (error) *error = "trailing bytes after " + std::string(i->second.name);
      return std::nullopt;
    }
    return i->second.decode(handle.get());
  } catch (const std::exception& e) {
    if (error) *error = std::string(i->second.name) + ": " + e.what();
    return std::nullopt;
  }
}

std::string_view kind_name(uint16_t kind) {
  if (kind == 0) return "empty";
  auto& t = table();
  auto i = t.by_kind.find(kind);
  return i == t.by_kind.end() ? std::string_view{"unknown"} : i->second.name;
}

std::vector<uint16_t> all_kinds() {
  std::vector<uint16_t> out;
  for (auto& [kind, entry] : table().by_kind)
    out.push_back(kind);
  return out;
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

}  // namespace inferstack::wire
