"""kitesim's default credentials are the ones a Mandi process uses when none are configured
(`make run` starts both without any): the platform's settings and the simulator agree."""

from mandi.platform.config import load_settings
from mandi.testing.kitesim import KitesimServer
from services.kitesim.app import SimConfig
from services.kitesim.defaults import DEFAULT_API_KEY, DEFAULT_API_SECRET


def test_defaults_when_nothing_configured_platform_and_simulator_agree() -> None:
    settings = load_settings({})
    cfg = SimConfig()
    assert (settings.kite_api_key, settings.kite_api_secret) == (DEFAULT_API_KEY,
                                                                 DEFAULT_API_SECRET)
    assert (cfg.api_key, cfg.api_secret) == (DEFAULT_API_KEY, DEFAULT_API_SECRET)
    at = KitesimServer.at("http://127.0.0.1:1")
    assert (at.url, at.api_key, at.api_secret) == ("http://127.0.0.1:1", DEFAULT_API_KEY,
                                                   DEFAULT_API_SECRET)
