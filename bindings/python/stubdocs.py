"""Keeps the docstrings of the type stubs (``python/filemap/__init__.pyi``) the module's
own. Editors show what the stubs say; the module's docstrings, written beside the Rust
code, are the ones kept up to date, so the stubs' are copied from them, not written twice.

    python3 bindings/python/stubdocs.py          # rewrite the stubs' docstrings
    python3 bindings/python/stubdocs.py --check  # exit 1, naming them, if any differ

Needs the module installed (``pip install ./bindings/python``). The tests run the check.
"""

import ast
import inspect
import sys
from pathlib import Path

import filemap

STUB = Path(__file__).parent / "python" / "filemap" / "__init__.pyi"


def runtime_doc(owner, name):
    """The module's docstring of `name` in `owner` (the module or a class), or None."""
    obj = inspect.getattr_static(owner, name, None)
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    doc = getattr(obj, "__doc__", None) if obj is not None else None
    return inspect.cleandoc(doc) if doc else None


def documented(tree):
    """(node, runtime docstring or None) for every class and function of the stub but the
    dunders (Python's, documented there)."""
    out = []

    def visit(body, owner):
        for node in body:
            if isinstance(node, ast.If):
                visit(node.body, owner)
                visit(node.orelse, owner)
            elif isinstance(node, ast.ClassDef):
                cls = getattr(filemap, node.name, None)
                if cls is None:
                    continue
                doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else None
                out.append((node, doc))
                visit(node.body, cls)
            elif isinstance(node, ast.FunctionDef):
                if node.name.startswith("__") and node.name.endswith("__"):
                    continue  # the dunders are Python's, documented there
                out.append((node, runtime_doc(owner, node.name)))

    visit(tree.body, filemap)
    return out


def quoted(doc, indent):
    """`doc` as a docstring indented by `indent` (backslashes kept as they are)."""
    text = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if text.endswith('"'):
        text = text[:-1] + '\\"'  # not a fourth quote before the closing three
    lines = text.split("\n")
    if len(lines) == 1:
        return f'{indent}"""{text}"""'
    body = "\n".join(f"{indent}{line}" if line else "" for line in lines[1:])
    return f'{indent}"""{lines[0]}\n{body}"""'


def rewrite(source, pairs):
    lines = source.split("\n")
    # From the bottom up, so that earlier line numbers stay right.
    for node, doc in sorted(pairs, key=lambda p: p[0].lineno, reverse=True):
        indent = " " * (node.col_offset + 4)
        first = node.body[0]
        has_doc = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                   and isinstance(first.value.value, str))
        if has_doc:
            lines[first.lineno - 1:first.end_lineno] = quoted(doc, indent).split("\n")
            continue
        if isinstance(node, ast.FunctionDef) or first.lineno == node.lineno:
            # A body of one `...` ending the definition's (last) line: the docstring
            # takes its place.
            end = first.end_lineno - 1
            line = lines[end].rstrip()
            assert line.endswith(": ..."), f"{node.name}: a body other than `...`"
            lines[end] = line[: -len(" ...")]
            lines[end + 1:end + 1] = quoted(doc, indent).split("\n")
        else:
            # A class with members: the docstring goes before the first (its decorators
            # included).
            at = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", [])])
            lines[at - 1:at - 1] = quoted(doc, indent).split("\n")
    return "\n".join(lines)


def main():
    source = STUB.read_text()
    pairs = documented(ast.parse(source))
    stale = [node for node, doc in pairs if ast.get_docstring(node, clean=True) != doc]
    pairs = [(node, doc) for node, doc in pairs if doc]
    if "--check" in sys.argv[1:]:
        undocumented = {node.name for node, doc in documented(ast.parse(source)) if not doc}
        for node in stale:
            if node.name in undocumented:
                why = "the module has none: write one beside the Rust code, or drop the stub's"
            else:
                why = "it is not the module's: run python3 bindings/python/stubdocs.py"
            print(f"{STUB.name}:{node.lineno}: the docstring of {node.name}: {why}",
                  file=sys.stderr)
        return 1 if stale else 0
    STUB.write_text(rewrite(source, pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
