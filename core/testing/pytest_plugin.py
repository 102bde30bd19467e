"""pytest plugin shipped with pycr (entry point ``pytest11: pycr``): registers the marks the
conformance kits put on their tests, so a plugin author's own test run knows them."""


def pytest_configure(config):
    config.addinivalue_line("markers", "root: needs root and the real kernel (pycr conformance kits)")
