"""The Kubernetes manifests (manifests/) parse, and reference only what exists: the image the
Dockerfile builds, flags the inferstack binary has, container ports that Services, probes and
peers' addresses name, volumes and keys that mounts and the stack's key files name, a picker
StatefulSet and headless Service per InferencePool at its endpointPickerRef's name and port, with
as many replicas as the pool's inferstack.io/picker-replicas annotation says (3), each reached by
the gateway, the control role and its peers at <name>-<i>.<name> -- and the mounted stack
manifests are config/dev.yaml (with the documented changes) and pass `inferstack check`.
Admin listeners off loopback are asked for (--admin-allow-remote), read their tokens from a mounted
Secret, and are not behind the tenants' Service; the NetworkPolicies select existing pods by their
role label and allow exactly the connections the roles' args make (and monitoring on admin ports).
Then every object is validated offline against the Kubernetes JSON schemas
(kubernetes-validate, installed by tools/setup-test-clients)."""

import os
import re
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from harness import BINARY, SOURCE_DIR, Checks  # noqa: E402

c = Checks("kubernetes manifests")
root = os.path.join(SOURCE_DIR, "manifests")
K8S_VERSION = "1.30.0"


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


# -- kustomization: resources and generators, as kustomize would assemble them --------------------
kust = load_all(os.path.join(root, "kustomization.yaml"))[0]
namespace = kust["namespace"]
objects = []
for res in kust["resources"]:
    path = os.path.join(root, res)
    c.check(os.path.exists(path), f"kustomization resource {res} exists")
    objects += load_all(path)
configmaps = {}
for gen in kust.get("configMapGenerator", []):
    data = {}
    for f in gen.get("files", []):
        path = os.path.join(root, f)
        c.check(os.path.exists(path), f"configMapGenerator file {f} exists")
        data[os.path.basename(f)] = open(path).read()
    configmaps[gen["name"]] = data
    objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data})
secrets = {}
for gen in kust.get("secretGenerator", []):
    keys = {lit.split("=", 1)[0]: lit.split("=", 1)[1] for lit in gen.get("literals", [])}
    secrets[gen["name"]] = keys
    objects.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": gen["name"]},
                    "stringData": keys})
for o in objects:
    if o["kind"] != "Namespace":
        o["metadata"].setdefault("namespace", namespace)
by_kind = {}
for o in objects:
    by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
c.check(namespace in by_kind.get("Namespace", {}), f"the namespace {namespace} is created")

# -- the image: what the Dockerfile builds -------------------------------------------------------------
version = re.search(r"project\(inferstack VERSION (\S+)", open(os.path.join(SOURCE_DIR, "CMakeLists.txt")).read()).group(1)
image = f"inferstack:{version}"
dockerfile = open(os.path.join(SOURCE_DIR, "Dockerfile")).read()
c.check(image in dockerfile, f"the Dockerfile builds {image}")

# -- the flags each role has ------------------------------------------------------------------------------
help_of = {}
for role in ("gateway", "picker", "control", "pod"):
    out = subprocess.run([BINARY, "run", role, "--help"], capture_output=True, text=True, timeout=20)
    help_of[role] = out.stdout

deployments = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}  # every workload
statefulsets = by_kind.get("StatefulSet", {})
services = by_kind.get("Service", {})
stack_text = configmaps.get("inferstack-stack", {}).get("stack.yaml", "")
stack_docs = [d for d in yaml.safe_load_all(stack_text) if d]
pools = {f'{d["metadata"]["namespace"]}/{d["metadata"]["name"]}': d for d in stack_docs if d["kind"] == "InferencePool"}


def service_port(address):
    """tcp://svc:port, or tcp://<statefulset>-<i>.svc:port (one pod of a StatefulSet behind its
    headless Service) -> (Service, port) if a Service of that name exposes that port."""
    m = re.fullmatch(r"tcp://([a-z0-9-]+):(\d+)", address)
    pod = re.fullmatch(r"tcp://([a-z0-9-]+)-(\d+)\.([a-z0-9-]+):(\d+)", address)
    if pod:
        sts = statefulsets.get(pod.group(1))
        if not sts or int(pod.group(2)) >= sts["spec"]["replicas"] or sts["spec"]["serviceName"] != pod.group(3):
            return None
        if services.get(pod.group(3), {}).get("spec", {}).get("clusterIP") != "None":
            return None
        m = re.fullmatch(r"tcp://(.*):(\d+)", f"tcp://{pod.group(3)}:{pod.group(4)}")
    if not m:
        return None
    svc = services.get(m.group(1))
    if not svc or not any(p["port"] == int(m.group(2)) for p in svc["spec"]["ports"]):
        return None
    return svc, int(m.group(2))


sets = {f'{d["metadata"]["namespace"]}/{d["metadata"]["name"]}': d for d in stack_docs if d["kind"] == "InferenceSet"}
presets = {d["metadata"]["name"]: d for d in stack_docs if d["kind"] == "ModelPreset"}
slotted = set()


def check_slots(where, value):
    """<ns>/<set>=<pod>.<svc>:<port>,...: the set's StatefulSet pods, behind a headless Service,
    running that set's model, as many as the set may have replicas."""
    key, addresses = value.split("=", 1)
    slotted.add(key)
    s = sets.get(key)
    c.check(s is not None, f"{where}: --pod-slots {key} is an InferenceSet")
    if not s:
        return
    notes = s["metadata"].get("annotations", {})
    most = max(s["spec"].get("replicas", 1), int(notes.get("scaledobject.kaito.sh/max-replicas", 0)))
    slots = addresses.split(",")
    c.check(len(slots) >= most, f"{where}: {key} has a pod slot for each replica it may have ({most})", str(len(slots)))
    for i, slot in enumerate(slots):
        m = re.fullmatch(r"([a-z0-9-]+)-(\d+)\.([a-z0-9-]+):(\d+)", slot)
        sts = statefulsets.get(m.group(1)) if m else None
        ok = (sts is not None and int(m.group(2)) < sts["spec"]["replicas"] and sts["spec"]["serviceName"] == m.group(3)
              and services.get(m.group(3), {}).get("spec", {}).get("clusterIP") == "None")
        c.check(ok, f"{where}: slot {slot} is a pod of a StatefulSet behind its headless Service")
        if not ok:
            continue
        pod_args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
        c.check(pod_args[pod_args.index("--port") + 1] == m.group(4), f"{where}: slot {slot}: the pod's --port")
        c.check(pod_args[pod_args.index("--pod-address") + 1] == f"$(POD_NAME).{m.group(3)}:{m.group(4)}",
                f"{where}: slot {slot}: the pod names itself in KV-event topics as the slot address")
        c.check("--wait-ready" in pod_args, f"{where}: slot {slot}: the pod waits for the control plane")
        preset = presets.get(s["spec"]["template"]["inference"]["preset"]["name"], {})
        model = preset.get("spec", {}).get("servedModelName", preset.get("metadata", {}).get("name"))
        c.check(pod_args[pod_args.index("--model") + 1] == model, f"{where}: slot {slot} serves {model}")
        for k, v in preset.get("spec", {}).get("engine", {}).items():
            c.check(f"--{k}" in pod_args and pod_args[pod_args.index(f"--{k}") + 1] == str(v),
                    f"{where}: slot {slot} runs the preset's --{k} {v}")


picker_pools = {}
picker_flags = {}  # workload -> pool -> its --picker addresses, in order
for name, d in deployments.items():
    spec = d["spec"]["template"]["spec"]
    labels = d["spec"]["template"]["metadata"]["labels"]
    c.check(d["spec"]["selector"]["matchLabels"].items() <= labels.items(), f"{name}: selector matches its pods")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for ctr in spec["containers"]:
        where = f"{name}/{ctr['name']}"
        c.check(ctr["image"] == image, f"{where}: image is {image}", ctr["image"])
        args = ctr["args"]
        c.check(args[0] == "run" and args[1] in help_of, f"{where}: runs an inferstack role", str(args[:2]))
        role = args[1]
        for a in args:
            if a.startswith("--"):
                c.check(re.search(rf"(^|\s|,){re.escape(a)}\b", help_of[role]) is not None,
                        f"{where}: inferstack run {role} has {a}")
        ports = {p["name"]: p["containerPort"] for p in ctr.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            port = ctr.get(probe, {}).get("httpGet", {}).get("port")
            c.check(port in ports, f"{where}: {probe} port {port} is a container port")
        c.check("requests" in ctr.get("resources", {}), f"{where}: has resource requests")
        mounts = {m["mountPath"]: m for m in ctr.get("volumeMounts", [])}
        for m in mounts.values():
            c.check(m["name"] in volumes, f"{where}: mount {m['name']} has a volume")
        # The config file it reads comes from the stack ConfigMap.
        if role != "pod":
            cfg = args[args.index("-f") + 1]
            mount = next((m for p, m in mounts.items() if cfg.startswith(p + "/")), None)
            vol = volumes.get(mount["name"]) if mount else None
            c.check(vol is not None and vol.get("configMap", {}).get("name") in configmaps and
                    os.path.basename(cfg) in configmaps[vol["configMap"]["name"]],
                    f"{where}: {cfg} is a key of a mounted, generated ConfigMap")
        # Env vars the args use are defined.
        env = {e["name"] for e in ctr.get("env", [])}
        for a in args:
            for var in re.findall(r"\$\((\w+)\)", a):
                c.check(var in env, f"{where}: $({var}) in its args is an env var of the container")
        # Listeners bind ports the container declares.
        for flag in ("--transport-listen", "--transport-events", "--http", "--listen"):
            if flag in args:
                port = int(args[args.index(flag) + 1].rsplit(":", 1)[1])
                c.check(port in ports.values(), f"{where}: {flag} port {port} is a container port")
        # Peers: Services that exist, at ports they expose.
        for i, a in enumerate(args):
            if a == "--picker":
                pool, address = args[i + 1].split("=", 1)
                picker_flags.setdefault(name, {}).setdefault(pool, []).append(address)
                found = service_port(address)
                c.check(found is not None, f"{where}: --picker {pool} reaches a Service port", address)
                ref = pools.get(pool, {}).get("spec", {}).get("endpointPickerRef", {})
                c.check(pool in pools and found and found[0]["metadata"]["name"] == ref.get("name") and
                        found[1] == ref.get("port", {}).get("number"),
                        f"{where}: {pool}'s picker is at its endpointPickerRef name and port", address)
            if a in ("--control", "--control-events"):
                c.check(service_port(args[i + 1]) is not None, f"{where}: {a} reaches a Service port")
            if a == "--pod-slots":
                check_slots(where, args[i + 1])
        if role == "picker":
            picker_pools[args[args.index("--pool") + 1]] = name
        # The API keys it reads are mounted Secrets.
        if role == "gateway":
            for d2 in stack_docs:
                key_file = d2.get("spec", {}).get("keyFile") if d2["kind"] == "APIKey" else None
                if not key_file:
                    continue
                mount = next((m for p, m in mounts.items() if key_file.startswith(p + "/")), None)
                vol = volumes.get(mount["name"]) if mount else None
                secret = vol.get("secret", {}).get("secretName") if vol else None
                c.check(secret in secrets and os.path.basename(key_file) in secrets[secret],
                        f"{where}: key file {key_file} is a key of a mounted, generated Secret")
        # An admin listener off loopback is refused unless asked for; its tokens are the
        # InferenceGateway's token files, mounted from one generated Secret (every role shares them:
        # none may generate its own).
        if "--http" in args:
            host = args[args.index("--http") + 1].rsplit(":", 1)[0]
            if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
                c.check("--admin-allow-remote" in args, f"{where}: --http {host}:* has --admin-allow-remote")
            gw_spec = next((d2.get("spec", {}) for d2 in stack_docs if d2["kind"] == "InferenceGateway"), {})
            for field in ("adminTokenFile", "adminReadTokenFile"):
                token_file = gw_spec.get(field)
                c.check(token_file is not None,
                        f"{where}: the InferenceGateway's {field} is set (not generated per role)")
                if not token_file:
                    continue
                mount = next((m for p, m in mounts.items() if token_file.startswith(p + "/")), None)
                vol = volumes.get(mount["name"]) if mount else None
                secret = vol.get("secret", {}).get("secretName") if vol else None
                c.check(secret in secrets and os.path.basename(token_file) in secrets[secret]
                        and mount.get("readOnly"),
                        f"{where}: {field} {token_file} is a key of a generated Secret mounted read-only")
c.check(set(picker_pools) == set(pools), "one picker Deployment per InferencePool",
        f"{sorted(picker_pools)} vs {sorted(pools)}")
# -- picker replicas: as many as the pool's annotation says, each reached by name ------------------------------
for pool, workload in picker_pools.items():
    notes = pools.get(pool, {}).get("metadata", {}).get("annotations", {})
    want = int(notes.get("inferstack.io/picker-replicas", "1"))
    c.check(want == 3, f"{pool}: its InferencePool asks for 3 picker replicas (inferstack.io/picker-replicas)",
            str(notes))
    sts = statefulsets.get(workload)
    c.check(sts is not None and sts["spec"]["replicas"] == want,
            f"{pool}: its picker is a StatefulSet of {want} replicas", workload)
    if not sts:
        continue
    c.check(sts["spec"].get("podManagementPolicy") == "Parallel", f"{pool}: its picker replicas start together")
    svc = services.get(sts["spec"]["serviceName"], {})
    c.check(svc.get("spec", {}).get("publishNotReadyAddresses") is True,
            f"{pool}: its replicas' names resolve before they are ready (the control role tells them their pool)")
    expected = [f"tcp://{workload}-{i}.{sts['spec']['serviceName']}:9002" for i in range(want)]
    for who, flags in picker_flags.items():
        if pool in flags or who in ("inferstack-gateway", "inferstack-control"):
            c.check(flags.get(pool) == expected, f"{who}: --picker {pool} names each replica, in order",
                    str(flags.get(pool)))
    args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
    c.check("--replica" in args and args[args.index("--replica") + 1] == "$(POD_NAME)",
            f"{pool}: each replica knows its index from its pod name (--replica $(POD_NAME))")
c.check(slotted == set(sets), "every InferenceSet's pods are a StatefulSet's (--pod-slots)",
        f"{sorted(slotted)} vs {sorted(sets)}")
for name, svc in services.items():
    target = next((d for d in deployments.values()
                   if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()), None)
    c.check(target is not None, f"Service {name} selects a Deployment")
    if target:
        names = {p["name"] for ctr in target["spec"]["template"]["spec"]["containers"] for p in ctr.get("ports", [])}
        for p in svc["spec"]["ports"]:
            c.check(p["targetPort"] in names, f"Service {name}: targetPort {p['targetPort']} is a container port")

# -- who may reach whom: the NetworkPolicies allow exactly the connections the roles make ---------------
ROLE_LABEL = "inferstack.io/role"
MONITORING = {"app.kubernetes.io/name": "prometheus"}  # the monitoring pods networkpolicies.yaml assumes


def args_of(d):
    return d["spec"]["template"]["spec"]["containers"][0]["args"]


def role_of(d):
    return "model-server" if args_of(d)[1] == "pod" else args_of(d)[1]


def selected(selector):
    """The workloads whose pods a label selector (matchLabels only) selects."""
    want = selector.get("matchLabels", {})
    return [n for n, d in deployments.items() if want.items() <= d["spec"]["template"]["metadata"]["labels"].items()]


def port_number(name, port):
    """A policy's or Service's port (number or name) as a container port of the workload, or None."""
    ports = {p["name"]: p["containerPort"]
             for ctr in deployments[name]["spec"]["template"]["spec"]["containers"] for p in ctr.get("ports", [])}
    if isinstance(port, int):
        return port if port in ports.values() else None
    return ports.get(port)


def bound_port(args, flag):
    return int(args[args.index(flag) + 1].rsplit(":", 1)[1])


for name, d in deployments.items():
    c.check(d["spec"]["template"]["metadata"]["labels"].get(ROLE_LABEL) == role_of(d),
            f"{name}: its pods are labelled {ROLE_LABEL}: {role_of(d)}")

# What the roles need: (workload reached, container port, who reaches it: a role, "monitoring" or
# "anywhere"), from their args.
needed = set()
for name, d in deployments.items():
    args, role = args_of(d), role_of(d)
    if role == "gateway":
        needed.add((name, bound_port(args, "--listen"), "anywhere"))  # the tenants
    if "--http" in args:
        needed.add((name, bound_port(args, "--http"), "monitoring"))  # /metrics
    # Prometheus scrapes the port a pod template's prometheus.io annotations name
    # (manifests/grafana/prometheus/kubernetes.yml): the admin listener, or a model server's HTTP.
    notes = d["spec"]["template"]["metadata"].get("annotations", {})
    metrics_port = bound_port(args, "--http") if "--http" in args else int(args[args.index("--port") + 1])
    c.check(notes.get("prometheus.io/scrape") == "true" and notes.get("prometheus.io/port") == str(metrics_port)
            and notes.get("prometheus.io/path") == "/metrics",
            f"{name}: its pods are annotated for Prometheus at their /metrics port {metrics_port}", str(notes))
    if notes.get("prometheus.io/scrape") == "true":
        needed.add((name, int(notes["prometheus.io/port"]), "monitoring"))
    for i, a in enumerate(args):
        if a in ("--picker", "--control", "--control-events"):
            found = service_port(args[i + 1].split("=", 1)[-1])
            if not found:
                continue  # reported above
            svc, port = found
            target_port = next(p["targetPort"] for p in svc["spec"]["ports"] if p["port"] == port)
            for target in selected({"matchLabels": svc["spec"]["selector"]}):
                needed.add((target, port_number(target, target_port), role))
        if a == "--pod-slots":
            # A slot's pod as nodes/process_launcher.cpp reaches it: HTTP at the slot's port, the
            # transport, load reports, KV events and KV replay at the next four. The control role
            # drives the pod and hears its load (and reads /metrics for metrics load reports do not
            # carry); the pools' members go to the gateways (requests over the transport) and the
            # pickers (load, KV events, replay).
            for slot in args[i + 1].split("=", 1)[1].split(","):
                m = re.fullmatch(r"([a-z0-9-]+)-(\d+)\.[a-z0-9-]+:(\d+)", slot)
                if not m or m.group(1) not in statefulsets:
                    continue  # reported above
                sts, base = m.group(1), int(m.group(3))
                pod_args = args_of(statefulsets[sts])
                for offset, flag in enumerate(("--transport-listen", "--transport-events", "--zmq-endpoint",
                                               "--kv-events-replay-endpoint"), start=1):
                    c.check(flag in pod_args and bound_port(pod_args, flag) == base + offset,
                            f"{name}: slot {slot}: the pod binds {flag} at the slot's port + {offset}")
                for offset, who in ((0, "control"), (1, "control"), (2, "control"), (1, "gateway"),
                                    (2, "picker"), (3, "picker"), (4, "picker")):
                    needed.add((sts, base + offset, who))

# What the policies allow, in the same terms.
policies = by_kind.get("NetworkPolicy", {})
c.check(any(p["spec"]["podSelector"] == {} and p["spec"].get("policyTypes") == ["Ingress"] and
            not p["spec"].get("ingress") for p in policies.values()),
        "a default-deny NetworkPolicy: no ingress to any pod of the namespace unless allowed")
allowed = set()
for pname, pol in policies.items():
    spec = pol["spec"]
    where = f"NetworkPolicy {pname}"
    c.check(spec.get("policyTypes") == ["Ingress"], f"{where}: ingress only (egress, DNS included, is open)")
    c.check(set(spec["podSelector"]) <= {"matchLabels"}, f"{where}: selects by matchLabels")
    targets = selected(spec["podSelector"])
    c.check(targets, f"{where}: selects the pods of a Deployment or StatefulSet", str(spec["podSelector"]))
    for rule in spec.get("ingress", []):
        sources = set() if "from" in rule else {"anywhere"}
        for peer in rule.get("from", []):
            if "namespaceSelector" in peer:
                ok = peer["namespaceSelector"] == {} and peer.get("podSelector") == {"matchLabels": MONITORING}
                c.check(ok, f"{where}: a peer from other namespaces is the monitoring pods", str(peer))
                sources.add("monitoring")
            else:
                peer_sel = peer.get("podSelector", {})
                c.check(set(peer) == {"podSelector"} and set(peer_sel) <= {"matchLabels"},
                        f"{where}: a peer is a pod selector (matchLabels)", str(peer))
                peers = selected(peer_sel)
                c.check(peers, f"{where}: peer {peer_sel} selects the pods of a Deployment or StatefulSet")
                sources |= {role_of(deployments[p]) for p in peers}
        c.check(bool(rule.get("ports")), f"{where}: every rule names its ports")
        for p in rule.get("ports", []):
            c.check(p.get("protocol", "TCP") == "TCP", f"{where}: port {p['port']} is TCP")
            for target in targets:
                number = port_number(target, p["port"])
                c.check(number is not None, f"{where}: port {p['port']} is a container port of {target}")
                allowed |= {(target, number, s) for s in sources}


def show(conns):
    return "; ".join(f"{t}:{p} from {s}" for t, p, s in sorted(conns, key=str))


c.check(not needed - allowed, "every connection a role makes is allowed by a NetworkPolicy", show(needed - allowed))
c.check(not allowed - needed, "the NetworkPolicies allow nothing no role needs (admin ports: monitoring only)",
        show(allowed - needed))

# The tenants' Service never exposes an admin listener.
for name, d in deployments.items():
    args = args_of(d)
    if "--listen" not in args or "--http" not in args:
        continue
    tenant, admin = bound_port(args, "--listen"), bound_port(args, "--http")
    for sname, svc in services.items():
        if name not in selected({"matchLabels": svc["spec"]["selector"]}):
            continue
        exposed = {port_number(name, p["targetPort"]) for p in svc["spec"]["ports"]}
        if tenant in exposed:
            c.check(admin not in exposed,
                    f"Service {sname} (the tenants' port {tenant}) does not expose the admin port {admin}")

# -- the stack manifests: config/dev.yaml with the documented changes, and valid ---------------------------
dev = open(os.path.join(SOURCE_DIR, "config", "dev.yaml")).read()
expected = dev.replace("  secretsDir: var/secrets\n",
                       "  secretsDir: /var/run/inferstack/secrets\n"
                       "  adminTokenFile: /var/run/inferstack/admin/admin-token\n"
                       "  adminReadTokenFile: /var/run/inferstack/admin/read-token\n"
                       "  # Traces: the gateway's and the pickers' spans to an OpenTelemetry collector (OTLP/HTTP, JSON).\n"
                       "  # The pods take the same address from the inferstack-otel ConfigMap (kustomization.yaml).\n"
                       "  # tracing: {endpoint: \"http://otel-collector.observability:4318\", samplingRatio: 0.01}\n")
expected = expected.replace("  listen: 127.0.0.1:8080", "  listen: 0.0.0.0:8080")
expected = re.sub(r"(kind: InferencePool\nmetadata:\n  name: \S+\n  namespace: \S+\n)",
                  lambda m: m.group(1) + '  annotations:\n    inferstack.io/picker-replicas: "3"  # deploy/pickers.yaml: 3 replicas each\n',
                  expected)
for ns in ("team-a", "team-b"):
    expected = expected.replace(f"  name: {ns}-key\n  namespace: {ns}\nspec: {{}}",
                                f"  name: {ns}-key\n  namespace: {ns}\nspec:\n  keyFile: /var/run/inferstack/keys/{ns}/llm-api-key")


def body(text):  # without the header comment, which says what the file is
    return text[text.index("apiVersion"):]


c.check(body(stack_text) == body(expected), "manifests/stack/stack.yaml is config/dev.yaml with the documented changes")
check = subprocess.run([BINARY, "check", "-f", os.path.join(root, "stack", "stack.yaml")], capture_output=True,
                       text=True, timeout=20)
c.check(check.returncode == 0, "inferstack check accepts the mounted stack manifests", check.stdout + check.stderr)

# -- offline schema validation -----------------------------------------------------------------------------
validator = os.path.join(SOURCE_DIR, ".venv", "bin", "kubernetes-validate")
c.check(os.path.exists(validator), "kubernetes-validate is installed (tools/setup-test-clients)")
if os.path.exists(validator):
    rendered = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"inferstack-manifests-{os.getpid()}.yaml")
    with open(rendered, "w") as f:
        yaml.safe_dump_all(objects, f)
    out = subprocess.run([validator, "--strict", "-k", K8S_VERSION, rendered], capture_output=True, text=True,
                         timeout=120)
    os.unlink(rendered)
    c.check(out.returncode == 0, f"every object validates against the Kubernetes {K8S_VERSION} schemas (strict)",
            (out.stdout + out.stderr)[-2000:])
c.finish()
