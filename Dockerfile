# hubfn container image, for Kubernetes (KEDA) or any container host.
#
#   docker build -t hubfn .                                          # bundles functions/
#   docker build -t my-app --build-arg APP=examples/rudderstack-router .
#   docker run --rm -p 8080:8080 -e HubConnection='Endpoint=sb://...' -e AEP_HUB=... hubfn
#   docker run --rm -v "$PWD/my-app:/home/site/wwwroot:ro" -e ... hubfn     # a mounted app
#
# The app lives in /home/site/wwwroot (Azure's AzureWebJobsScriptRoot). Configuration comes
# from the environment only: app settings (connections, %NAME% values) and
# AzureFunctionsJobHost__a__b overrides of host.json. local.settings.json is never copied
# (.dockerignore), as Azure never publishes it. Probes: /healthz and /readyz on
# $HUBFN_HTTP_PORT. SIGTERM drains (in-flight batches finish, checkpoints are committed)
# within --drain-timeout (25 s), then hubfn exits 0.
#
# No Docker engine is needed to test this file: `make test-container` (tests/container/)
# builds both stages from the instructions below into a debootstrapped bookworm chroot and
# runs the image there. It reads the package lists, user, ENV, ENTRYPOINT, CMD and
# HEALTHCHECK from this file, so they are written down only here.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev make pkg-config liblua5.4-dev librdkafka-dev libcjson-dev libev-dev \
      libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY runtime/ runtime/
COPY bindings/ bindings/
COPY commands/ commands/
RUN make -j"$(nproc)"

FROM debian:bookworm-slim AS runtime
# Only the shared libraries build/hubfn links (liblua5.4.so.0, librdkafka.so.1,
# libcjson.so.1, libev.so.4, libcurl.so.4 for http bindings and OTLP export; librdkafka
# brings OpenSSL, SASL, zlib, zstd, lz4) and the CA bundle for the Event Hubs TLS endpoint
# (port 9093) and https peers.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      liblua5.4-0 librdkafka1 libcjson1 libev4 libcurl4 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hubfn \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/site --no-create-home \
      --shell /usr/sbin/nologin hubfn
COPY --from=build /src/build/hubfn /usr/local/bin/hubfn
ARG APP=functions
COPY ${APP}/ /home/site/wwwroot/
ENV AzureWebJobsScriptRoot=/home/site/wwwroot \
    HUBFN_HTTP_PORT=8080
# Numeric, so that Kubernetes' runAsNonRoot can check it. The app stays owned by root:
# the hubfn user reads it and cannot change it.
USER 10001:10001
WORKDIR /home/site/wwwroot
EXPOSE 8080
# The image has no curl: bash (essential in Debian, so in -slim) speaks HTTP/1.1 over
# /dev/tcp. Healthy when GET /healthz answers 200. Kubernetes uses its own httpGet probes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${HUBFN_HTTP_PORT:-8080} && printf 'GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r -t 4 proto status rest <&3 && [ \"$status\" = 200 ]"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["hubfn"]
CMD ["start", "/home/site/wwwroot"]
