from mandi.testing.kitesim import kitesim_server  # noqa: F401  (shared fixture)
