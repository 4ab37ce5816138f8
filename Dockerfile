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
# The secrets (the RSA private key) are owned by 10001 and mode 0600 on the host: see the
# docker-compose files.
USER 10001:10001
ENTRYPOINT ["loh"]
