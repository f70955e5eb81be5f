"""Shared fixtures live in mandi/testing; this only registers them."""

pytest_plugins = ["mandi.testing.pg", "mandi.testing.redis"]
