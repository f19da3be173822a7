"""trustwatch.protos"""
