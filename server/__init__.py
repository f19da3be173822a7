"""trustwatch.server: backends, the variant registry, replay, the store, the service core,
the exporter and the entry points (CLI, gRPC, HTTP) on top of them.

Importing it sets the model hubs' offline switches (``common.offline.enforce_offline``)
before any hub library is imported by a backend.
"""

from trustwatch.common.offline import enforce_offline, quiet_third_party_logs

enforce_offline()
quiet_third_party_logs()
