# crmbot container image.
#
#   docker build -t crmbot .
#   docker run -d --name crmbot -v crmbot-data:/var/lib/crmbot \
#       -e CRMBOT_SETTINGS_FILE=/etc/crmbot/crmbot.yaml -v "$PWD/crmbot.yaml:/etc/crmbot/crmbot.yaml:ro" \
#       crmbot
#
# Any Debian-based image with python3 >= 3.11 and its venv module can stand in for the default base
# (--build-arg BASE_IMAGE=...): see docs/container.md for building on a machine without a registry.
# Commands say `python3`, which both the official Python images and Debian's python3 provide.

ARG BASE_IMAGE=python:3.12-slim

# ---- build: a virtual environment with crmbot and its dependencies, from binary wheels only ----
FROM ${BASE_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/crmbot

# The context is filtered by .dockerignore (sources, pyproject.toml, README, examples only).
COPY . /src

# The crmbot wheel is built from the sources; every dependency must come as a binary wheel, so
# a dependency without a wheel for this platform fails the build here instead of needing a compiler.
# `crmbot --help` imports every module the CLI loads: a dependency missing from pyproject.toml
# fails the build. pip and setuptools are then removed: nothing is installed at run time.
RUN /opt/crmbot/bin/python3 -m pip wheel --no-deps --wheel-dir /tmp/wheels /src \
 && /opt/crmbot/bin/python3 -m pip install --only-binary=:all: /tmp/wheels/crmbot-*.whl \
 && /opt/crmbot/bin/crmbot --help > /dev/null \
 && /opt/crmbot/bin/python3 -m pip uninstall --yes pip setuptools

# ---- runtime: the virtual environment, the examples, a non-root user; no compiler, no sources ----
FROM ${BASE_IMAGE} AS runtime

ARG CRMBOT_UID=10001
# The repository's public address (no remote is configured yet): --build-arg SOURCE_URL=https://...
ARG SOURCE_URL=""

LABEL org.opencontainers.image.title="crmbot" \
      org.opencontainers.image.description="Unattended worker between request channels (mailboxes, CRM tickets) and the CRM: dedup, triage, SLA, write-back." \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --gid "${CRMBOT_UID}" crmbot \
 && useradd --no-log-init --uid "${CRMBOT_UID}" --gid crmbot --home-dir /var/lib/crmbot \
        --no-create-home --shell /usr/sbin/nologin crmbot \
 && mkdir -p /var/lib/crmbot \
 && chown crmbot:crmbot /var/lib/crmbot \
 && chmod 0750 /var/lib/crmbot

COPY --from=build /opt/crmbot /opt/crmbot
COPY --from=build /src/examples /usr/share/crmbot/examples

# Settings come from CRMBOT_* variables, files in /run/secrets named like
# crmbot_sources__inbox__password, or the YAML/TOML file named by CRMBOT_SETTINGS_FILE.
# The variables below take precedence over a settings file; override them with -e.
ENV PATH=/opt/crmbot/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/crmbot \
    CRMBOT_STORE__URL=sqlite:////var/lib/crmbot/crmbot.db \
    CRMBOT_WORKER__HEALTH_FILE=/var/lib/crmbot/health \
    CRMBOT_LOG__FORMAT=json

VOLUME ["/var/lib/crmbot"]
WORKDIR /var/lib/crmbot
USER crmbot:crmbot

# The worker rewrites its health file on every loop (about once a second).
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
    CMD ["crmbot", "health", "--max-age", "300"]

ENTRYPOINT ["crmbot"]
CMD ["run"]
