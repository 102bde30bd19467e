"""pycr.core.testing: fakes and conformance kits for plugin authors (and pycr's own tests).

Import what you need; names load lazily so nothing here (pytest included)
is imported until used::

    from pycr.core.testing import CgroupDriverConformance, write_dist

- ``CgroupDriverConformance``, ``RootfsStrategyConformance``: pytest mixins,
  one subclass per driver (modules ``cgroup_conformance`` and
  ``conformance_rootfs`` also expose each ``check_*`` function); the image
  source kit is the images plugin's (``pycr.plugins.images.conformance``).
- ``FakeCgroupfs``: a v1 or v2 cgroup tree in a temporary directory.
- ``write_dist``: install a plugin for a test as a dist-info directory.
- ``put_image``, ``image_blobs``, ``layer_tar``: small OCI images built in memory.
- ``make_bundle``, ``find_busybox``: a busybox OCI bundle, the static busybox it uses.
- ``PluginManager``: load the installed plugins exactly as ``pycr`` does
  (``PluginManager(disabled=[...])``; ``.hook.pycr_...(...)``,
  ``.driver(slot, name)``, ``.plugin_info``), to test that yours is found.
"""

_LAZY = {
    "CgroupDriverConformance": "pycr.core.testing.cgroup_conformance",
    "RootfsStrategyConformance": "pycr.core.testing.conformance_rootfs",
    "FakeCgroupfs": "pycr.core.testing.fake_cgroupfs",
    "write_dist": "pycr.core.testing.dists",
    "put_image": "pycr.core.testing.images",
    "image_blobs": "pycr.core.testing.images",
    "layer_tar": "pycr.core.testing.images",
    "make_bundle": "pycr.core.testing.bundle",
    "find_busybox": "pycr.core.testing.bundle",
    "PluginManager": "pycr.core.plugins",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'pycr.core.testing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
