"""The engine never imports a notebook library (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

FORBIDDEN = ("IPython", "ipywidgets", "anywidget", "graphviz", "ipykernel", "nest_asyncio")
ENGINE = (
    "agentflow_nb",
    "agentflow_nb.graph",
    "agentflow_nb.state",
    "agentflow_nb.checkpointer",
    "agentflow_nb.publisher",
    "agentflow_nb.publisher.events",
)


def imported_after(modules, tmp_path):
    # Stand-in packages shadow the real ones, so an import is seen whether or not they are
    # installed, and even when guarded by try/except ImportError.
    for name in FORBIDDEN:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        for name in {list(modules)!r}:
            __import__(name)
        print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_engine_modules_import_no_notebook_library(tmp_path):
    assert imported_after(ENGINE, tmp_path) == ""


def test_the_check_sees_an_import_when_there_is_one(tmp_path):
    assert imported_after(["agentflow_nb", "graphviz"], tmp_path) == "graphviz"


POSIX_ONLY = ("fcntl", "termios", "resource", "pwd", "grp")


def test_the_engine_imports_where_posix_only_modules_do_not_exist():
    # as on Windows: each of these modules fails to import
    code = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in POSIX_ONLY) + (
        f"for name in {list(ENGINE)!r}:\n    __import__(name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
