"""The ``manage`` plugin: docker-like container verbs (run, ps, logs, exec, rm...).

Managed containers: what ``pycr run -d``, ``ps``, ``stop``, ``rm``... work on.

A managed container is a record (``records``) in the store's
``containers/<64-hex id>/`` directory next to its rootfs and bundle, a lean
monitor process (``monitor``) that outlives ``pycr`` and reaps the
container's init, and the low-level runtime's state under ``--root``.
``launch`` starts the monitor and carries out what happens when a container
ends (restart policy, ``--rm``, cleanup); ``cleanup`` removes whatever is
left, even after a crash.
"""
