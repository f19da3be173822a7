"""A real Prometheus server (Debian's `prometheus` package) on loopback, scraping a trustwatch service."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .harness import free_port

PROMETHEUS = shutil.which("prometheus")


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def query(self, expr: str) -> dict[str, Any]:
        """The instant query's `data` (resultType and result); raises on a PromQL error."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {body}")
        return body["data"]

    def wait_for(self, expr: str, timeout: float = 120) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(expr)["result"]
            if result:
                return result
            time.sleep(1)
        raise AssertionError(f"no data for {expr!r} after {timeout} s\n{self.log.read_text()[-2000:]}")


@contextmanager
def prometheus(targets: list[str], workdir: Path, rule_files: list[Path] | None = None) -> Iterator[Prometheus]:
    if PROMETHEUS is None:
        pytest.skip("Debian's prometheus is not installed (apt-get install prometheus; make test does it as root)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "trustwatch", "static_configs": [{"targets": targets}]}],
    }
    if rule_files:
        config["rule_files"] = [str(p) for p in rule_files]
    (workdir / "prometheus.yml").write_text(json.dumps(config))
    port = free_port()
    log = workdir / "prometheus.log"
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    server = Prometheus(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(f"prometheus did not start:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        process.wait(30)
