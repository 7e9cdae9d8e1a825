"""Importing fastmlp from a source tree whose compiled core is missing or
broken: an ImportError that says what happened, never a 'circular import'."""

import ast
import importlib.util
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import fastmlp

COMPILED = ("_typedefs", "_core", "_forward", "_objective", "_runtime_threads", "_epochs")


def _source_tree(tmp_path):
    """A copy of the installed package's Python files: a tree without its core."""
    src = pathlib.Path(fastmlp.__file__).parent
    dst = tmp_path / "fastmlp"
    for f in src.rglob("*.py"):
        (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dst / f.relative_to(src))
    return dst


def _import_in(cwd, *flags):
    return subprocess.run([sys.executable, *flags, "-c", "import fastmlp"], cwd=cwd,
                          capture_output=True, text=True)


def test_source_tree_without_core_says_install_or_build_it(tmp_path):
    _source_tree(tmp_path)
    # -S: without site-packages, as an editable install's import hook would
    # otherwise serve the package (the check comes before numpy is needed)
    out = _import_in(tmp_path, "-S")
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: fastmlp's compiled core (fastmlp._core and the "
                           "modules beside it) is not built")
    assert "python3 -m pip install ." in last and "pip install --no-build-isolation -e ." in last
    assert "circular" not in out.stderr


def test_core_that_fails_to_load_names_the_reason(tmp_path):
    pkg = _source_tree(tmp_path)
    for name in COMPILED:
        (pkg / (name + sysconfig.get_config_var("EXT_SUFFIX"))).write_bytes(b"not a library")
    out = _import_in(tmp_path, "-S")
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: fastmlp's compiled core failed to load: ")
    assert "libgomp" in last and "circular" not in out.stderr


def test_the_compiled_modules_are_extensions():
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for name in COMPILED:
        assert importlib.util.find_spec(f"fastmlp.{name}").origin.endswith(suffix), name


def test_installed_package_imports_from_elsewhere(tmp_path):
    out = _import_in(tmp_path)
    assert out.returncode == 0, out.stderr


def _fastmlp_imports(src):
    """module -> the fastmlp modules it imports, at module level or inside a
    function (a name imported from a package counts as its submodule when
    there is one)."""
    modules = {}
    for f in src.rglob("*.py"):
        parts = ("fastmlp",) + f.relative_to(src).with_suffix("").parts
        modules[".".join(p for p in parts if p != "__init__")] = f
    modules.update({f"fastmlp.{f.name.split('.')[0]}": None for f in src.glob("_*.*.so")})
    graph = {}
    for name, f in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())) if f else ():
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fastmlp"):
                subs = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
                deps |= subs or {node.module}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("fastmlp")}
        graph[name] = deps - {name}
    return graph


def test_no_import_cycle_among_fastmlp_modules():
    graph = _fastmlp_imports(pathlib.Path(fastmlp.__file__).parent)
    assert "fastmlp._dask.objective" in graph and "fastmlp._base" in graph
    done, on_path = set(), []

    def visit(name):
        assert name not in on_path, "import cycle: " + " -> ".join(on_path + [name])
        if name in done:
            return
        on_path.append(name)
        for dep in graph.get(name, ()):
            visit(dep)
        on_path.pop()
        done.add(name)

    for name in graph:
        visit(name)


def test_main_job_takes_help_and_quick():
    """`python -m fastmlp --help` prints its usage and runs nothing; --quick
    runs every block once, printing each as it ends, then the table."""
    out = subprocess.run([sys.executable, "-m", "fastmlp", "--help"], capture_output=True,
                         text=True, cwd="/")
    assert out.returncode == 0 and "--quick" in out.stdout and "  timed " not in out.stdout
    out = subprocess.run([sys.executable, "-m", "fastmlp", "--quick"], capture_output=True,
                         text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("  timed ") == 9
    assert "fastmlp MLP (64,), 1 thread" in out.stdout and "SVC(gamma=0.001)" in out.stdout
