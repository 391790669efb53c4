"""The course as a static website: Sphinx + myst-nb + sphinx-book-theme, built offline from the
committed notebook outputs (nothing is executed). Build it from the repository root with
``python -m pip install -e ".[book]" && python -m sphinx -b html book build/book``.

``book/course`` links to ``course/``: every notebook there is a page, except the solved sources
under ``course/instructor/``, which are never part of the site. The extensions in ``_ext/``:
``course_map`` (the start page's chapter map), ``notebook_pages`` (dashboards, learner versions,
solutions), ``static_dashboards`` (frames exported at build time) and ``offline_math`` (MathJax
served with the site).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "Loss functions and optimization"
author = "the course's authors"
copyright = "the course's authors, MIT licence"
html_title = "Loss functions and optimization"

extensions = ["myst_nb", "sphinx.ext.mathjax", "course_map", "notebook_pages",
              "static_dashboards", "offline_math"]
root_doc = "index"
exclude_patterns = ["course/instructor", "course/instructor/**", "course/*/README.md",
                    "**/.ipynb_checkpoints", "**/.ipynb_checkpoints/**"]

# notebooks: committed outputs only; widgets need a kernel (their CDN scripts are not loaded)
nb_execution_mode = "off"
nb_ipywidgets_js = {}
nb_code_prompt_show = "Show the solution"
nb_code_prompt_hide = "Hide the solution"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_dmath_double_inline = True

# math: MathJax served with the site (offline_math copies it); no other host is ever asked
mathjax_path = "mathjax/tex-chtml.js"

html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
}
html_static_path = ["_static"]
html_css_files = ["course-book.css"]
html_js_files = ["static-dashboard.js"]
html_last_updated_fmt = None
html_show_sphinx = False
html_context = {"default_mode": "light"}  # the figures are drawn on white
html_favicon = "_static/favicon.svg"
