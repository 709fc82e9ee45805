"""CLI commands of the proxy itself (serve, up, policy, keys)."""
