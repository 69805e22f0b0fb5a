// The launcher of `inferstack dev`'s pods (nodes/in_process_launcher), on CAF's test coordinator.
#include <catch2/catch.hpp>

#include <caf/actor_registry.hpp>

#include "nodes/in_process_launcher.hpp"
#include "runtime/local_transport.hpp"
#include "tests/support/caf_fixture.hpp"

using namespace inferstack;

namespace {

actors::node_mocker::pod_template replica(int n) {
  actors::node_mocker::pod_template t;
  t.name = "team/chat-" + std::to_string(n);
  t.ns = "team";
  t.set = "chat";
  t.model = "small-chat";
  t.engine = {{"time-to-first-token", "0"}, {"inter-token-latency", "0"}};
  return t;
}

}  // namespace

TEST_CASE("in-process launcher: a launch after terminate_all starts no pod that would outlive it") {
  // The node mocker may be inside a launch when the stack stops (its exit message waits in its
  // mailbox): a pod started then was never stopped, and the actor system's destructor waited
  // for it forever.
  testing::caf_fixture f;
  runtime::local_transport transport{"dev"};
  nodes::in_process_launcher launcher{f.sys, transport, "", 0, nullptr};
  f.run();
  auto before = f.sys.registry().running();
  auto first = launcher.launch(replica(0), "node-0");
  INFO((first ? std::string{} : f.sys.render(first.error())));  // a template it refused
  REQUIRE(first);
  f.run();
  CHECK(launcher.pods().size() == 1);
  CHECK(f.sys.registry().running() > before);
  launcher.terminate_all();
  f.run();
  CHECK(launcher.pods().empty());
  CHECK(f.sys.registry().running() == before);
  auto late = launcher.launch(replica(1), "node-0");
  REQUIRE_FALSE(late);
  CHECK(f.sys.render(late.error()).find("the stack is stopping") != std::string::npos);
  f.run();
  CHECK(launcher.pods().empty());
  CHECK(f.sys.registry().running() == before);
}
