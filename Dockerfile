# guard: the proxy, its checks (MiniLM on ONNX Runtime, CPU torch to export it) and the reviewer page, in one image.
# Installs the way the README and scripts/setup do: CPU torch pinned first, then guard[local].
#
#   docker build -t guard .
#   docker run -p 8000:8000 -v $PWD/deploy/guard.yaml:/srv/guard/guard.yaml:ro guard
#
# The sample knowledge index is built into the image at /srv/guard/index; mount your own
# (read-only) over it. See docs/deploy.md for several replicas on one PostgreSQL.

FROM python:3.11-slim AS build
# llama-cpp-python (the [local] extra: the embedded SmolLM2 default) compiles from source.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake \
 && rm -rf /var/lib/apt/lists/*
# Portable flags, not -march=native: the image runs on other CPUs than the one that built it, and
# the native build segfaults on CPUs with AMX (ggml-org/llama.cpp#20824).
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 CMAKE_BUILD_PARALLEL_LEVEL=4 \
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
RUN python -m venv /opt/guard
# torch first and pinned to a CPU build; unpinned, a dependency would pull a multi-GB CUDA build.
RUN /opt/guard/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY guard ./guard
COPY review_queue ./review_queue
RUN /opt/guard/bin/pip install '.[local]'
# The sample index, built once here with the embedding model the runtime uses. The build also
# exports that model to ONNX (the default onnx-int8 backend) into /opt/guard-cache, which the
# runtime image reads, so containers start without exporting it again.
COPY knowledge ./knowledge
RUN HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GUARD_CACHE_DIR=/opt/guard-cache \
    /opt/guard/bin/guard index build knowledge --out /opt/guard-index


FROM python:3.11-slim
# libgomp: OpenMP for torch, faiss and llama.cpp.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 --shell /usr/sbin/nologin guard
COPY --from=build /opt/guard /opt/guard
COPY --from=build /opt/guard-cache /opt/guard-cache
COPY --from=build --chown=guard:guard /opt/guard-index /srv/guard/index
COPY --chown=guard:guard policies /srv/guard/policies
COPY --chown=guard:guard deploy/guard.yaml /srv/guard/guard.yaml
ENV PATH=/opt/guard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    TOKENIZERS_PARALLELISM=false \
    GUARD_CONFIG=/srv/guard/guard.yaml \
    GUARD_CACHE_DIR=/opt/guard-cache
WORKDIR /srv/guard
USER guard
EXPOSE 8000
# Liveness only (the process answers); load balancers should use /readyz for readiness.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# Exec form: guard is PID 1 and gets SIGTERM itself, then finishes in-flight streams within
# limits.shutdown_grace_s. Give the orchestrator a longer stop timeout than that.
CMD ["guard", "serve", "--config", "/srv/guard/guard.yaml"]
