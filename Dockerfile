# whoknows: the Teams bot server, configured by environment variables only.
#
#   docker build -t whoknows .
#   docker run -p 3978:3978 \
#     -e MicrosoftAppId=... -e MicrosoftAppPassword=... -e MicrosoftAppTenantId=... \
#     -e MicrosoftAppType=SingleTenant \
#     -e WHOKNOWS_DATABASE_URL=postgresql://whoknows@db.internal/whoknows \
#     whoknows
#
# The server binds to 0.0.0.0 here, which it refuses without MicrosoftAppId: in a
# container every request must carry a Bot Framework token. `whoknows settings` lists
# every variable. The sync worker is the same image: `docker run ... whoknows sync`.

# Build stage: install the project into a virtual environment, as `pip install .` does.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY signals/ signals/
COPY scoring/ scoring/
COPY cards/ cards/
COPY bot/ bot/
COPY cli/ cli/
COPY manifest/ manifest/
RUN python -m venv /opt/whoknows \
    && /opt/whoknows/bin/pip install --no-cache-dir . \
    && /opt/whoknows/bin/pip check

# Runtime stage: the virtual environment only; no source tree, no build cache, no root.
FROM python:3.11-slim
ENV PATH=/opt/whoknows/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 whoknows \
    && useradd --system --uid 10001 --gid whoknows --home-dir /var/lib/whoknows \
       --create-home --shell /usr/sbin/nologin whoknows
COPY --from=build /opt/whoknows /opt/whoknows
USER whoknows
# The default SQLite store (for a trial) lands here; use PostgreSQL in production.
WORKDIR /var/lib/whoknows
EXPOSE 3978
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3978/healthz', timeout=4).status == 200 else 1)"]
CMD ["whoknows", "serve", "--host", "0.0.0.0"]
