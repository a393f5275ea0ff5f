# influxgate container image. NOT TESTED: the machines this project is built
# and tested on cannot pull base images, so this file has never been built.
# The .deb (make deb) and the systemd unit are the tested ways to install.
#
#   docker build -t influxgate .
#   docker run -p 9096:9096 -v influxgate-data:/var/lib/influxgate \
#       -v $PWD/influxgate.toml:/etc/influxgate/influxgate.toml:ro influxgate
#
# The config must bind a non-loopback address (bind-addr = ":9096") to be
# reachable from outside the container.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.1.0~dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /influxgate ./cmd/influxgate

FROM debian:bookworm-slim
RUN useradd --system --home-dir /var/lib/influxgate --shell /usr/sbin/nologin influxgate \
    && install -d -o influxgate -g influxgate -m 0700 /var/lib/influxgate
COPY --from=build /influxgate /usr/bin/influxgate
COPY examples/influxgate.toml /etc/influxgate/influxgate.toml
USER influxgate
VOLUME /var/lib/influxgate
EXPOSE 9096
# /health answers 200 while writes are accepted (see docs/operations.md).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/influxgate"]
CMD ["run", "-config", "/etc/influxgate/influxgate.toml"]
