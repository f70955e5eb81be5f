"""TLS for the gateway (issue #13, Exposure): with MANDI_TLS_CERT / MANDI_TLS_KEY the REST port
speaks HTTPS — a client trusting the (self-signed, generated here) certificate gets answers,
plain HTTP gets none — and half a configuration stops the start naming the missing variable."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mandi.core.errors import ConfigError
from mandi.platform.config import load_settings
from mandi.testing.gateway_auth import ADMIN_ENV
from mandi.testing.kitesim import free_port
from mandi.testing.pg import fresh_database
from services.gateway.server import build_spec
from tests.integration.market_stack import start_service

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "gw.crt", directory / "gw.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


async def test_gateway_with_tls_files_serves_https_only(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    async with fresh_database() as dsn:
        port = free_port()
        settings = replace(load_settings({"MANDI_PG_DSN": dsn, "MANDI_TLS_CERT": str(cert),
                                          "MANDI_TLS_KEY": str(key), **ADMIN_ENV}),
                           gateway_port=port)
        gateway = await start_service(build_spec(settings), settings, "gateway")
        try:
            trust = ssl.create_default_context(cafile=str(cert))
            async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}",
                                         verify=trust) as https:
                r = await https.get("/healthz")
                assert r.status_code == 200
                r = await https.get("/api/v1/auth/me")  # the API itself, envelope and all
                assert r.status_code == 401 and r.json()["error_type"] == "auth"
            async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}") as untrusting:
                with pytest.raises(httpx.ConnectError):  # the system CAs do not vouch for it
                    await untrusting.get("/healthz")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as plain:
                with pytest.raises(httpx.HTTPError):
                    r = await plain.get("/healthz")
                    r.raise_for_status()
        finally:
            await gateway.close()


async def test_gateway_with_half_a_tls_configuration_refuses_to_start(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    with pytest.raises(ConfigError) as err:
        build_spec(load_settings({"MANDI_TLS_CERT": str(cert)}))
    assert err.value.field == "MANDI_TLS_KEY"
    with pytest.raises(ConfigError) as err:
        build_spec(load_settings({"MANDI_TLS_CERT": str(cert),
                                  "MANDI_TLS_KEY": str(tmp_path / "missing.key")}))
    assert err.value.field == "MANDI_TLS_KEY" and "not a readable file" in err.value.message
