"""Output checks: each a small object with one ``run`` method, combined by a plain loop."""
