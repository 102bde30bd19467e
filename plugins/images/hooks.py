"""The ``images`` plugin as pycr loads it (entry point ``images`` in ``pycr.plugins``):
its verbs and what it requires.  Kept apart from the package so that importing
a verb's module does not import pluggy."""

from pycr.core import hookimpl

requires = ()  # the image layer stands on the core alone


@hookimpl
def pycr_add_commands(commands):
    commands.add("pull", "pycr.plugins.images.verb_pull", "pull an image from a registry or another transport")
    commands.add("push", "pycr.plugins.images.verb_push", "push a stored image to a registry or another transport")
    commands.add("login", "pycr.plugins.images.verb_login", "save credentials for a registry")
    commands.add("logout", "pycr.plugins.images.verb_logout", "remove saved credentials for a registry")
    commands.add("images", "pycr.plugins.images.verb_images", "list stored images")
    commands.add("image", "pycr.plugins.images.verb_image", "manage images: ls, inspect, rm, tag, prune")
    commands.add("rmi", "pycr.plugins.images.verb_rmi", "remove image names")
    commands.add("tag", "pycr.plugins.images.verb_tag", "give a stored image another name")
    commands.add("load", "pycr.plugins.images.verb_load", "load a docker-archive or oci-archive tarball")
    commands.add("save", "pycr.plugins.images.verb_save", "save an image as a docker-archive or oci-archive tarball")
    commands.add("import", "pycr.plugins.images.verb_import", "make an image from a rootfs tarball")
