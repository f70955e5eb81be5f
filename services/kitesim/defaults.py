"""kitesim's default app credentials and redirect: what `python -m services.kitesim` (and
`make run`) accepts when no --api-key/--api-secret is given. Kept apart from app.py so that
code talking to a simulator started elsewhere can name them without importing the simulator."""

DEFAULT_API_KEY = "mandi_sim_key"
DEFAULT_API_SECRET = "mandi_sim_secret"
DEFAULT_REDIRECT = "http://127.0.0.1:5000/api/v1/kite/callback"
