# tools/bench/picker: the endpoint picker's decision classes under load (pick latency, picks/s).
add_executable(bench_picker picker_bench.cpp)
target_link_libraries(bench_picker PRIVATE inferstack_actor_picker CLI11::CLI11)

# tools/bench/kv_ingest: KV-event ingestion (block events/s per core, index bytes per block).
add_executable(bench_kv_ingest kv_ingest_bench.cpp)
target_link_libraries(bench_kv_ingest PRIVATE inferstack_picker_scheduling CLI11::CLI11)
