# syntax=docker/dockerfile:1
# One image for every Mandi service; the command picks the service:
#   docker run mandi services.gateway      (services.history, .marketdata, .strategy,
#   docker run mandi scripts.migrate        .execution, .kitesim; the chart sets the command)
# Stages: the web UI built by Node, the Python dependencies installed into a venv (the only
# stage with compilers), and a slim final image with the venv, the sources and the UI.

# --- web UI (SvelteKit, adapter-static → web/build) -------------------------------------------
FROM node:22.12.0-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# --- Python dependencies ----------------------------------------------------------------------
FROM python:3.11.11-slim-bookworm AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# a compiler for any dependency that ships only a source distribution; it stays in this stage
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential=12.9 \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# --- runtime ----------------------------------------------------------------------------------
FROM python:3.11.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    NUMBA_CACHE_DIR=/tmp/numba-cache
RUN groupadd --system --gid 10001 mandi \
    && useradd --system --uid 10001 --gid mandi --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin mandi
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY mandi/ mandi/
COPY services/ services/
COPY scripts/ scripts/
COPY --from=web /web/build web/build
# bytecode compiled at build time: at run time the root filesystem is read-only
RUN python -m compileall -q mandi services scripts
USER 10001:10001
EXPOSE 5000 50051 50052 50053 50054 50055 8765 9101 9102 9103 9104 9105
ENTRYPOINT ["python", "-m"]
CMD ["services.gateway"]
