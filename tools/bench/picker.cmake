# tools/bench/picker: the endpoint picker's decision classes under load (pick latency, picks/s).
add_executable(bench_picker picker_bench.cpp)
target_link_libraries(bench_picker PRIVATE inferstack_actor_picker CLI11::CLI11)
