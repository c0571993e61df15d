# hookwise in production: `hookwise serve` (or `worker`, `migrate`) against the PostgreSQL server
# named by DATABASE_URL. The image has no embedded PostgreSQL: without DATABASE_URL, commands
# exit 2 saying so.
#
#   docker build -t hookwise .
#   docker run -e DATABASE_URL=postgresql://... -e GITHUB_WEBHOOK_SECRET=... -p 8080:8080 hookwise

# Build: a wheel of hookwise, installed with its dependencies (every one has a binary wheel for
# 3.12, so no compiler is needed) into a virtualenv the final stage copies whole.
FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY db ./db
# No extras: [embedded] (PostgreSQL server binaries) and [dev] stay out of the image.
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv --without-pip /opt/hookwise \
    && pip --python /opt/hookwise/bin/python install /wheels/hookwise-*.whl

# Run: the same Python, the virtualenv, and an unprivileged user; no pip, wheels or sources.
FROM python:3.12-slim
RUN python -m pip uninstall --yes --quiet pip \
    && groupadd --system --gid 10001 hookwise \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin hookwise
COPY --from=build /opt/hookwise /opt/hookwise
ENV PATH=/opt/hookwise/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /srv/hookwise
USER 10001:10001
EXPOSE 8080
# One web process per core (SO_REUSEPORT on PORT) and a worker process beside them, at a lower CPU
# priority (HOOKWISE_WORKER_NICE, 10): deliveries are answered first. /metrics on PORT gathers
# them all. Under a CPU quota (docker run --cpus), which the core count does not
# see, set WEB_CONCURRENCY (or HOOKWISE_WEB_PROCESSES) to the cores the quota allows.
CMD ["hookwise", "serve"]
