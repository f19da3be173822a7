"""trustwatch.compress"""
