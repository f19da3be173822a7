"""``trustwatch serve`` settings: the run config plus store, replay, limits, auth, TLS, addresses.

```yaml
# ... baseline, variants, probes, generation, scorer, policy as for `trustwatch run`
store:   {path: trustwatch-store.sqlite, retention_rounds: 10, on_corrupt: fail}   # or quarantine
replay:  {items_per_cycle: 16, pause_seconds: 0.0, max_backend_share: 0.5, continuous: true,
          round_pause_seconds: 60, autostart: true, mode: sequential}
limits:  {max_prompt_chars: 8000, max_new_tokens: 512, max_batch: 32, max_message_bytes: 4194304,
          max_queued_calls: 64}
auth:    {token_file: /etc/trustwatch/token}        # or {token_env: TRUSTWATCH_TOKEN}
tls:     {cert: server.crt, key: server.key}
service: {grpc_address: 127.0.0.1:50051, metrics_address: 127.0.0.1:9464, drain_seconds: 10}
```
``service.drain_seconds``: after SIGTERM the process is out within this long (plus the interpreter's
exit): readiness turns false at once, ``WatchGate`` streams end, replay stops (inside the backend
call where the backend allows it, else at the next chunk) without storing the slice it was on,
and live calls get what is left of it to finish.
The gate runs in ``sequential`` (anytime-valid) mode by default here, since the service
looks at it after every cycle; ``trustwatch run`` looks once and uses the policy's mode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from trustwatch.common.errors import ConfigError
from trustwatch.common.schema import Reader, bounded
from trustwatch.server.config import RunConfig, load_config

DEFAULT_GRPC_ADDRESS = "127.0.0.1:50051"
DEFAULT_METRICS_ADDRESS = "127.0.0.1:9464"
DEFAULT_DRAIN_SECONDS = 10.0
"""Well under Kubernetes' default terminationGracePeriodSeconds (30)."""


@dataclass(frozen=True)
class ReplaySettings:
    items_per_cycle: int = bounded(16, low=1)
    pause_seconds: float = 0.0
    max_backend_share: float = bounded(0.5, low=0.0, high=1.0, open_low=True)
    """While live requests arrive, replay takes at most this share of each variant's backend time."""
    continuous: bool = True
    """After the last item of a round, start the next round (drift over time)."""
    round_pause_seconds: float = 60.0
    autostart: bool = True
    mode: Literal["fixed", "sequential"] = "sequential"


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int = bounded(8000, low=1)
    max_new_tokens: int = bounded(512, low=1)
    max_batch: int = bounded(32, low=1)
    max_message_bytes: int = bounded(4 * 1024 * 1024, low=1)
    max_queued_calls: int = bounded(64, low=1)
    """Live Generate/Score calls waiting or running at once; one more gets RESOURCE_EXHAUSTED."""


@dataclass(frozen=True)
class ServeConfig:
    run: RunConfig
    store_path: Path
    retention_rounds: int | None = None
    store_on_corrupt: Literal["fail", "quarantine"] = "fail"
    """A store found corrupt at start: refuse to start (exit non-zero), or move it aside and start anew."""
    replay: ReplaySettings = field(default_factory=ReplaySettings)
    limits: Limits = field(default_factory=Limits)
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    grpc_address: str = DEFAULT_GRPC_ADDRESS
    metrics_address: str = DEFAULT_METRICS_ADDRESS
    drain_seconds: float = DEFAULT_DRAIN_SECONDS


@dataclass(frozen=True)
class StoreSettings:
    path: str = "trustwatch-store.sqlite"
    retention_rounds: int | None = bounded(None, low=1)
    on_corrupt: Literal["fail", "quarantine"] = "fail"


@dataclass(frozen=True)
class AuthSettings:
    token_file: str | None = None
    token_env: str | None = None


@dataclass(frozen=True)
class TlsSettings:
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class ServiceAddresses:
    grpc_address: str = DEFAULT_GRPC_ADDRESS
    metrics_address: str = DEFAULT_METRICS_ADDRESS
    drain_seconds: float = bounded(DEFAULT_DRAIN_SECONDS, low=0.0)


def load_serve_config(
    path: str | Path | None,
    grpc_address: str | None = None,
    metrics_address: str | None = None,
    store_path: str | Path | None = None,
) -> ServeConfig:
    run = load_config(path)
    raw = run.raw
    source = run.source
    reader = Reader(source, ConfigError)
    base = Path(path).resolve().parent if path is not None else Path.cwd()
    replay = reader.read(ReplaySettings, raw.get("replay"), "replay")
    limits = reader.read(Limits, raw.get("limits"), "limits")
    store = reader.read(StoreSettings, raw.get("store"), "store")
    chosen_store = Path(store_path) if store_path else base / store.path
    token = None
    auth = reader.read(AuthSettings, raw.get("auth"), "auth")
    if auth.token_file is not None:
        token_path = base / auth.token_file
        if not token_path.is_file():
            raise reader.fail("auth", f"token_file {token_path} does not exist")
        token = token_path.read_text().strip()
    elif auth.token_env is not None:
        token = os.environ.get(auth.token_env)
        if not token:
            raise reader.fail("auth", f"environment variable {auth.token_env} is not set")
    elif raw.get("auth"):
        raise reader.fail("", "auth needs token_file or token_env")
    tls = reader.read(TlsSettings, raw.get("tls"), "tls")
    cert = base / tls.cert if tls.cert is not None else None
    key = base / tls.key if tls.key is not None else None
    if (cert is None) != (key is None):
        raise reader.fail("", "tls needs both cert and key")
    for what in (cert, key):
        if what is not None and not what.is_file():
            raise reader.fail("tls", f"{what} does not exist")
    service = reader.read(ServiceAddresses, raw.get("service"), "service")
    return ServeConfig(
        run=run,
        store_path=chosen_store,
        retention_rounds=store.retention_rounds,
        store_on_corrupt=store.on_corrupt,
        replay=replay,
        limits=limits,
        token=token,
        tls_cert=cert,
        tls_key=key,
        grpc_address=grpc_address or service.grpc_address,
        metrics_address=metrics_address or service.metrics_address,
        drain_seconds=service.drain_seconds,
    )
