// libFuzzer target: the vLLM KV-event decoder takes bytes from any ZeroMQ publisher (real vLLM,
// llm-d-inference-sim, our pods), so it must refuse garbage cleanly. A decoded batch must encode
// and decode back to itself.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "runtime/kv_events.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto batch = inferstack::runtime::decode_batch(bytes, &error);
  if (!batch) {
    if (error.empty()) std::abort();
    return 0;
  }
  for (auto format :
       {inferstack::runtime::event_format::array, inferstack::runtime::event_format::map}) {
    auto again =
        inferstack::runtime::decode_batch(inferstack::runtime::encode_batch(*batch, format));
    if (!again) std::abort();
    // ts is any float64 the producer sent, NaN included, and NaN != NaN.
    auto expected = *batch;
    if (std::isnan(again->ts) && std::isnan(expected.ts)) again->ts = expected.ts = 0;
    if (!(*again == expected)) std::abort();
  }
  return 0;
}
