"""Every built-in rootfs strategy passes the kit shipped to plugin authors."""

from pycr.core.testing.conformance_rootfs import RootfsStrategyConformance
from pycr.plugins.rootfs_chroot import ChrootRootfs
from pycr.plugins.rootfs_overlay import OverlayRootfs


class TestOverlayConformance(RootfsStrategyConformance):
    strategy_class = OverlayRootfs


class TestChrootConformance(RootfsStrategyConformance):
    strategy_class = ChrootRootfs
