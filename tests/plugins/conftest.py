"""Fixtures the sequence family's test files share (none is automatic: a file asks for them)."""

import pytest


@pytest.fixture(scope="session")
def mnist1d_cache(tmp_path_factory):
    """One cache folder for the whole session, so the default MNIST-1D is generated once for every file."""
    return tmp_path_factory.mktemp("harness-cache")


@pytest.fixture
def mnist1d_cache_env(mnist1d_cache, monkeypatch):
    """Point the harness's cache at :func:`mnist1d_cache` for one test."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(mnist1d_cache))


@pytest.fixture
def one_thread():
    """One intra-op thread: on a small shared machine two spinning threads make these tiny models far slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
