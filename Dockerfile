# syntax=docker/dockerfile:1.7
# Image of the ECS Fargate target. Build for Graviton from any machine:
#   docker buildx build --platform linux/arm64 -t axum-xray-otel .
# Base images are pinned by tag and digest (multi-arch index); bump both together.

# The builder runs on the build machine's own platform and cross-compiles for TARGETARCH:
# much faster than compiling Rust under QEMU.
FROM --platform=$BUILDPLATFORM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS builder
ARG TARGETARCH
ARG BUILDARCH
SHELL ["/bin/bash", "-e", "-u", "-o", "pipefail", "-c"]

# A cross linker only when the image is for the other architecture.
RUN if [[ "$TARGETARCH" != "$BUILDARCH" ]]; then \
      apt-get update; \
      case "$TARGETARCH" in \
        arm64) apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu=4:12.2.0-3 libc6-dev-arm64-cross=2.36-8cross1 ;; \
        amd64) apt-get install -y --no-install-recommends gcc-x86-64-linux-gnu=4:12.2.0-3 libc6-dev-amd64-cross=2.36-8cross1 ;; \
        *) echo "unsupported TARGETARCH '$TARGETARCH' (amd64 or arm64)" >&2; exit 1 ;; \
      esac; \
      rm -rf /var/lib/apt/lists/*; \
    fi

WORKDIR /src
# The Rust target's standard library, in a layer that source changes do not invalidate.
COPY deploy/build-binary.sh deploy/
RUN deploy/build-binary.sh --arch "$TARGETARCH" --prepare

COPY . .
# Registry and target dir live in BuildKit caches, so a source change recompiles only this crate.
# The target dir is a cache, not a layer: the script copies the binary out to /out.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    deploy/build-binary.sh --arch "$TARGETARCH" --output /out/axum-xray-otel

# glibc 2.36 like the bookworm builder, CA certificates, no shell; uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
COPY --from=builder /out/axum-xray-otel /axum-xray-otel
USER 65532:65532
EXPOSE 8080
# For docker run and compose; ECS uses the task definition's health check (same command).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 CMD ["/axum-xray-otel", "healthcheck"]
ENTRYPOINT ["/axum-xray-otel"]
CMD ["serve"]
