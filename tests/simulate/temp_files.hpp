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

/// A fresh folder of its own under temp_dir(tag), removed with the object; write() puts a file in.
struct scratch_dir {
  std::filesystem::path path;
  explicit scratch_dir(const std::string& tag = "scratch") {
    static int count = 0;
    path = temp_dir(tag) / ("scratch-" + std::to_string(++count));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~scratch_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

/// A file's whole content ("" when it cannot be read).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace inferstack::simulate::testing
