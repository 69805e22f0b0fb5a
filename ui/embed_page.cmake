# Writes OUTPUT: a C++ source defining inferstack::ui::console_page() as the text of INPUT, in a
# raw string literal (cmake -DINPUT=... -DOUTPUT=... -P embed_page.cmake).
file(READ ${INPUT} page)
set(delimiter "inferstack_page")
string(FIND "${page}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string's end ')${delimiter}\"'")
endif()
file(WRITE ${OUTPUT} "// Generated from ui/console.html by ui/embed_page.cmake: do not edit.
#include \"ui/console_page.hpp\"

namespace inferstack::ui {

const std::string& console_page() {
  static const std::string page = R\"${delimiter}(${page})${delimiter}\";
  return page;
}

}  // namespace inferstack::ui
")
