// libFuzzer target: the manifest loader (runtime/config/manifests.hpp). A stack config is the
// operator's YAML, often edited by hand, so a mistake in it must come back as a problem that
// names where it is -- never a crash, a hang or an exception out of the loader. Loads the text
// as `inferstack check -f` does (documents, then cross references), and an override line
// (`--set Kind/name:path=value`) read from the input's first line and applied to the rest.
#include <cstdint>
#include <string>

#include "runtime/config/manifests.hpp"

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  inferstack::config::load_result result;
  inferstack::config::load_text(text, "fuzz.yaml", result);
  inferstack::config::validate_references(result.config, result.problems);
  for (const auto& p : result.problems) {
    require(!p.message.empty() && p.file == "fuzz.yaml");
    require(!p.to_string().empty());
  }
  // A text that loaded once loads the same way again (nothing hidden carried over).
  inferstack::config::load_result again;
  inferstack::config::load_text(text, "fuzz.yaml", again);
  inferstack::config::validate_references(again.config, again.problems);
  require(again.problems.size() == result.problems.size());

  // The first line as an override, applied to the documents that follow it.
  const auto newline = text.find('\n');
  std::string error;
  auto spec = inferstack::config::parse_override(text.substr(0, newline), &error);
  require(spec ? !spec->kind.empty() && !spec->path.empty() : !error.empty());
  if (spec && newline != std::string::npos) {
    inferstack::config::load_result overridden;
    inferstack::config::load_text(text.substr(newline + 1), "fuzz.yaml", overridden, {*spec});
    for (const auto& p : overridden.problems)
      require(!p.message.empty());
  }
  return 0;
}
