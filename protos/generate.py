"""Regenerate the gRPC stubs from ``protos/trustwatch/v1/trustwatch.proto``.

    python -m trustwatch.protos.generate            # rewrite the checked-in stubs
    python -m trustwatch.protos.generate --out DIR  # write them elsewhere (the drift test does)

protoc names the generated modules after the proto path (``trustwatch.v1``); they live at
``trustwatch.protos.trustwatch.v1`` here, so the one cross-module import is rewritten.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PROTO = Path("trustwatch/v1/trustwatch.proto")
GENERATED = ("trustwatch_pb2.py", "trustwatch_pb2.pyi", "trustwatch_pb2_grpc.py")


def generate(out: Path) -> list[Path]:
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{PROTO_ROOT}",
                f"--python_out={tmp}",
                f"--pyi_out={tmp}",
                f"--grpc_python_out={tmp}",
                str(PROTO_ROOT / PROTO),
            ]
        )
        if code != 0:
            raise SystemExit(f"protoc failed with exit code {code}")
        target = out / PROTO.parent
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for name in GENERATED:
            text = (Path(tmp) / PROTO.parent / name).read_text()
            text = text.replace("from trustwatch.v1 import", "from trustwatch.protos.trustwatch.v1 import")
            (target / name).write_text(text)
            written.append(target / name)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=PROTO_ROOT, help="root to write trustwatch/v1/ under")
    for path in generate(parser.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
