"""Grading the course's exercises: learner versions for release, and grades a class can trust.

* :mod:`.release` -- the learner versions of the exercise notebooks, generated from the
  nbgrader sources in ``course/instructor/source`` (``python -m edulib.grading generate``).
* :mod:`.trusted` -- one submission graded where learner code never runs: the learner's cells
  run in a sandboxed child (:mod:`.sandbox`, :mod:`.child`), answers return as plain data
  (:mod:`.wire`) and the instructor's process scores them, with hidden cases drawn from the
  class secret (:mod:`.items`); :mod:`.session` talks to the child.
* :mod:`.nbgrader_plugin` -- the preprocessor that puts those scores into ``nbgrader
  autograde`` (the course's ``nbgrader_config.py`` uses it instead of a Jupyter kernel).
* :mod:`.classroom` -- a whole class in one command, in parallel (a process pool, or a Dask
  cluster), and the class report.
"""

from .release import CODE_STUB, TEXT_STUB, generate, learner_version, render, sources

__all__ = ["CODE_STUB", "TEXT_STUB", "generate", "learner_version", "render", "sources"]
