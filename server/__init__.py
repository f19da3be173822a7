"""trustwatch.server: model specs, backends, and (later) the service, store and exporter."""

from trustwatch.server.offline import enforce_offline, quiet_third_party_logs

enforce_offline()
quiet_third_party_logs()
