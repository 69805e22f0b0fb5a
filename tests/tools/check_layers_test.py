#!/usr/bin/env python3
"""tools/check-layers refuses what it must: an upward include planted in a copy of this very
tree, an actor reaching into another actor's insides, a circle of headers; and passes the
tree as it is. Run by ctest; stdlib only."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE = os.environ.get(
    "INFERSTACK_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CHECK = os.path.join(SOURCE, "tools", "check-layers")
LAYERS = ("runtime", "protocol", "openai", "actors", "gateway", "nodes")


def check(root):
    return subprocess.run([sys.executable, CHECK, "--root", root], capture_output=True, text=True,
                          timeout=120)


def write(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


class CheckLayers(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="check-layers-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def copy_of_this_tree(self):
        for layer in LAYERS:
            shutil.copytree(os.path.join(SOURCE, layer), os.path.join(self.tmp, layer),
                            ignore=shutil.ignore_patterns("*.md", "*.txt"))
        return self.tmp

    def test_this_tree_passes(self):
        result = check(SOURCE)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("layers: ok", result.stdout)

    def test_planted_upward_include_in_runtime_is_refused(self):
        root = self.copy_of_this_tree()
        self.assertEqual(check(root).returncode, 0)  # the copy alone passes
        transport = os.path.join(root, "runtime", "transport.hpp")
        with open(transport) as f:
            lines = f.read().split("\n")
        lines.insert(3, '#include "actors/pod/pod_actor.hpp"')
        with open(transport, "w") as f:
            f.write("\n".join(lines))
        result = check(root)
        self.assertEqual(result.returncode, 1)
        self.assertIn("runtime/transport.hpp:4: includes actors/pod/pod_actor.hpp", result.stderr)
        self.assertIn("ground floor", result.stderr)

    def check_tree(self, files):
        """Writes {path: text} into the scratch tree and runs the check on it."""
        for path, text in files.items():
            write(self.tmp, path, text)
        return check(self.tmp)

    def assert_refused(self, files, *expected):
        result = self.check_tree(files)
        self.assertEqual(result.returncode, 1, result.stdout)
        for text in expected:
            self.assertIn(text, result.stderr)
        return result

    def test_openai_may_not_reach_up_to_the_gateway(self):
        self.assert_refused({"openai/codec.hpp": '#include "gateway/gateway.hpp"\n',
                             "gateway/gateway.hpp": '#include "openai/codec.hpp"\n'},
                            "openai/codec.hpp:1: includes gateway/gateway.hpp")

    def test_an_actor_sees_only_the_protocol_of_another(self):
        result = self.assert_refused(
            {"actors/router/router_protocol.hpp": '#include "protocol/type_ids.hpp"\n',
             "actors/router/route_table.hpp": "",
             "actors/pod/pod_actor.cpp": '#include "actors/router/router_protocol.hpp"\n'
                                         '#include "actors/pod/engine/engine.hpp"\n'
                                         '#include "actors/router/route_table.hpp"\n'},
            "actors/pod/pod_actor.cpp:3: includes actors/router/route_table.hpp")
        self.assertNotIn("pod_actor.cpp:1", result.stderr)
        self.assertNotIn("pod_actor.cpp:2", result.stderr)

    def test_a_protocol_header_includes_no_actor_insides(self):
        self.assert_refused({"actors/pod/pod_protocol.hpp": '#include "actors/pod/engine/engine.hpp"\n'},
                            "actors/pod/pod_protocol.hpp:1")

    def test_a_circle_of_headers_is_refused(self):
        self.assert_refused({"protocol/a.hpp": '#include "protocol/b.hpp"\n',
                             "protocol/b.hpp": '#include "protocol/a.hpp"\n'},
                            "circle: protocol/a.hpp -> protocol/b.hpp -> protocol/a.hpp")

    def test_simulate_sits_between_the_gateway_and_nodes(self):
        self.assert_refused({"simulate/clients.cpp": '#include "gateway/request_pipeline.hpp"\n'
                                                     '#include "nodes/stack_process.hpp"\n',
                             "gateway/pipeline.cpp": '#include "simulate/clients.hpp"\n'},
                            "simulate/clients.cpp:2: includes nodes/stack_process.hpp",
                            "gateway/pipeline.cpp:1: includes simulate/clients.hpp")

    def test_nodes_may_use_everything(self):
        result = self.check_tree({"nodes/dev.cpp": '#include "gateway/gateway.hpp"\n'
                                                   '#include "actors/pod/engine/engine.hpp"\n'})
        self.assertEqual(result.returncode, 0, result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
