"""Strategies: one API (`base.Strategy`) for backtest and live; built-ins listed in registry."""
