# The one loh binary; every role runs from this image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p loh && cp target/release/loh /usr/local/bin/loh

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 loh
COPY --from=build /usr/local/bin/loh /usr/local/bin/loh
USER loh
ENTRYPOINT ["loh"]
