// Reading Vidur's tables (simulate/calibration/vidur_tables.cpp): columns found by name, one TP
// degree or worker count or model picked out, rows measured twice averaged; and every bad file is
// a calibration_error naming the file, and the line and column where there is one. The shipped
// excerpt under data/vidur/ reads.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "simulate/calibration/vidur_tables.hpp"
#include "tests/simulate/temp_files.hpp"

using namespace inferstack::simulate::calibration;
namespace fs = std::filesystem;

namespace {

using inferstack::simulate::testing::scratch_dir;

const std::string mlp_header =
    "time_stats.input_layernorm.median,time_stats.attn_pre_proj.median,time_stats.attn_rope."
    "median,time_stats.attn_post_proj.median,time_stats.post_attention_layernorm.median,time_"
    "stats.mlp_up_proj.median,time_stats.mlp_act.median,time_stats.mlp_down_proj.median,time_"
    "stats.add.median,n_head,n_kv_head,n_embd,n_expanded_embd,vocab_size,num_tokens,num_tensor_"
    "parallel_workers\n";

// Linear operators: attn_pre_proj, attn_post_proj, mlp_up_proj, mlp_down_proj (columns 2, 4, 6,
// 8); the other five are element-wise. Linear 0.1+0.2+0.3+0.4 = 1, element-wise 0.05 x 5 = 0.25.
const std::string mlp_rows =
    "0.05,0.1,0.05,0.2,0.05,0.3,0.05,0.4,0.05,32,8,4096,14336,128256,8,1\n"
    "0.05,0.2,0.05,0.4,0.05,0.6,0.05,0.8,0.05,32,8,4096,14336,128256,16,1\n"
    "0.07,0.2,0.07,0.4,0.07,0.6,0.07,0.8,0.07,32,8,4096,14336,128256,16,1\n"  // 16 again
    "0.05,0.4,0.05,0.8,0.05,1.2,0.05,1.6,0.05,32,8,4096,14336,128256,32,1\n"
    "9,9,9,9,9,9,9,9,9,32,8,4096,14336,128256,8,2\n"
    "9,9,9,9,9,9,9,9,9,32,8,4096,14336,128256,16,2\n";

calibration_error error_of(auto&& read) {
  try {
    read();
  } catch (const calibration_error& e) {
    return e;
  }
  FAIL("no calibration_error");
  throw;  // not reached
}

}  // namespace

TEST_CASE("vidur tables: mlp.csv gives one TP degree's layer costs by kind", "[vidur-tables]") {
  scratch_dir dir;
  auto path = dir.write("mlp.csv", mlp_header + mlp_rows);
  auto t = read_layer_costs(path, 1);
  CHECK(t.file == path);
  CHECK(t.tensor_parallel == 1);
  REQUIRE(t.tokens == std::vector<uint32_t>{8, 16, 32});
  CHECK(t.linear_ms[0] == Approx(1.0));
  CHECK(t.linear_ms[1] == Approx(2.0));
  CHECK(t.linear_ms[2] == Approx(4.0));
  CHECK(t.elementwise_ms[0] == Approx(0.25));
  CHECK(t.elementwise_ms[1] == Approx(0.30));  // 0.25 and 0.35 measured: averaged
  CHECK(t.elementwise_ms[2] == Approx(0.25));
  CHECK(t.shape.heads == 32);
  CHECK(t.shape.kv_heads == 8);
  CHECK(t.shape.hidden == 4096);
  CHECK(t.shape.mlp_hidden == 14336);
  CHECK(t.shape.vocab == 128256);
  CHECK(t.shape.head_dim() == 128);
  // Between rows linear, held at the ends, scaled by kind.
  CHECK(t.layer_ms_at(8) == Approx(1.25));
  CHECK(t.layer_ms_at(24) == Approx((2.3 + 4.25) / 2));
  CHECK(t.layer_ms_at(4) == Approx(1.25));
  CHECK(t.layer_ms_at(64) == Approx(4.25));
  CHECK(t.layer_ms_at(32, 0.5, 2) == Approx(2.5));
  CHECK(t.measured_at(16));
  CHECK_FALSE(t.measured_at(24));

  auto tp2 = read_layer_costs(path, 2);
  REQUIRE(tp2.tokens == std::vector<uint32_t>{8, 16});
  CHECK(tp2.linear_ms[0] == Approx(36));
  CHECK(tp2.elementwise_ms[0] == Approx(45));
}

TEST_CASE("vidur tables: all_reduce.csv gives one node's worker count, medians by size",
          "[vidur-tables]") {
  scratch_dir dir;
  auto path = dir.write("all_reduce.csv",
                        "size,devices_per_node,num_workers,time_stats.all_reduce.median\n"
                        "2048,2,2,0.01\n"
                        "2048,2,2,0.03\n"
                        "2048,2,2,0.02\n"
                        "4096,2,2,0.04\n"
                        "2048,4,4,0.5\n"
                        "4096,4,4,0.6\n"
                        "2048,1,2,7\n"  // 2 workers on two nodes: not these
                        "8192,1,2,7\n");
  auto t = read_all_reduce(path, 2);
  CHECK(t.workers == 2);
  REQUIRE(t.bytes == std::vector<double>{2048, 4096});
  CHECK(t.ms[0] == Approx(0.02));  // the median of three
  CHECK(t.ms[1] == Approx(0.04));
  CHECK(t.covers(4096));
  CHECK_FALSE(t.covers(8192));
}

TEST_CASE("vidur tables: the CPU file gives one model's per-step CPU time by batch size",
          "[vidur-tables]") {
  scratch_dir dir;
  auto path = dir.write(
      "cpu.csv",
      "schedule_median,sampler_e2e_median,prepare_inputs_e2e_median,process_model_outputs_median,"
      "model_name,batch_size,tensor_parallel_degree\n"
      "0.1,0.2,0.3,0.4,org/A,1,1\n"
      "0.2,0.2,0.3,0.4,org/A,2,1\n"
      "5,5,5,5,org/A,1,2\n"
      "6,6,6,6,org/B,1,1\n"
      "6,6,6,6,org/B,2,1\n");
  auto t = read_cpu_overheads(path, "org/A", 1);
  CHECK(t.model == "org/A");
  REQUIRE(t.batch_sizes == std::vector<double>{1, 2});
  CHECK(t.ms[0] == Approx(1.0));
  CHECK(t.ms[1] == Approx(1.1));
}

TEST_CASE("vidur tables: the shipped excerpt reads", "[vidur-tables]") {
  const std::string v = std::string(INFERSTACK_SOURCE_DIR) + "/data/vidur/";
  auto h100 = read_layer_costs(v + "compute/h100/meta-llama/Llama-2-7b-hf/mlp.csv", 1);
  CHECK(h100.shape.heads == 32);
  CHECK(h100.shape.hidden == 4096);
  CHECK(h100.tokens.front() <= 8);
  CHECK(h100.tokens.back() >= 4096);
  auto nccl = read_all_reduce(v + "network/a100_dgx/all_reduce.csv", 4);
  CHECK(nccl.bytes.size() > 100);
  auto cpu = read_cpu_overheads(v + "cpu_overheads_a100.csv", "meta-llama/Llama-2-7b-hf", 1);
  CHECK(cpu.batch_sizes.size() >= 2);
}

TEST_CASE("vidur tables: a bad file is an error naming the file, the line and the column",
          "[vidur-tables]") {
  scratch_dir dir;
  SECTION("a missing file") {
    auto path = (dir.path / "absent.csv").string();
    CHECK_THAT(error_of([&] { read_layer_costs(path, 1); }).what(),
               Catch::Contains(path) && Catch::Contains("cannot read"));
  }
  SECTION("an empty file") {
    auto path = dir.write("empty.csv", "");
    CHECK_THAT(error_of([&] { read_layer_costs(path, 1); }).what(),
               Catch::Contains(path) && Catch::Contains("empty"));
    auto blank = dir.write("blank.csv", "\n\n");
    CHECK_THAT(error_of([&] { read_all_reduce(blank, 2); }).what(),
               Catch::Contains(blank) && Catch::Contains("empty"));
  }
  SECTION("a missing column") {
    std::string header = mlp_header;
    header.replace(header.find("mlp_act"), 7, "mlp_gelu");
    auto path = dir.write("mlp.csv", header + mlp_rows);
    CHECK_THAT(error_of([&] { read_layer_costs(path, 1); }).what(),
               Catch::Contains(path) && Catch::Contains("time_stats.mlp_act.median"));
    auto no_tp = dir.write("no_tp.csv", "num_tokens,x\n8,1\n");
    CHECK_THAT(error_of([&] { read_all_reduce(no_tp, 2); }).what(),
               Catch::Contains(no_tp) && Catch::Contains("time_stats.all_reduce.median"));
  }
  SECTION("a cell that is not a number") {
    std::string rows = mlp_rows;
    rows.replace(rows.find("\n0.05,0.4") + 1, 4, "fast");  // line 5, the first column
    auto path = dir.write("mlp.csv", mlp_header + rows);
    CHECK_THAT(error_of([&] { read_layer_costs(path, 1); }).what(),
               Catch::Contains(path + ":5") && Catch::Contains("time_stats.input_layernorm") &&
                   Catch::Contains("'fast'"));
    auto tokens = dir.write(
        "tokens.csv", mlp_header + mlp_rows + "1,1,1,1,1,1,1,1,1,32,8,4096,14336,128256,12.5,1\n");
    CHECK_THAT(error_of([&] { read_layer_costs(tokens, 1); }).what(),
               Catch::Contains(tokens + ":8") && Catch::Contains("num_tokens"));
  }
  SECTION("a row with the wrong number of cells") {
    auto path = dir.write("mlp.csv", mlp_header + mlp_rows + "1,2,3\n");
    CHECK_THAT(error_of([&] { read_csv(path); }).what(),
               Catch::Contains(path + ":8") && Catch::Contains("3 cells") && Catch::Contains("16"));
  }
  SECTION("a quoted cell") {
    auto path = dir.write("q.csv", "a,b\n\"1\",2\n");
    CHECK_THAT(error_of([&] { read_csv(path); }).what(),
               Catch::Contains(path + ":2") && Catch::Contains("quoted"));
  }
  SECTION("no rows for the TP degree") {
    auto path = dir.write("mlp.csv", mlp_header + mlp_rows);
    CHECK_THAT(error_of([&] { read_layer_costs(path, 8); }).what(),
               Catch::Contains(path) && Catch::Contains("num_tensor_parallel_workers = 8"));
  }
  SECTION("fewer than 2 token counts") {
    auto path = dir.write("mlp.csv", mlp_header +
                                         "1,1,1,1,1,1,1,1,1,32,8,4096,14336,128256,8,1\n"
                                         "2,2,2,2,2,2,2,2,2,32,8,4096,14336,128256,8,1\n");
    CHECK_THAT(error_of([&] { read_layer_costs(path, 1); }).what(),
               Catch::Contains(path) && Catch::Contains("1 token counts") &&
                   Catch::Contains("at least 2"));
  }
  SECTION("an all_reduce.csv without the worker count") {
    auto path = dir.write("all_reduce.csv",
                          "time_stats.all_reduce.median,num_workers,size,devices_per_node\n"
                          "0.01,2,2048,2\n0.02,2,4096,2\n"
                          "0.01,4,2048,2\n0.02,4,4096,2\n");  // 4 workers, but on two nodes
    CHECK_THAT(error_of([&] { read_all_reduce(path, 4); }).what(),
               Catch::Contains(path) && Catch::Contains("num_workers = devices_per_node = 4"));
  }
  SECTION("a CPU file without the model") {
    auto path = dir.write(
        "cpu.csv",
        "schedule_median,sampler_e2e_median,prepare_inputs_e2e_median,process_model_outputs_"
        "median,model_name,batch_size,tensor_parallel_degree\n"
        "0.1,0.2,0.3,0.4,org/A,1,1\n0.2,0.2,0.3,0.4,org/A,2,1\n");
    CHECK_THAT(error_of([&] { read_cpu_overheads(path, "org/B", 1); }).what(),
               Catch::Contains(path) && Catch::Contains("org/B"));
    CHECK_THAT(error_of([&] { read_cpu_overheads(path, "org/A", 2); }).what(),
               Catch::Contains(path) && Catch::Contains("tensor_parallel_degree = 2"));
  }
}
