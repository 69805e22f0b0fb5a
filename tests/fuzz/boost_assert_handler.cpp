// Boost's assertion handler in fuzz builds (BOOST_ENABLE_ASSERT_HANDLER, see CMakeLists.txt): a
// failed assertion prints where and aborts, so libFuzzer reports it with the input -- except one
// that Boost itself has since found wrong.
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace boost {

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  // Beast 1.74's chunk parser asserts n >= 5 when it comes back to a chunked body's last chunk
  // ("0\r\n") with fewer than two more bytes; the code after it handles that (need_more).
  // Upstream corrected the assertion in boostorg/beast#2861 (Boost 1.86).
  if (std::strcmp(expr, "n >= 5") == 0 && std::strstr(file, "beast/http/impl/basic_parser.ipp"))
    return;
  std::fprintf(stderr, "%s:%ld: %s: Boost assertion '%s' failed.\n", file, line, function, expr);
  std::abort();
}

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file,
                          long line) {
  std::fprintf(stderr, "%s:%ld: %s: Boost assertion '%s' failed: %s\n", file, line, function, expr,
               msg);
  std::abort();
}

}  // namespace boost
