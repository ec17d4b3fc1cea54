# syntax=docker/dockerfile:1
# The gallery's image: the app and its locked runtime set, run as an unprivileged user, with
# its data (SQLite, media, signing keys) in the /data volume. The install and start steps are
# scripts that CI also runs outside a container (tests/test_container.py).
#
#   docker build -t sdxl-gallery .
#   docker run -e SECRET_KEY=... -p 8000:8000 -v gallery-data:/data sdxl-gallery
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1
COPY requirements/container.txt requirements/
COPY scripts/container-install scripts/
RUN scripts/container-install /opt/venv

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GALLERY_ENV_FILE= \
    GALLERY_DATA_DIR=/data \
    STATIC_ROOT=/app/staticfiles \
    HOST=0.0.0.0 \
    PORT=8000
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/gallery gallery \
    && mkdir -p /data /app/staticfiles \
    && chown gallery:gallery /data /app/staticfiles
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root . .
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "scripts/container-healthcheck"]
ENTRYPOINT ["scripts/container-start"]
CMD ["web"]
