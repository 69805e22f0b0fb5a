// The report's plots: the data files and a gnuplot script written from the runs, then gnuplot run
// on the script. gnuplot draws; this file computes the curves and writes text.
#include "simulate/report/plots.hpp"

#include <sys/wait.h>  // WIFEXITED / WEXITSTATUS of pclose's status

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace inferstack::simulate {
namespace {

namespace fs = std::filesystem;

constexpr int64_t ns_per_s = 1'000'000'000;
/// The trailing window of the TTFT p90 and hit-rate curves (the series' TTFT p90 uses 10 s too).
constexpr int64_t window_s = 10;
/// At most this many points of a TTFT CDF: enough for a smooth curve, small enough for an SVG.
constexpr size_t cdf_points = 2000;
/// Legends longer than this (characters) lose their middle.
constexpr size_t legend_max = 36;
/// Okabe-Ito colours (told apart by colour-blind readers), without the yellow, pale on white.
constexpr const char* colours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                   "#E69F00", "#56B4E9", "#000000"};
constexpr size_t colour_count = sizeof colours / sizeof colours[0];
constexpr const char* images[] = {"ttft_cdf", "ttft_p90_replicas", "hit_rate"};

/// What a variant's data files hold, so the script plots only curves that have points.
struct variant_data {
  std::string name;    ///< the start of its file names
  std::string legend;  ///< as a gnuplot string literal
  std::string cdf_file;
  std::string series_file;
  bool has_ttft = false;
  bool has_p90 = false;
  bool has_replicas = false;
  bool has_hit = false;
};

std::string number(double v) {
  if (!std::isfinite(v)) return "NaN";
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", v);
  return text;
}

/// A file name for a variant: its number (labels may clash once sanitised) and its label's
/// letters, digits, '.', '-' and '_'; anything else becomes '_'.
std::string file_name_of(const std::string& label, size_t index) {
  std::string name = "v" + std::to_string(index + 1);
  if (!label.empty()) name += '-';
  for (char c : label.substr(0, 60)) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '-' || c == '_';
    name += keep ? c : '_';
  }
  return name;
}

/// The label as gnuplot shows it: control characters as spaces, a long one cut in the middle at
/// UTF-8 character boundaries. The terminals are noenhanced, so '_', '@', '^', '{' are plain.
std::string legend_text(const std::string& label, size_t index) {
  if (label.empty()) return "variant " + std::to_string(index + 1);
  std::vector<std::string> chars;  // one UTF-8 character each
  for (unsigned char c : label) {
    bool continuation = (c & 0xC0) == 0x80;
    if (continuation && !chars.empty()) {
      chars.back() += static_cast<char>(c);
    } else {
      chars.emplace_back(1, c < 0x20 || c == 0x7F ? ' ' : static_cast<char>(c));
    }
  }
  if (chars.size() > legend_max) {
    size_t tail = legend_max * 2 / 3;
    size_t head = legend_max - tail - 1;
    chars.erase(chars.begin() + static_cast<ptrdiff_t>(head),
                chars.end() - static_cast<ptrdiff_t>(tail));
    chars.insert(chars.begin() + static_cast<ptrdiff_t>(head), "\u2026");
  }
  std::string text;
  for (const std::string& c : chars)
    text += c;
  return text;
}

size_t characters(const std::string& utf8) {
  return static_cast<size_t>(
      std::count_if(utf8.begin(), utf8.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

/// A gnuplot string of any text: double-quoted with every ASCII sign but a few as an octal escape,
/// so that nothing in it is special: gnuplot expands backquotes in double quotes, and '@' macros
/// inside a do-for block wherever a quote inside a string has misled its scan for quotes.
std::string gnuplot_string(const std::string& text) {
  std::string quoted = "\"";
  for (unsigned char c : text) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c >= 0x80 || c == ' ' || c == '-' || c == '_' || c == '.' || c == ',' ||
                 c == ':' || c == '/' || c == '=' || c == '(' || c == ')';
    if (plain) {
      quoted += static_cast<char>(c);
    } else {
      char octal[8];
      std::snprintf(octal, sizeof octal, "\\%03o", c);
      quoted += octal;
    }
  }
  return quoted + "\"";
}

/// A POSIX shell word: single-quoted, a quote inside as '\''.
std::string shell_word(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

/// The TTFT CDF: (ms, fraction of the requests with a first token at or below it). A long run
/// keeps evenly spaced ranks, the first and the last among them.
bool write_cdf(const variant_run& run, size_t index, const fs::path& path, std::string& problem) {
  std::vector<double> ttft_ms;
  for (const request_record& r : run.requests) {
    // Clamped to a microsecond: a log axis has no room for a zero.
    if (r.ttft_ns >= 0) ttft_ms.push_back(std::max(static_cast<double>(r.ttft_ns) / 1e6, 1e-3));
  }
  std::sort(ttft_ms.begin(), ttft_ms.end());
  std::ofstream out(path, std::ios::trunc);
  out << "# TTFT CDF of variant '" << legend_text(run.label, index) << "': " << ttft_ms.size()
      << " requests with a first token\n# ttft_ms fraction\n";
  size_t n = ttft_ms.size();
  size_t points = std::min(n, cdf_points);
  for (size_t j = 0; j < points; ++j) {
    size_t i = points == n ? j : (j * (n - 1) + (points - 1) / 2) / (points - 1);
    out << number(ttft_ms[i]) << ' ' << number(static_cast<double>(i + 1) / n) << '\n';
  }
  if (!out) problem = "cannot write " + path.string();
  return n > 0;
}

struct series_flags {
  bool p90 = false, replicas = false, hit = false;
};

/// One row a second: the TTFT p90 (ms) of the requests first answered in the trailing window,
/// the ready replicas summed over the pools, the hit rate (%) of the requests that ended in the
/// trailing window. NaN: none.
series_flags write_series(const variant_run& run, size_t index, const fs::path& path,
                          int64_t last_second, std::string& problem) {
  size_t seconds = static_cast<size_t>(last_second + 1);
  std::vector<std::vector<double>> first_tokens(seconds);  // TTFTs (ms) by second of first token
  std::vector<uint64_t> cached(seconds, 0), prompt(seconds, 0);  // by second of the end
  for (const request_record& r : run.requests) {
    if (r.ttft_ns >= 0) {
      int64_t s = (r.arrival_ns + r.ttft_ns) / ns_per_s;
      if (s >= 0 && s <= last_second)
        first_tokens[s].push_back(static_cast<double>(r.ttft_ns) / 1e6);
    }
    // Only requests a pod answered looked their prompt up in a prefix cache.
    if (r.e2e_ns >= 0 && !r.pod.empty() && r.prompt_tokens > 0) {
      int64_t s = (r.arrival_ns + r.e2e_ns) / ns_per_s;
      if (s >= 0 && s <= last_second) {
        cached[s] += r.cached_tokens;
        prompt[s] += r.prompt_tokens;
      }
    }
  }
  std::vector<int64_t> ready(seconds, -1);
  for (const series_row& row : run.series) {
    if (row.second < 0 || row.second > last_second) continue;
    ready[row.second] = std::max<int64_t>(ready[row.second], 0) + row.ready_replicas;
  }

  series_flags has;
  std::ofstream out(path, std::ios::trunc);
  out << "# variant '" << legend_text(run.label, index) << "', one row a second, NaN: none\n"
      << "# second ttft_p90_ms_trailing_" << window_s << "s ready_replicas_all_pools"
      << " hit_rate_percent_trailing_" << window_s << "s\n";
  std::vector<double> window;
  uint64_t window_cached = 0, window_prompt = 0;
  for (size_t s = 0; s < seconds; ++s) {
    window_cached += cached[s];
    window_prompt += prompt[s];
    if (s >= window_s) {
      window_cached -= cached[s - window_s];
      window_prompt -= prompt[s - window_s];
    }
    window.clear();
    for (size_t w = s + 1 > window_s ? s + 1 - window_s : 0; w <= s; ++w) {
      window.insert(window.end(), first_tokens[w].begin(), first_tokens[w].end());
    }
    double p90 = NAN;
    if (!window.empty()) {
      // Nearest rank: the smallest TTFT that at least 90 % of the window's requests do not exceed.
      size_t rank = static_cast<size_t>(std::ceil(0.9 * static_cast<double>(window.size()))) - 1;
      std::nth_element(window.begin(), window.begin() + static_cast<ptrdiff_t>(rank), window.end());
      p90 = window[rank];
      has.p90 = true;
    }
    double hit = NAN;
    if (window_prompt > 0) {
      hit = 100.0 * static_cast<double>(window_cached) / static_cast<double>(window_prompt);
      has.hit = true;
    }
    double replicas = NAN;
    if (ready[s] >= 0) {
      replicas = static_cast<double>(ready[s]);
      has.replicas = true;
    }
    out << s << ' ' << number(p90) << ' ' << number(replicas) << ' ' << number(hit) << '\n';
  }
  if (!out) problem = "cannot write " + path.string();
  return has;
}

/// The last second any run has something in (a request's first token or end, a series row).
int64_t last_second_of(const std::vector<variant_run>& runs) {
  int64_t last = -1;
  for (const variant_run& run : runs) {
    for (const series_row& row : run.series)
      last = std::max(last, row.second);
    for (const request_record& r : run.requests) {
      int64_t end = std::max({r.arrival_ns, r.arrival_ns + r.ttft_ns, r.arrival_ns + r.e2e_ns});
      last = std::max(last, end / ns_per_s);
    }
  }
  return last;
}

/// The plot clauses of the variants that have the curve, or a "no data" frame when none has.
/// Nested: each variant's line thinner than the one before, so that equal curves (replicas often
/// are) show as nested lines instead of the last hiding the others.
std::string plot_command(const std::vector<variant_data>& data, bool variant_data::*has,
                         std::string variant_data::*file, const std::string& columns,
                         const std::string& style, const std::string& empty_range,
                         const std::string& empty_text, bool nested = false) {
  std::ostringstream plot;
  const char* separator = "  plot ";
  for (size_t i = 0; i < data.size(); ++i) {
    if (!(data[i].*has)) continue;
    plot << separator << gnuplot_string("plots-data/" + data[i].*file) << " using " << columns
         << " with " << style << " lw "
         << (nested ? number(std::min(1.5 + 1.5 * static_cast<double>(data.size() - 1 - i), 9.0))
                    : "2")
         << " lc rgb \"" << colours[i % colour_count] << "\" dt " << (i / colour_count) % 5 + 1
         << " title " << data[i].legend;
    separator = ", \\\n       ";
  }
  if (plot.tellp() == 0) {
    // gnuplot stops the script on a plot without any point: a frame that says so instead.
    return "  set label 1 " + gnuplot_string(empty_text) + " at graph 0.5,0.5 center\n  plot " +
           empty_range + " 1e30 notitle\n  unset label 1\n";
  }
  return plot.str() + "\n";
}

/// The terminal lines of one image at the given size, for "png" and for "svg".
std::string terminal(int width, int height) {
  std::string size = std::to_string(width) + "," + std::to_string(height);
  return "  if (fmt eq \"png\") {\n"
         "    set terminal pngcairo size " +
         size +
         " font \"Sans,11\" noenhanced background rgb \"white\"\n"
         "  } else {\n"
         "    set terminal svg size " +
         size +
         " font \"Sans,11\" noenhanced background rgb \"white\"\n"
         "  }\n";
}

std::string script(const std::vector<variant_run>& runs, const std::vector<variant_data>& data,
                   int64_t last_second) {
  size_t longest = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    longest = std::max(longest, characters(legend_text(runs[i].label, i)));
  }
  // The legend takes the right margin: long labels widen the image rather than narrow the plot.
  int width = 1000 + static_cast<int>(longest > 16 ? (longest - 16) * 8 : 0);
  std::ostringstream gp;
  gp << "# inferstack simulate's plots, drawn by gnuplot from plots-data/.\n"
        "# Edit and re-draw from this directory: gnuplot plots.gp\n"
        "# Variants:\n";
  for (size_t i = 0; i < runs.size(); ++i) {
    gp << "#   " << data[i].name << ": " << legend_text(runs[i].label, i) << "\n";
  }
  gp << "set encoding utf8\n"
        "set grid lc rgb \"#dddddd\"\n"
        "set border lc rgb \"#444444\"\n"
        "# The legend to the right of the plot, never over a curve; the margins fixed so that\n"
        "# the stacked panels share their time axis exactly.\n"
        "set key outside right top vertical Left reverse samplen 3 spacing 1.3\n"
        "set lmargin 11\n"
        "set rmargin "
     << longest + 10
     << "\n"
        "set xrange [*:*]\n"
        "set yrange [*:*]\n\n";

  // The TTFT CDF.
  gp << "do for [fmt in \"png svg\"] {\n"
     << terminal(width, 600)
     << "  set output \"ttft_cdf.\".fmt\n"
        "  set title \"TTFT distribution (requests with a first token, all pools)\" font \",13\"\n"
        "  set xlabel \"time to first token (ms, log scale)\"\n"
        "  set ylabel \"fraction of requests\"\n"
        "  set logscale x\n"
        "  set mxtics 10\n"
        "  set yrange [0:1.02]\n"
        "  set ytics 0,0.1,1\n"
     << plot_command(data, &variant_data::has_ttft, &variant_data::cdf_file, "1:2", "lines",
                     "[1:1000] [0:1.02]", "no request got a first token")
     << "  unset logscale x\n"
        "  set mxtics default\n"
        "  set ytics autofreq\n"
        "  set output\n"
        "}\n\n";

  std::string time_range = "[0:" + std::to_string(std::max<int64_t>(last_second + 1, 1)) + "]";
  std::string time_label =
      "time since the start of the workload (s)";  // second s spans [s, s+1): steps start at s

  // TTFT p90 over replicas, one time axis.
  gp << "do for [fmt in \"png svg\"] {\n"
     << terminal(width, 800)
     << "  set output \"ttft_p90_replicas.\".fmt\n"
        "  set multiplot layout 2,1 title \"TTFT p90 and ready replicas over time\" font "
        "\",13\"\n"
        "  set xrange "
     << time_range
     << "\n"
        "  unset title\n"
        "  set format x \"\"\n"
        "  unset xlabel\n"
        "  set bmargin 1\n"
        "  set ylabel \"TTFT p90, trailing "
     << window_s
     << " s, all pools\\n(ms, log scale)\"\n"
        "  set logscale y\n"
        "  set yrange [*:*]\n"
     << plot_command(data, &variant_data::has_p90, &variant_data::series_file, "1:2", "lines",
                     "[] [1:1000]", "no request got a first token")
     << "  unset logscale y\n"
        "  set format x \"%g\"\n"
        "  set xlabel \""
     << time_label
     << "\"\n"
        "  set bmargin\n"
        "  set tmargin 1\n"
        "  set ylabel \"ready replicas, all pools\"\n"
        "  set yrange [0:*]\n"
        "  set offsets 0, 0, 0.5, 0\n"
     << plot_command(data, &variant_data::has_replicas, &variant_data::series_file, "1:3", "steps",
                     "[] [0:1]", "no series", true)
     << "  set offsets 0, 0, 0, 0\n"
        "  set tmargin\n"
        "  unset multiplot\n"
        "  set output\n"
        "}\n\n";

  // The hit rate.
  gp << "do for [fmt in \"png svg\"] {\n"
     << terminal(width, 600)
     << "  set output \"hit_rate.\".fmt\n"
        "  set title \"Prefix-cache hit rate over time (all pools)\" font \",13\"\n"
        "  set xrange "
     << time_range
     << "\n"
        "  set xlabel \""
     << time_label
     << "\"\n"
        "  set ylabel \"hit rate, trailing "
     << window_s
     << " s (%)\\ncached / prompt tokens of the requests ended\"\n"
        "  set yrange [0:102]\n"
        "  set ytics 0,10,100\n"
     << plot_command(data, &variant_data::has_hit, &variant_data::series_file, "1:4", "lines",
                     "[] [0:102]", "no request reached a pod")
     << "  set ytics autofreq\n"
        "  set output\n"
        "}\n";
  return gp.str();
}

/// The last line of gnuplot's output that says something: its error, usually.
std::string last_line(const std::string& output) {
  std::istringstream lines(output);
  std::string line, last;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(" \t\r^") != std::string::npos) last = line;
  }
  return last;
}

}  // namespace

plot_result draw_plots(const std::vector<variant_run>& runs, const std::string& out_dir,
                       const std::string& gnuplot) {
  plot_result result;
  const std::string dir = out_dir.empty() ? "." : out_dir;
  if (runs.empty()) {
    result.problem = "no plots: no run to draw";
    return result;
  }
  std::error_code error;
  fs::path data_dir = fs::path(dir) / "plots-data";
  fs::create_directories(data_dir, error);
  if (error) {
    result.problem = "no plots: cannot create " + data_dir.string() + ": " + error.message();
    return result;
  }

  int64_t last_second = last_second_of(runs);
  std::vector<variant_data> data(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string& name = data[i].name = file_name_of(runs[i].label, i);
    data[i].legend = gnuplot_string(legend_text(runs[i].label, i));
    data[i].cdf_file = name + "-ttft-cdf.dat";
    data[i].series_file = name + "-series.dat";
    data[i].has_ttft = write_cdf(runs[i], i, data_dir / data[i].cdf_file, result.problem);
    series_flags has =
        write_series(runs[i], i, data_dir / data[i].series_file, last_second, result.problem);
    data[i].has_p90 = has.p90;
    data[i].has_replicas = has.replicas;
    data[i].has_hit = has.hit;
  }
  fs::path script_path = fs::path(dir) / "plots.gp";
  {
    std::ofstream out(script_path, std::ios::trunc);
    out << script(runs, data, last_second);
    if (!out) result.problem = "cannot write " + script_path.string();
  }
  if (!result.problem.empty()) {
    result.problem = "no plots: " + result.problem;
    return result;
  }
  for (const char* image : images) {
    for (const char* ext : {".png", ".svg"})
      fs::remove(fs::path(dir) / (image + std::string(ext)), error);
  }

  // The script's paths are relative to its directory; a program given as a relative path is
  // made absolute before the shell changes directory.
  std::string program = gnuplot;
  if (program.find('/') != std::string::npos) program = fs::absolute(program, error).string();
  std::string command = "cd " + shell_word(fs::absolute(dir, error).string()) + " && " +
                        shell_word(program) + " plots.gp 2>&1 </dev/null";
  std::string output;
  int status = -1;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
      output.append(buffer, n);
    status = ::pclose(pipe);
  }
  int code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 127 || code == 126) {
    result.problem = "no plots: cannot run " + gnuplot +
                     " (install gnuplot-nox, e.g. with tools/install-deps); the data and " +
                     script_path.string() + " are written";
  } else if (code != 0) {
    std::string why = last_line(output);
    result.problem = "no plots: " + gnuplot + " failed (exit " + std::to_string(code) + ")" +
                     (why.empty() ? "" : ": " + why);
  }
  for (const char* image : images) {
    for (const char* ext : {".png", ".svg"}) {
      fs::path file = fs::path(dir) / (image + std::string(ext));
      if (fs::file_size(file, error) > 0 && !error) {
        result.files.push_back(file.string());
      } else if (result.problem.empty()) {
        result.problem = "no plots: " + gnuplot + " did not write " + file.string();
      }
    }
  }
  return result;
}

}  // namespace inferstack::simulate
