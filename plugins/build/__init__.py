"""build: ``pycr build`` (images from Dockerfiles, with a layer cache) and ``pycr builder prune``.

The layer contributes two verbs and the ``pycr.builder`` driver ``dockerfile``
(:mod:`.engine`); a third party can add another front end as a driver of
that slot and select it with ``pycr build --builder NAME``.  Modules:
``dockerfile`` (parse), ``ignore`` (.dockerignore), ``sources`` (what COPY/ADD
read), ``layers`` (tars of changes, the image's tree), ``copying`` (COPY/ADD
into a layer), ``metadata`` (config-only instructions), ``execute`` (RUN in
a container), ``cache``, ``progress``, ``engine`` (stages and steps),
``hooks`` (verbs, requires), ``verb_build``, ``verb_builder``.
"""
