"""The checked-in stubs are what `python -m trustwatch.protos.generate` makes of the .proto."""

from __future__ import annotations

from pathlib import Path

from trustwatch.protos.generate import GENERATED, PROTO, PROTO_ROOT, generate


def test_stubs_do_not_drift_from_the_proto(tmp_path: Path) -> None:
    generate(tmp_path)
    for name in GENERATED:
        fresh = (tmp_path / PROTO.parent / name).read_text()
        checked_in = (PROTO_ROOT / PROTO.parent / name).read_text()
        assert fresh == checked_in, f"{name} drifted: run python -m trustwatch.protos.generate"


def test_service_has_the_contracted_rpcs() -> None:
    from trustwatch.protos.trustwatch.v1 import trustwatch_pb2 as pb

    service = pb.DESCRIPTOR.services_by_name["TrustWatch"]
    assert pb.DESCRIPTOR.package == "trustwatch.v1"
    names = {m.name for m in service.methods}
    assert {"ListVariants", "Generate", "Score", "StartReplay", "GetReplayStatus", "GetDivergence", "GetGate",
            "WatchGate"} <= names
    assert service.methods_by_name["WatchGate"].server_streaming
