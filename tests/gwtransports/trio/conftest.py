"""pytest fixtures for the trio gateway tests (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A trustme CA and a server certificate for 127.0.0.1/localhost:
    ``(cert_chain_pem, key_pem, ca_pem)``."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    root = tmp_path_factory.mktemp("tls")
    chain, key, ca_pem = root / "cert.pem", root / "key.pem", root / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    cert.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_pem))
    return chain, key, ca_pem
