"""``guard probe``: adversarial questions from the knowledge base, sent through the proxy, scored.

generate (pure: passages -> probes), run (HTTP through guard), report (tallies and tables), cli.
"""
