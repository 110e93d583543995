"""On-device focus-stack merge: align, focus measure, regularised depth map, halo-free blend.

Pure numpy/OpenCV, files in, files out; this package owns the merge end to end:

- :func:`rig.merge.pipeline.merge` merges in this process;
- :mod:`rig.merge.command`: the merge's options (``rig merge``, ``python -m rig.merge``), the
  argument list of a child merge and the ``PROGRESS``/``DONE``/``ERROR`` lines it prints;
- :func:`rig.merge.child.start_merge` runs a merge in a child process and returns a
  :class:`rig.merge.child.MergeJob`;
- :class:`rig.merge.jobs.MergeManager` (``machine.merges``): one merge at a time for the web UI
  and ``rig stack --merge``, progress events, the outcome in ``stack.json``;
- :data:`rig.merge.results.RESULTS`: the names of the result files.

Importing this package imports neither numpy nor OpenCV.
"""
