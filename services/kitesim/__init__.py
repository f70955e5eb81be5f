"""kitesim: a deterministic synthetic market that speaks Kite Connect v3 on the wire."""
