"""trustwatch.bench"""
