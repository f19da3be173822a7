"""trustwatch.server.cli"""
