"""Group labels shared by probes, statistics and exports."""

OVERALL = "all"
"""The group label of every item together (a metric's overall value), beside the per-group rows."""
