# syntax=docker/dockerfile:1
# The application image (web, worker, beat, migrate) and the proxy image (Caddy with the
# static files), built from one commit so the two always carry the same static files.
# README "Production". Base images are pinned to a patch version; bump them on purpose.

# --- builder: wheels for every runtime dependency (compilers stay here) ------------------
FROM python:3.11.14-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
# Runtime only: requirements.txt lists the test tools after "# Tests and tooling".
RUN mkdir /wheels \
    && sed '/^# Tests and tooling/,$d' /tmp/requirements.txt > /wheels/requirements.txt \
    && pip wheel --wheel-dir /wheels -r /wheels/requirements.txt

# --- app: no compiler, no pip cache, code owned by root and read-only to the app ---------
FROM python:3.11.14-slim-bookworm AS app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=insurer.settings \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    PRIVATE_FILES_ROOT=/srv/files
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels -r /wheels/requirements.txt
# The one thing the app writes: batch PDFs and mailing lists (the `files` volume). A new
# named volume takes this folder's owner, so uid 10001 can write there.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent app \
    && mkdir -p /srv/files && chown app:app /srv/files && chmod 0750 /srv/files
WORKDIR /app
COPY . .
# collectstatic needs no secrets: DEBUG lets the settings load without them, for this step
# only (the running containers get DJANGO_DEBUG=0 from docker-compose.yml).
RUN DJANGO_DEBUG=1 python manage.py collectstatic --noinput
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "insurer.healthcheck", "web"]
CMD ["gunicorn", "insurer.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120", "--access-logfile", "-"]

# --- proxy: Caddy (TLS, static files, X-Accel-Redirect downloads) ------------------------
FROM caddy:2.10.2-alpine AS proxy
COPY --from=app /app/staticfiles /srv/static
COPY Caddyfile /etc/caddy/Caddyfile

# The default target (plain `docker build .`) is the application image.
FROM app
