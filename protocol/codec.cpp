#include "protocol/codec.hpp"

#include <stdexcept>
#include <typeindex>
#include <unordered_map>

#include <caf/make_message.hpp>

#include "protocol/catalogue.hpp"

namespace inferstack::protocol {

static_assert(static_cast<uint16_t>(message_kind::wire_error) == wire::wire_error_kind,
              "the transports write error frames with runtime's wire_error_kind");

namespace {

struct codec_entry {
  uint16_t kind;
  std::string_view name;
  std::string (*encode)(const caf::message&);
  std::optional<caf::message> (*decode)(const msgpack::object&);
};

template <class T>
std::string encode_as(const caf::message& msg) {
  return wire::encode_value(msg.get_as<T>(0));
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
#define INFERSTACK_CODEC_ENTRY(number, space, name) add<inferstack::space::name>(number, #name);
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

std::optional<wire::encoded_message> catalogue_codec::encode(const caf::message& msg) const {
  if (msg.empty()) return wire::encoded_message{0, {}};
  if (msg.size() != 1) return std::nullopt;
  auto rtti = msg.type(0);
  if (rtti.second == nullptr) return std::nullopt;
  auto& t = table();
  auto i = t.by_type.find(std::type_index(*rtti.second));
  if (i == t.by_type.end()) return std::nullopt;
  return wire::encoded_message{i->second.kind, i->second.encode(msg)};
}

std::optional<caf::message> catalogue_codec::decode(uint16_t kind, std::string_view bytes,
                                                    std::string* error) const {
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
  auto handle = wire::unpack_payload(bytes, i->second.name, error);
  if (!handle) return std::nullopt;
  try {
    return i->second.decode(handle->get());
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

}  // namespace inferstack::protocol
