// Temporary files for the simulate tests: a directory of this test process's own, removed when
// the process ends, and whole-file reads.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace inferstack::simulate::testing {

/// This process's directory of temporary files ("inferstack-<tag>-<pid>"), removed at exit.
inline const std::filesystem::path& temp_dir(const std::string& tag) {
  struct owned {
    std::filesystem::path path;
    explicit owned(const std::string& tag)
        : path(std::filesystem::temp_directory_path() /
               ("inferstack-" + tag + "-" + std::to_string(::getpid()))) {
      std::filesystem::create_directories(path);
    }
    ~owned() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const owned dir(tag);  // one directory a test process: the first tag names it
  return dir.path;
}

/// A file's whole content ("" when it cannot be read).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace inferstack::simulate::testing
