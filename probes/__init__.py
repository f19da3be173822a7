"""trustwatch.probes"""
