#pragma once

#include <chrono>

namespace inferstack::nodes {

/// SIGINT/SIGTERM/SIGHUP are blocked in every thread (call block_signals() first thing in
/// main, before any thread starts) and taken synchronously by wait_signal() in main.
void block_signals();

/// Waits for SIGINT, SIGTERM or SIGHUP, at most `timeout` (0: forever). Returns the signal
/// number, or 0 on timeout.
int wait_signal(std::chrono::milliseconds timeout = std::chrono::milliseconds{0});

}  // namespace inferstack::nodes
