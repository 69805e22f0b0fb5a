// The planner's random text: llm-d-inference-sim's sentences, whole, the last one cut at the
// token count -- what the simulator's own suite checks (dataset.IsValidText) -- and the same
// text for the same seed.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "actors/pod/response_text.hpp"

using namespace inferstack::actors::pod;

namespace {

const std::vector<std::string> simulator_sentences = {
    R"s(Testing@, #testing 1$ ,2%,3^, [4&*5], 6~, 7-_ + (8 : 9) / \ < > . )s",
    "Testing, testing 1,2,3. ",
    "I am fine, how are you today? ",
    "I am your AI assistant, how can I help you today? ",
    "Today is a nice sunny day. ",
    "The temperature here is twenty-five degrees centigrade. ",
    "Today it is partially cloudy and raining. ",
    "To be or not to be that is the question. ",
    "Alas, poor Yorick! I knew him, Horatio: A fellow of infinite jest ",
    "The rest is silence. ",
    "Give a man a fish and you feed him for a day; teach a man to fish and you feed him for a "
    "lifetime ",
};

/// The simulator's check, restated: whole sentences one after the other, the rest a prefix of
/// one.
bool made_of_sentences(const std::string& text) {
  size_t at = 0;
  while (at < text.size()) {
    auto rest = std::string_view(text).substr(at);
    bool found = false;
    for (const auto& s : simulator_sentences) {
      if (rest.size() <= s.size() ? s.compare(0, rest.size(), rest) == 0
                                  : rest.substr(0, s.size()) == s) {
        at += std::min(rest.size(), s.size());
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

std::string joined(const planned_output& out) {
  std::string text;
  for (const auto& p : out.pieces)
    text += p;
  return text;
}

}  // namespace

TEST_CASE("random text is the simulator's sentences, the last cut at the token count") {
  output_length_spec sim_lengths;  // the simulator's length draw
  response_planner planner("random", sim_lengths, 1024, 42);
  bool saw_several = false;
  for (int i = 0; i < 200; ++i) {
    auto out = planner.plan("", 10, 100, /*ignore_eos=*/true);
    REQUIRE(out.pieces.size() == 100);
    REQUIRE(out.token_ids.size() == 100);
    auto text = joined(out);
    INFO(text);
    CHECK(made_of_sentences(text));
    saw_several = saw_several || text.size() > simulator_sentences.back().size();
  }
  CHECK(saw_several);
  // a short answer is a prefix of one sentence
  auto one = planner.plan("", 10, 3, true);
  CHECK(one.pieces.size() == 3);
  CHECK(made_of_sentences(joined(one)));
}

TEST_CASE("the same seed gives the same random text, another seed another") {
  output_length_spec sim_lengths;
  response_planner a("random", sim_lengths, 1024, 7), b("random", sim_lengths, 1024, 7),
      c("random", sim_lengths, 1024, 8);
  auto ta = joined(a.plan("", 10, 60, true));
  CHECK(ta == joined(b.plan("", 10, 60, true)));
  CHECK(ta != joined(c.plan("", 10, 60, true)));
}

TEST_CASE("encoder-only answers are \"!\" max_tokens times, once without max_tokens") {
  auto out = encoder_only_output(10);
  CHECK(out.pieces == std::vector<std::string>(10, "!"));
  CHECK(out.token_ids.size() == 10);
  CHECK(out.finish_reason == "length");
  CHECK(encoder_only_output(-1).pieces == std::vector<std::string>{"!"});
}
