# The inferstack image the Kubernetes manifests (manifests/) run: inferstack:0.1.0.
#   docker build -t inferstack:0.1.0 .
# Debian 12 packages only, as on a developer's machine (tools/install-deps).
FROM debian:12 AS build
WORKDIR /src
COPY tools/install-deps tools/install-deps
RUN tools/install-deps
COPY . .
RUN cmake -S . -B /build -G Ninja -DINFERSTACK_TESTS=OFF -DINFERSTACK_BENCH=OFF \
 && cmake --build /build --target inferstack

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libcaf-core0.17 libzmq5 libprometheus-cpp-core1.0 \
      libspdlog1.10 libfmt9 libyaml-cpp0.7 libssl3 libjemalloc2 libsimdjson14 \
      libgrpc++1.51 libprotobuf32 \
      gnuplot-nox \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/nodes/inferstack /usr/local/bin/inferstack
COPY config /usr/local/share/inferstack/config
RUN useradd --system --uid 10001 inferstack
USER 10001
WORKDIR /usr/local/share/inferstack
ENTRYPOINT ["/usr/local/bin/inferstack"]
