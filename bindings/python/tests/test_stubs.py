"""The type stubs say what the module has: mypy's stubtest compares them with the module
as built (every name, parameter and default), and their docstrings are the module's own
(``bindings/python/stubdocs.py``)."""

import subprocess
import sys
from pathlib import Path

BINDING = Path(__file__).resolve().parent.parent


def test_stubs_match_the_module():
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "filemap"],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_stub_docstrings_are_the_modules():
    run = subprocess.run(
        [sys.executable, str(BINDING / "stubdocs.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr


def test_stubdocs_writes_docstrings_a_parser_reads_back():
    import ast
    import importlib.util

    spec = importlib.util.spec_from_file_location("stubdocs", BINDING / "stubdocs.py")
    stubdocs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stubdocs)
    source = (
        "class A:\n"
        "    @property\n"
        "    def x(self) -> int: ...\n"
        "    def __len__(self) -> int: ...\n"
        "class B(Exception): ...\n"
        "def f(\n"
        "    a: int,\n"
        ") -> None: ...\n"
    )
    tree = ast.parse(source)
    a, b, f = tree.body
    docs = {"A": 'Says "quoted"', "x": "Ends with a backslash \\", "B": "Two\nlines", "f": "F."}
    nodes = [(a, docs["A"]), (a.body[0], docs["x"]), (b, docs["B"]), (f, docs["f"])]
    written = stubdocs.rewrite(source, nodes)
    again = ast.parse(written)
    got = {n.name: ast.get_docstring(n, clean=True) for n in ast.walk(again)
           if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(n)}
    assert got == docs, written
    # Written again over what it wrote: the same text.
    renodes = [(again.body[0], docs["A"]), (again.body[0].body[1], docs["x"]),
               (again.body[1], docs["B"]), (again.body[2], docs["f"])]
    assert stubdocs.rewrite(written, renodes) == written
