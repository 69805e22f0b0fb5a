// A pod's KV-event messages into an endpoint picker's precise prefix index, the picker actor's
// way: each message (topic kv@<pod>@<model>, a sequence number per topic, vLLM's msgpack
// payload) is decoded outside the picker's lock (decode_kv_message), then its sequence is checked
// and its batch applied under it (kv_message_feed::apply). A gap in a topic's sequence means
// lost batches: that pod's index starts over. tools/bench/kv_ingest measures this same path.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "actors/picker/scheduling/endpoint_picker.hpp"
#include "runtime/kv_events.hpp"

namespace inferstack::actors::picker {

struct kv_message {
  std::string pod;
  std::string model;
  std::optional<runtime::event_batch> batch;  ///< empty: the payload did not decode
  std::string error;                          ///< why it did not
};

/// Splits the topic and decodes the payload; nullopt when the topic is not kv@<pod>@<model>.
std::optional<kv_message> decode_kv_message(std::string_view topic, std::string_view payload);

struct kv_message_applied {
  bool gap = false;       ///< the sequence jumped: the pod's index was cleared first
  uint64_t last_seq = 0;  ///< with gap: the last sequence number seen before it
  bool applied = false;   ///< the batch reached the index (false: it did not decode)
};

/// The last sequence number per topic. Used under the picker's lock.
class kv_message_feed {
 public:
  kv_message_applied apply(endpoint_picker& picker, const std::string& topic, uint64_t seq,
                           const kv_message& message, int64_t now_ns);

 private:
  std::map<std::string, uint64_t> last_seq_;
};

}  // namespace inferstack::actors::picker
