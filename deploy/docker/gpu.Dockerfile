# syntax=docker/dockerfile:1
# trustwatch, GPU image: the vLLM image as base (CUDA, PyTorch and vLLM as vLLM ships them),
# trustwatch with its `vllm` extra on top. Several variants share the one GPU of the node
# (each variant's `options.gpu_memory_utilization` in the config splits its memory).
# Build from the repository root:
#   docker build -f deploy/docker/gpu.Dockerfile -t trustwatch:gpu .

# The tag must match the vllm pin of the `vllm` extra in pyproject.toml.
FROM vllm/vllm-openai:v0.33.0
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    TRUSTWATCH_CACHE=/var/cache/trustwatch \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Keep the base image's torch and vllm: pin them to what is installed so pip fails loudly,
# rather than replacing them, if trustwatch's ranges ever stop admitting them. The source is
# bind-mounted (BuildKit), so it leaves no layer behind.
RUN --mount=type=bind,source=.,target=/src,rw \
    python3 -m pip freeze | grep -iE '^(torch|vllm)==' > /tmp/keep.txt \
 && python3 -m pip install -c /tmp/keep.txt "/src[vllm]" \
 && install -m 0755 /src/deploy/docker/grpc_health_check.py /usr/local/bin/trustwatch-healthcheck \
 && useradd --system --uid 10001 --create-home --home-dir /home/trustwatch trustwatch \
 && mkdir -p /etc/trustwatch /var/lib/trustwatch /var/cache/trustwatch \
 && chown trustwatch:trustwatch /var/lib/trustwatch /var/cache/trustwatch \
 && rm -f /tmp/keep.txt
USER 10001:10001
WORKDIR /home/trustwatch
VOLUME ["/var/lib/trustwatch"]
# 50051: gRPC (health, reflection, trustwatch.v1); 9464: HTTP /metrics and /gate.
EXPOSE 50051 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=15m --retries=3 \
  CMD ["python3", "/usr/local/bin/trustwatch-healthcheck", "--address", "127.0.0.1:50051"]
ENTRYPOINT ["trustwatch"]
CMD ["serve", "--config", "/etc/trustwatch/config.yaml", "--grpc-address", "0.0.0.0:50051", "--metrics-address", "0.0.0.0:9464"]
