# SPLP: one image for the directory, the audit sink, adapters and the CLI.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY splp ./splp
COPY schemas ./schemas
RUN pip install --no-cache-dir ".[all]" && useradd --system --home /app splp
USER splp
ENV SPLP_CACHE_DIR=/tmp/splp-cache
CMD ["splp", "--help"]
