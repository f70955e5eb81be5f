"""Shared fixtures live in mandi/testing; this only registers them.

Password hashes in tests cost 1 pass over 256 KiB instead of argon2-cffi's 3 over 64 MiB
(~1 ms instead of ~180 ms): hundreds of users are created and signed in across the suite, in
this process and in the service processes it starts (they inherit the environment). Production
keeps the defaults; tests/unit/gateway/test_password_cost.py holds them and this override apart.
"""

import os

os.environ.setdefault("MANDI_PASSWORD_HASH_TIME_COST", "1")
os.environ.setdefault("MANDI_PASSWORD_HASH_MEMORY_KIB", "256")

pytest_plugins = ["mandi.testing.pg", "mandi.testing.redis"]
