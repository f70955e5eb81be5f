"""Gateway authentication and authorisation (issue #13, slice 1).

Built: users with argon2id passwords and a role (admin, trader, viewer); account grants (admins
hold every account); short-lived HS256 access JWTs with rotating, revocable refresh tokens; the
OAuth2 password flow; API keys (`X-API-Key`, stored as SHA-256); an HttpOnly SameSite cookie
session for the web UI with a double-submit CSRF token; the first-run `admin`; login throttling
in Redis; an audit log of logins, failed logins, keys, users and grants.

Every route's access level is in `policy.ROUTE_ACCESS` (one table); `enforce.guard` is the app-wide
dependency that turns a request into a `Principal` or a 401/403/404.

The verified principal reaches the services signed per call (`Principal.metadata()` is signed by
the channels in `services/gateway/clients.py`, see mandi/platform/service_auth.py).

Not built yet: the Kite login flow, per-user REST rate limits.
"""
