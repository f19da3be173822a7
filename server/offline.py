"""Keep every library off the model hubs: weights and data come from local paths only."""

from __future__ import annotations

import logging
import os

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


NOISY_LOGGERS = ("torchao", "torch.utils._pytree", "gptqmodel", "optimum", "logbar")


def quiet_third_party_logs() -> None:
    """Silence warnings that optional extras print on every import (torchao's missing CUDA kernels,
    torch's pytree deprecations): they say nothing about trustwatch's work and bury its output."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
