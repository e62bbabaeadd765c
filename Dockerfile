# syntax=docker/dockerfile:1
# LLS — Local License Server as a container image.
#
#   docker build -t lls .
#   docker run --rm -e LLS_MACHINE_ID=… -v lls-data:/var/lib/lls \
#       -v ./vendor.jwks:/etc/lls/vendor.jwks:ro \
#       lls init --vendor-keys /etc/lls/vendor.jwks          # once: instance keys, admin token
#   docker run -d --name lls -e LLS_MACHINE_ID=… -p 8080:8080 -v lls-data:/var/lib/lls \
#       --ulimit nofile=65536:65536 lls                     # a descriptor per connection
#   docker exec lls lls status                               # admin views inside the container
#
# The admin API listens on 127.0.0.1:8081 inside the container (the CLI there finds
# it): publish it only with LLS_ADMIN_HOST=0.0.0.0 and TLS (LLS_TLS_CERT/LLS_TLS_KEY).
#
# Settings come from LLS_* variables (config/lls.yaml lists them all), or mount a
# config file and run `serve --config /etc/lls/lls.yaml`. See compose.yaml. Pass the
# same stable LLS_MACHINE_ID to `init` and every later run: a container has no
# /etc/machine-id and a new MAC address each time it is recreated.

# --- build: the project's wheel and every dependency's wheel -------------------------
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the wheels installed into a plain slim Python, run as a non-root user ---
FROM python:3.11-slim AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels lls \
 && groupadd --system --gid 10001 lls \
 && useradd --system --uid 10001 --gid lls --home-dir /var/lib/lls --shell /usr/sbin/nologin lls \
 && install -d -o lls -g lls -m 0700 /var/lib/lls \
 && install -d -m 0755 /etc/lls

# The data directory holds the database, the instance keys and the admin token.
ENV LLS_DATA_DIR=/var/lib/lls \
    LLS_HOST=0.0.0.0 \
    LLS_PORT=8080 \
    LLS_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER lls
WORKDIR /var/lib/lls
VOLUME /var/lib/lls
EXPOSE 8080

# Healthy = ready: serving, a pool imported and not expired, the clock not turned back
# (slim has no curl; the image's own Python asks /readyz, over HTTPS when LLS_TLS_CERT
# is set: the certificate is not checked, the question is only whether LLS answers).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, ssl, urllib.request as u; e = os.environ.get; u.urlopen('http%s://127.0.0.1:%s/readyz' % ('s' if e('LLS_TLS_CERT') else '', e('LLS_PORT', '8080')), timeout=4, context=ssl._create_unverified_context())"]

# docker stop sends SIGTERM: requests in flight finish, the database closes cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["lls"]
CMD ["serve"]
