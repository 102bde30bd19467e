"""The built-in ``oci`` (layout directory) image source passes the kit shipped
to plugin authors; the image is written with pycr's own ``push``."""

import pytest

from pycr.plugins.images.layout import OciLayoutSource
from pycr.plugins.images.store import Store
from pycr.plugins.images.conformance import ImageSourceConformance
from pycr.core.testing.images import SAMPLE_LAYERS, put_image


class TestOciLayoutConformance(ImageSourceConformance):
    @pytest.fixture
    def layout(self, tmp_path):
        src = Store(str(tmp_path / "src-store"))
        image = put_image(src, SAMPLE_LAYERS)
        OciLayoutSource().push(src, image, f"{tmp_path}/layout:v1")
        return f"{tmp_path}/layout"

    @pytest.fixture
    def source(self):
        return OciLayoutSource()

    @pytest.fixture
    def image_spec(self, layout):
        return f"{layout}:v1"

    @pytest.fixture
    def missing_spec(self, layout):
        return f"{layout}:nope"
