#include "actors/picker/scheduling/kv_message_feed.hpp"

namespace inferstack::actors::picker {

std::optional<kv_message> decode_kv_message(std::string_view topic, std::string_view payload) {
  auto first = topic.find('@');
  auto last = topic.rfind('@');
  if (first == std::string_view::npos || last == first) return std::nullopt;
  kv_message out;
  out.pod = std::string(topic.substr(first + 1, last - first - 1));
  out.model = std::string(topic.substr(last + 1));
  out.batch = runtime::decode_batch(payload, &out.error);
  return out;
}

kv_message_applied kv_message_feed::apply(endpoint_picker& picker, const std::string& topic,
                                          uint64_t seq, const kv_message& message, int64_t now_ns) {
  kv_message_applied out;
  auto seen = last_seq_.find(topic);
  if (seen != last_seq_.end() && seq != seen->second + 1) {
    // Some batches are lost: the index may hold blocks the pod evicted. Start over for this pod
    // (the ZeroMQ subscriber asks for a replay first when it can).
    out.gap = true;
    out.last_seq = seen->second;
    picker.clear_kv_index(message.pod);
  }
  last_seq_[topic] = seq;
  if (!message.batch) return out;
  picker.apply_kv_events(message.pod, message.model, *message.batch, now_ns);
  out.applied = true;
  return out;
}

}  // namespace inferstack::actors::picker
