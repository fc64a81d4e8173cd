# One image for the web UI, the dispatcher and the Ray nodes.
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
RUN useradd --create-home hpsearch
USER hpsearch
