"""The network layer: bridge, host, none and container: networks for managed containers.

``hooks.py`` is what pycr loads (entry point ``network``); the rest is
imported only when a container has a network request or a network verb
runs.  See docs/networking.md.
"""

ANNOTATION = "io.pycr.network"  # the container's directory, holding the request (network.json)
