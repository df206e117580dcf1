# Frontdesk on the CPU, with the demo's models trained while the image is built.
#
#   docker build -t frontdesk .
#   docker run -p 8080:8080 frontdesk          (SQLite inside the container; see compose.yaml
#                                               for PostgreSQL, Redis and several processes)
#
# To serve your own models instead, mount their directory over /app/models
# (-v $PWD/models:/app/models). The server writes only the answer index, when staff save an
# answer; give each replica its own copy of it, or none (see the README's Deploy section).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
WORKDIR /app
# The CPU wheel first: from PyPI, torch pulls in several GB of CUDA libraries.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY bot bot
COPY retrieval retrieval
COPY training training
RUN pip install .
COPY data data

FROM base AS models
RUN frontdesk train intent --data data/nlu.yml --out models/intent \
 && frontdesk train sentiment --data data/sentiment.csv --out models/sentiment \
 && frontdesk index build --data data/qa.csv --examples data/nlu.yml --out models/index

FROM base
COPY --from=models /app/models /app/models
RUN useradd --system --uid 10001 frontdesk && mkdir -p /app/var \
 && chown frontdesk /app/var && chown -R frontdesk /app/models/index
USER frontdesk
ENV FRONTDESK_HOST=0.0.0.0 FRONTDESK_PORT=8080 FRONTDESK_PID_FILE=/app/var/frontdesk.pid
EXPOSE 8080
HEALTHCHECK --interval=10s --start-period=120s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz')"
CMD ["frontdesk", "serve"]
