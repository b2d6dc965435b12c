# syntax=docker/dockerfile:1
# upf runtime image: a Debian 12 builder with DPDK 22.11's development
# packages and Rust, then a slim runtime with DPDK's runtime libraries and
# the upf binary only. The build steps live in scripts/docker-build-steps.sh
# (tested without docker by scripts/tests/20-docker-build-steps.sh).
#
#   docker build --build-arg UPF_GIT_HASH=$(git rev-parse --short=12 HEAD) -t upf .
#   docker run --privileged --network host -v /dev/hugepages:/dev/hugepages \
#       -v /etc/upf:/etc/upf:ro upf

FROM debian:12 AS builder
ENV PATH=/root/.cargo/bin:$PATH
COPY scripts/lib.sh scripts/docker-build-steps.sh scripts/runtime-packages.txt /src/scripts/
RUN /src/scripts/docker-build-steps.sh builder-deps
COPY . /src
ARG UPF_GIT_HASH=unknown
RUN UPF_GIT_HASH=${UPF_GIT_HASH} /src/scripts/docker-build-steps.sh build /out

FROM debian:12-slim
COPY scripts/lib.sh scripts/docker-build-steps.sh scripts/runtime-packages.txt /tmp/steps/scripts/
RUN UPF_APT_CLEAN=1 /tmp/steps/scripts/docker-build-steps.sh runtime-deps && rm -rf /tmp/steps
COPY --from=builder /out/ /
ENTRYPOINT ["upf", "run", "--config", "/etc/upf/upf.yaml"]
