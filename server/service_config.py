"""``trustwatch serve`` settings: the run config plus store, replay, limits, auth, TLS, addresses.

```yaml
# ... baseline, variants, probes, generation, scorer, policy as for `trustwatch run`
store:   {path: trustwatch-store.sqlite, retention_rounds: 10}
replay:  {items_per_cycle: 16, pause_seconds: 0.0, max_backend_share: 0.5, continuous: true,
          round_pause_seconds: 60, autostart: true, mode: sequential}
limits:  {max_prompt_chars: 8000, max_new_tokens: 512, max_batch: 32, max_message_bytes: 4194304}
auth:    {token_file: /etc/trustwatch/token}        # or {token_env: TRUSTWATCH_TOKEN}
tls:     {cert: server.crt, key: server.key}
service: {grpc_address: 127.0.0.1:50051, metrics_address: 127.0.0.1:9464}
```
The gate runs in ``sequential`` (anytime-valid) mode by default here, since the service
looks at it after every cycle; ``trustwatch run`` looks once and uses the policy's mode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustwatch.server.config import ConfigError, RunConfig, load_config

DEFAULT_GRPC_ADDRESS = "127.0.0.1:50051"
DEFAULT_METRICS_ADDRESS = "127.0.0.1:9464"


@dataclass(frozen=True)
class ReplaySettings:
    items_per_cycle: int = 16
    pause_seconds: float = 0.0
    max_backend_share: float = 0.5
    """While live requests arrive, replay takes at most this share of each variant's backend time."""
    continuous: bool = True
    """After the last item of a round, start the next round (drift over time)."""
    round_pause_seconds: float = 60.0
    autostart: bool = True
    mode: str = "sequential"


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int = 8000
    max_new_tokens: int = 512
    max_batch: int = 32
    max_message_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    run: RunConfig
    store_path: Path
    retention_rounds: int | None = None
    replay: ReplaySettings = field(default_factory=ReplaySettings)
    limits: Limits = field(default_factory=Limits)
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    grpc_address: str = DEFAULT_GRPC_ADDRESS
    metrics_address: str = DEFAULT_METRICS_ADDRESS


def _section(raw: dict[str, Any], name: str, cls: type, source: str) -> Any:
    values = raw.get(name) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: '{name}' must be a mapping")
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{source}: {name}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        return cls(**values)
    except TypeError as error:
        raise ConfigError(f"{source}: {name}: {error}") from error


def load_serve_config(
    path: str | Path | None,
    grpc_address: str | None = None,
    metrics_address: str | None = None,
    store_path: str | Path | None = None,
) -> ServeConfig:
    run = load_config(path)
    raw = run.raw
    source = run.source
    base = Path(path).resolve().parent if path is not None else Path.cwd()
    replay = _section(raw, "replay", ReplaySettings, source)
    limits = _section(raw, "limits", Limits, source)
    if replay.items_per_cycle < 1:
        raise ConfigError(f"{source}: replay: items_per_cycle must be >= 1")
    if not 0 < replay.max_backend_share <= 1:
        raise ConfigError(f"{source}: replay: max_backend_share must be in (0, 1]")
    if replay.mode not in ("fixed", "sequential"):
        raise ConfigError(f"{source}: replay: mode must be fixed or sequential")
    for name in ("max_prompt_chars", "max_new_tokens", "max_batch", "max_message_bytes"):
        if getattr(limits, name) < 1:
            raise ConfigError(f"{source}: limits: {name} must be >= 1")
    store = raw.get("store") or {}
    if not isinstance(store, dict) or set(store) - {"path", "retention_rounds"}:
        raise ConfigError(f"{source}: 'store' must be a mapping with 'path' and optional 'retention_rounds'")
    chosen_store = Path(store_path) if store_path else base / str(store.get("path", "trustwatch-store.sqlite"))
    retention = store.get("retention_rounds")
    if retention is not None and (not isinstance(retention, int) or retention < 1):
        raise ConfigError(f"{source}: store: retention_rounds must be a positive integer")
    token = None
    auth = raw.get("auth") or {}
    if auth:
        if "token_file" in auth:
            token_path = base / str(auth["token_file"])
            if not token_path.is_file():
                raise ConfigError(f"{source}: auth: token_file {token_path} does not exist")
            token = token_path.read_text().strip()
        elif "token_env" in auth:
            token = os.environ.get(str(auth["token_env"]))
            if not token:
                raise ConfigError(f"{source}: auth: environment variable {auth['token_env']} is not set")
        else:
            raise ConfigError(f"{source}: auth needs token_file or token_env")
    tls = raw.get("tls") or {}
    cert = base / str(tls["cert"]) if "cert" in tls else None
    key = base / str(tls["key"]) if "key" in tls else None
    if (cert is None) != (key is None):
        raise ConfigError(f"{source}: tls needs both cert and key")
    for what in (cert, key):
        if what is not None and not what.is_file():
            raise ConfigError(f"{source}: tls: {what} does not exist")
    service = raw.get("service") or {}
    return ServeConfig(
        run=run,
        store_path=chosen_store,
        retention_rounds=retention,
        replay=replay,
        limits=limits,
        token=token,
        tls_cert=cert,
        tls_key=key,
        grpc_address=grpc_address or service.get("grpc_address", DEFAULT_GRPC_ADDRESS),
        metrics_address=metrics_address or service.get("metrics_address", DEFAULT_METRICS_ADDRESS),
    )
