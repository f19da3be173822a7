"""The HTTP port follows the gRPC port's security (issue 15, item 8): with ``auth`` configured,
``/metrics`` and ``/gate`` need the bearer token (401 without it) and ``/healthz`` stays open;
with ``tls`` configured, the port speaks HTTPS with the same certificate. Real server, tiny model."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2

from .harness import Served, pb, serve, tiny_config

TOKEN = "s3cret-token"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 that is its own CA, and its key (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH: cannot make a test certificate")
    cert, key = folder / "server.crt", folder / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def _check_token(served: Served) -> None:
    for path in ("/metrics", "/gate", "/gate/rtn4"):
        code, body = served.get(path, token=None)
        assert code == 401 and "bearer token" in body, (path, code, body)
        assert served.get(path, token="wrong")[0] == 401
        assert served.get(path)[0] == 200, path
    assert "trustwatch_variant_ready" in served.metrics()
    assert served.get("/healthz", token=None)[0] == 200


def test_the_http_port_needs_the_token_except_healthz(tiny_model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    config = tiny_config(tiny_model_dir, tmp_path / "store.sqlite", auth={"token_file": str(tmp_path / "token")},
                         replay={"autostart": False})
    with serve(config, tmp_path, token=TOKEN) as served:
        served.wait_serving()
        _check_token(served)
        request = urllib.request.Request(served.metrics_url)
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(request, timeout=10)
        assert denied.value.headers["WWW-Authenticate"].startswith("Bearer")


def test_with_tls_the_http_port_speaks_https_and_still_needs_the_token(tiny_model_dir: Path, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    (tmp_path / "token").write_text(TOKEN)
    config = tiny_config(tiny_model_dir, tmp_path / "store.sqlite", auth={"token_file": str(tmp_path / "token")},
                         tls={"cert": str(cert), "key": str(key)}, replay={"autostart": False})
    with serve(config, tmp_path, token=TOKEN, ca=cert) as served:
        served.wait_serving()
        assert served.health() == health_pb2.HealthCheckResponse.SERVING  # gRPC over TLS too
        listed = served.stub().ListVariants(pb.ListVariantsRequest(), metadata=served.metadata())
        assert len(listed.variants) == 2
        _check_token(served)  # every request here is https, verified against the CA
        # Plain HTTP to the TLS port gets no answer; https without the CA fails verification.
        plain = served.metrics_url.replace("https://", "http://")
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(plain.replace("/metrics", "/healthz"), timeout=10)
        with pytest.raises(urllib.error.URLError) as unverified:
            urllib.request.urlopen(served.metrics_url.replace("/metrics", "/healthz"), timeout=10,
                                   context=ssl.create_default_context())
        assert "CERTIFICATE_VERIFY_FAILED" in str(unverified.value)
        # The server survived both bad clients.
        assert served.get("/healthz", token=None)[0] == 200
