# nbgrader configuration of the course: run nbgrader commands from this folder (course/instructor).
# Each chapter is an assignment: source/<chapter>/<notebook>.ipynb (see course/INSTRUCTORS.md).
c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "losses-and-optimization"
# a learner's endless loop inside a check stops at the check's own time limit (10 s); one at the
# top level of a cell is interrupted after this many seconds, and grading goes on
c.Execute.timeout = 120
