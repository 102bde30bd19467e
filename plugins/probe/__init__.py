"""``pycr probe``: a fixed set of isolation checks run inside a container per
strategy, giving a matrix strategy × probe → contained / escaped.

The probes are a busybox shell script (:mod:`.script`), so every runtime runs
the same checks on the same bundle; the host side (:mod:`.host`) plants what
the probes look for -- a marker file, a marker mount, a target process, a
loopback listener -- and removes all of it afterwards.
"""
