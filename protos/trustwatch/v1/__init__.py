"""Generated gRPC stubs of trustwatch.v1 (python -m trustwatch.protos.generate)."""
