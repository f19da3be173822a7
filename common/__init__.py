"""The ground floor: the vocabulary every other floor shares, importing nothing of ours.

Request and result types (``requests``), the ``Backend`` protocol (``backend``), model specs
and the model cache (``model_specs``), devices, the offline switches (``offline``), group
labels (``groups``) and JSON-lines files (``jsonl``). Probes, monitors, compression, backends
and the service build on it; it builds on none of them.
"""
