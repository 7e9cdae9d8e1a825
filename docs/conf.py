"""Sphinx configuration: the stack scikit-learn uses (pydata-sphinx-theme,
numpydoc, sphinx-gallery), with MyST for the Markdown pages.

    python3 -m pip install ".[docs]"
    python3 -m sphinx -W -b html docs docs/_build/html
"""

import os

import fastmlp

project = "fastmlp"
author = "The fastmlp developers"
copyright = "The fastmlp developers"
release = version = fastmlp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples/README.rst", "examples/*.py"]
# GitHub-style headings become anchors that [text](#heading) links reach
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {"members": False, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

intersphinx_mapping = {}  # no network: scikit-learn is referred to by name

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
}

html_theme = "pydata_sphinx_theme"
html_title = f"fastmlp {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []

# the examples' Dask cluster and the kernels: two threads are all a CI machine has
os.environ.setdefault("OMP_NUM_THREADS", "2")
