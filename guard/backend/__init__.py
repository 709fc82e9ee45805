"""The one seam to the network: every call to a model goes through an ``Upstream``."""
