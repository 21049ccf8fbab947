"""Integration tests against the local test cluster (cluster/up.sh)."""
