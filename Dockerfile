# The one loh binary; every role runs from this image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p loh && cp target/release/loh /usr/local/bin/loh

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 loh \
 && useradd --system --uid 10001 --gid 10001 --no-create-home loh
COPY --from=build /usr/local/bin/loh /usr/local/bin/loh
# mimalloc 3 keeps freed pages for 1,000 ms and a tick lives 400 ms, so a process held its busiest
# tick of the last second; at 100 ms it hands them back between ticks: 30-40 MiB less resident
# with 2,500 players for about 0.4 ms of system time a tick (docs/BENCHMARKS.md, "Memory per
# connected player"). Set it to 1000 to undo, 0 for the least memory at more system time.
ENV MIMALLOC_PURGE_DELAY=100
# The secrets (the RSA private key) are owned by 10001 and mode 0600 on the host: see the
# docker-compose files.
USER 10001:10001
ENTRYPOINT ["loh"]
