# One image for the web UI, the dispatcher and the Ray nodes (docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
# torch first and pinned (a bare torch pulls the CUDA build; for GPU workers
# build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124)
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install torch==2.13.0 --index-url ${TORCH_INDEX}
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN pip install --no-deps .
# An unprivileged user; HPSEARCH_HOME (Tune's storage, journals, driver logs) on a
# volume shared by the dispatcher and every Ray node, owned by that user.
RUN useradd --create-home hpsearch && mkdir -p /data/hpsearch && chown hpsearch:hpsearch /data/hpsearch
# Trials run as this unprivileged user (HPSEARCH_TRIAL_USER; docs/security.md "The trial boundary").
RUN useradd --system --no-create-home --shell /usr/sbin/nologin hpsearch-trial
ENV HPSEARCH_HOME=/data/hpsearch
USER hpsearch
EXPOSE 8080
CMD ["hpsearch", "--help"]
