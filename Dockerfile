# enrolsync's image: the wheel on a slim Python, run as an unprivileged user, no build or dev tools inside.
#
#   docker build -t enrolsync .
#   docker run --rm enrolsync --version
#
# docker-compose.yml runs it as the API, the workers and a one-shot migration against PostgreSQL.

# --- build: the project's wheel and every dependency's, from the checkout (no network needed after this) -------
FROM python:3.11-slim AS build
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --upgrade pip \
 && pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime ---------------------------------------------------------------------------------------------------
FROM python:3.11-slim
# A fixed numeric user: file permissions on mounted volumes and Kubernetes' runAsNonRoot can rely on it.
RUN groupadd --system --gid 10001 enrolsync \
 && useradd --system --uid 10001 --gid enrolsync --home-dir /var/lib/enrolsync --create-home enrolsync
COPY --from=build /wheels /wheels
# The base install only (no extras: no test or lint tools), from the wheels just built.
RUN pip install --no-cache-dir --no-index --find-links /wheels enrolsync \
 && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/enrolsync
ENV ENROLSYNC_DATA_DIR=/var/lib/enrolsync \
    ENROLSYNC_LOG_JSON=true \
    PYTHONUNBUFFERED=1
# The API's port; a worker started with ENROLSYNC_WORKER_METRICS_PORT serves its gauges on that one. Health checks
# differ by role (the API answers /ready, a worker has no HTTP port unless asked), so compose declares them.
EXPOSE 8000
ENTRYPOINT ["enrolsync"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
