"""trustwatch: serving-side guardrail and monitoring for compressed LLMs.

The repository's top-level folders are this package's sub-packages
(``trustwatch.server``, ``trustwatch.probes``, ...); see ``pyproject.toml``.
"""

__version__ = "0.1.0"
