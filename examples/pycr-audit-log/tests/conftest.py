import pytest


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    """A private entry-point cache and audit log per test."""
    monkeypatch.setenv("PYCR_CACHE_DIR", str(tmp_path / "pycr-cache"))
    monkeypatch.setenv("PYCR_AUDIT_LOG", str(tmp_path / "log" / "audit.jsonl"))
    monkeypatch.delenv("PYCR_AUDIT_STRICT", raising=False)
