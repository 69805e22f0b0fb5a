// The console's page: ui/console.html, embedded at build time (ui/embed_page.cmake).
#pragma once

#include <string>

namespace inferstack::ui {

const std::string& console_page();

}  // namespace inferstack::ui
