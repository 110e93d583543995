"""On-device focus-stack merge: align, focus measure, regularised depth map, halo-free blend.

Pure numpy/OpenCV, files in, files out. Entry points:

- :func:`rig.merge.pipeline.merge` merges in this process;
- :func:`rig.merge.child.start_merge` runs a merge in a child process (for the web UI and
  ``rig stack --merge``) and returns a :class:`rig.merge.child.MergeJob`.

Importing this package imports neither numpy nor OpenCV.
"""
