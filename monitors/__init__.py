"""trustwatch.monitors"""
