# An endpoint image for the quic-interop-runner (its endpoint contract: run_endpoint.sh).
#
#   docker build -t quic-cid-fuzz .
#   docker run --rm -e ROLE=server -e TESTCASE=transfer -v "$PWD/www:/www" -v "$PWD/certs:/certs" quic-cid-fuzz
#
# The runner's simulator base image supplies /setup.sh and /wait-for-it.sh, which
# run_endpoint.sh calls when they exist. Not built in CI (no Docker there); run_endpoint.sh is
# tested directly by tests/tests/run_endpoint.rs.
# The build stage uses the runtime's own base, so that the binaries link against its C library.
FROM martenseemann/quic-network-simulator-endpoint:latest AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential ca-certificates curl pkg-config && \
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain 1.95
ENV PATH=/root/.cargo/bin:$PATH
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p fuzz-client -p fuzz-server

FROM martenseemann/quic-network-simulator-endpoint:latest
COPY --from=build /src/target/release/fuzz-client /src/target/release/fuzz-server /src/target/release/hq-get /usr/local/bin/
COPY run_endpoint.sh /run_endpoint.sh
RUN chmod +x /run_endpoint.sh
ENV FUZZ_BIN_DIR=/usr/local/bin
EXPOSE 443/udp
ENTRYPOINT ["/run_endpoint.sh"]
