"""The ``api`` layer: ``pycr serve``, docker's Engine API (v1.41) on a unix socket, and a web dashboard.

Docker's clients (the docker CLI, docker-py, compose) drive pycr through it.
It implements no container or image logic of its own: every endpoint calls
the management and image layers (see :mod:`pycr.plugins.api.layers`, the one
module that names them), so ``pycr ps`` and ``docker ps`` agree at every
moment.  aiohttp is imported only by ``pycr serve``.
"""
