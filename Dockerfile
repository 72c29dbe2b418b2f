# The app image of docker-compose.yml: the worker, the API, the sandbox and the one-shot
# vault-init and schedules steps all run from it, as `backoffice <command>`.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 backoffice \
 && useradd --system --uid 10001 --gid backoffice --home-dir /var/lib/backoffice \
    --no-create-home --shell /usr/sbin/nologin backoffice

# Dependencies first, at the versions of constraints.txt, in a layer of their own: a change to
# the source does not download them again.
COPY pyproject.toml constraints.txt /tmp/backoffice-deps/
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/backoffice-deps/pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/backoffice-deps/requirements.txt \
 && pip install -c /tmp/backoffice-deps/constraints.txt -r /tmp/backoffice-deps/requirements.txt \
 && rm -rf /tmp/backoffice-deps

COPY . /tmp/backoffice-src
RUN pip install --no-deps /tmp/backoffice-src && rm -rf /tmp/backoffice-src

# Folders the compose file mounts named volumes on: made here, owned by the app's user, so each
# new volume starts with that owner (and private where it holds Vault logins).
RUN mkdir -p /var/lib/backoffice/data/exports /var/lib/backoffice/vault-init \
    /var/lib/backoffice/worker /var/lib/backoffice/api /var/lib/backoffice/schedules \
    /var/lib/backoffice/cli /var/lib/backoffice/sandbox \
 && chown -R backoffice:backoffice /var/lib/backoffice \
 && chmod 0700 /var/lib/backoffice/vault-init /var/lib/backoffice/worker \
    /var/lib/backoffice/api /var/lib/backoffice/schedules /var/lib/backoffice/cli

USER backoffice
WORKDIR /var/lib/backoffice
ENV BACKOFFICE_DATA_DIR=/var/lib/backoffice/data

ENTRYPOINT ["backoffice"]
CMD ["--help"]
