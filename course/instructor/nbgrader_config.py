# nbgrader configuration of the course: run nbgrader commands from this folder (course/instructor).
# Each chapter is an assignment: source/<chapter>/<notebook>.ipynb (see course/INSTRUCTORS.md).
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from edulib.grading.nbgrader_plugin import TrustedGrades

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "losses-and-optimization"

# Trusted grades: instead of running each submission in a Jupyter kernel (nbgrader's Execute,
# whose printed scores the learner controls), TrustedGrades runs the learner's cells in a
# sandboxed child and scores the answers here, with hidden cases derived from the class secret
# in EDULIB_CLASS_SECRET. Everything after it is nbgrader's own pipeline.
c.Autograde.autograde_preprocessors = [
    TrustedGrades,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
# seconds a learner's cell may run in the sandbox before it is stopped (and reported)
c.TrustedGrades.cell_timeout = 30
