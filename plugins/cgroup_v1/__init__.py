"""pycr package."""
