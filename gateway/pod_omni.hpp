// llm-d-inference-sim's omni mode on a pod's own API (`run pod --omni`): a chat completion may
// come back with a synthetic image -- when the client sends X-Send-Image: true, or by the
// image-emission-rate draw. Then the answer's text goes as content blocks
// ([{"type":"text",...}, {"type":"image_url",...}] in a whole response, one text block per
// streamed chunk), each choice's image follows the token stream in its own chunk (top-level
// "modality":"image"), and the image takes time-to-generate-image after the last token.
// Only requests that get an image pay for this rewriting; the others never reach it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "openai/response.hpp"
#include "runtime/http/http_server.hpp"

namespace inferstack::gateway {

/// The omni settings of a running pod; the rate and the delays change at run time
/// (POST /admin/config), hence atomics.
struct omni_output {
  bool enabled = false;                 ///< --omni
  std::atomic<int> emission_rate{0};    ///< --image-emission-rate, percent
  std::atomic<int64_t> image_ns{0};     ///< --time-to-generate-image
  std::atomic<int64_t> image_sd_ns{0};  ///< --time-to-generate-image-std-dev
  uint64_t seed = 0;                    ///< the draws' (--seed)
  std::atomic<uint64_t> draws{0};

  /// Whether a chat completion with this X-Send-Image value (empty: none) gets an image: the
  /// header's Go bool when true, else the emission rate's draw. Never without --omni.
  bool send_image(std::string_view header);
  /// The time to generate one image: N(time-to-generate-image, its std-dev), at least 0.
  std::chrono::nanoseconds image_delay();

 private:
  uint64_t next();  ///< a uniform 64-bit draw (splitmix64 over a counter: no lock)
};

/// The synthetic image as a data URL (a 1x1 PNG).
std::string_view omni_image_url();

/// A whole chat completion body with each choice's content as blocks: its text, then the image
/// (only the image beside tool calls).
std::string with_image_blocks(std::string_view chat_body);

/// Streamed chat frames ("data: {...}\n\n" each) with every non-empty content string as one text
/// block; other frames unchanged.
std::string with_text_blocks(std::string_view frames);

/// The image chunk of choice `index` (object chat.completion.chunk, "modality":"image").
std::string sse_image_chunk(const openai::response_meta& meta, int index);

/// Streamed: after `delay`, each of `choices` choices' image chunk, then `tail` (usage, [DONE]),
/// and the stream ends.
void finish_stream_with_image(std::shared_ptr<http::exchange> ex, const openai::response_meta& meta,
                              size_t choices, std::chrono::nanoseconds delay, std::string tail);

/// Not streamed: `body` with image blocks, answered after `delay`.
void respond_with_image(std::shared_ptr<http::exchange> ex, std::string_view body,
                        http::header_list headers, std::chrono::nanoseconds delay);

}  // namespace inferstack::gateway
