FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd -r app && useradd -r -g app -d /app app

FROM base AS deps
COPY requirements.txt /tmp/
RUN --mount=type=cache,target=/root/.cache/pip pip install -r /tmp/requirements.txt

FROM deps AS final
WORKDIR /app
COPY --chown=app:app --chmod=0755 entrypoint.sh /usr/local/bin/
COPY --chown=app:app src/ ./src/
LABEL org.opencontainers.image.title="app" \
      org.opencontainers.image.source="https://example.com/app"
VOLUME ["/app/data"]
STOPSIGNAL SIGINT
USER app
ENTRYPOINT ["entrypoint.sh"]
CMD ["python", "-m", "src"]
