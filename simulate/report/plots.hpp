// The report's plots, drawn by gnuplot (Debian's gnuplot-nox) from data files and a script that
// stay beside them, so a user can edit the script and re-run it.
#pragma once

#include <string>
#include <vector>

#include "simulate/report/records.hpp"

namespace inferstack::simulate {

struct plot_result {
  std::vector<std::string> files;  ///< the images written (dir/NAME.png, dir/NAME.svg)
  std::string problem;             ///< one line on why plots are missing; empty: all drawn
};

/// Draws the report's plots of every variant into `dir` with gnuplot, each as .png and .svg:
///  - ttft_cdf: the TTFT CDF of the requests that got a first token, one line per variant,
///    milliseconds on a log x axis;
///  - ttft_p90_replicas: two panels sharing the time axis: TTFT p90 over a trailing 10 s window
///    (all pools together, computed from the requests, as the series defines it per pool), and
///    the ready replicas summed over the pools (from the series);
///  - hit_rate: the prefix-cache hit rate (cached / prompt tokens) of the requests that ended in
///    a trailing 10 s window, all pools together (a second alone often has too few requests).
/// The data go to dir/plots-data/ (one ttft-cdf and one series .dat per variant, whitespace
/// separated, NaN: none), the script to dir/plots.gp (run it from `dir`: `gnuplot plots.gp`).
/// `gnuplot` names the program. Never throws on a missing or failing gnuplot or an unwritable
/// `dir`: the result's problem says what went wrong (the caller warns and carries on).
plot_result draw_plots(const std::vector<variant_run>& runs, const std::string& dir,
                       const std::string& gnuplot = "gnuplot");

}  // namespace inferstack::simulate
