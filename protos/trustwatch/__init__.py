"""trustwatch.protos.trustwatch"""
