"""Keep every library off the model hubs: weights and data come from local paths only."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator

OFFLINE_SWITCHES = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


def enforce_offline() -> None:
    """Set the hub libraries' offline switches (before they are imported, where possible).

    huggingface_hub reads ``HF_HUB_OFFLINE`` when it is imported, so this runs when
    ``trustwatch.server`` is imported; every ``from_pretrained`` call in trustwatch
    also passes ``local_files_only=True``.
    """
    for key, value in OFFLINE_SWITCHES.items():
        os.environ[key] = value


NOISY_LOGGERS = ("torchao", "torch.utils._pytree", "gptqmodel", "optimum", "logbar", "tokenicer")


def quiet_third_party_logs() -> None:
    """Silence warnings that optional extras print on every import (torchao's missing CUDA kernels,
    torch's pytree deprecations): they say nothing about trustwatch's work and bury its output."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def held_back_output() -> Iterator[None]:
    """Hold back what the block prints to stdout, and its FutureWarnings; show them on stderr
    only if the block raises.

    gptqmodel prints a banner, INFO tables and config dumps to stdout while it loads or
    quantizes; stdout is for trustwatch's own output (``--json``). ``sys.stdout`` is
    process-wide, so nothing else should print while the block runs (model loads and
    builds happen before serving starts).
    """
    held = io.StringIO()
    try:
        with contextlib.redirect_stdout(held), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    except BaseException:
        sys.stderr.write(held.getvalue())
        raise
