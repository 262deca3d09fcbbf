"""cinder_nb's module graph has no cycle and no import running up the layers.

Every module of the package is parsed with ``ast``: module-level imports, imports inside
functions (which hide a cycle from the interpreter, not from the design) and
``importlib.import_module('cinder_nb....')`` with a literal name all count. Importing a
submodule implicitly imports its parent packages; those edges are not counted (every
package ``__init__`` that re-exports its submodules would otherwise be a cycle).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / 'cinder_nb'

#: lowest first; a module may import its own layer (acyclically) or lower ones. A module
#: missing here fails the test: a new module has to be placed in a layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ('foundation', ('cinder_nb._version', 'cinder_nb.errors', 'cinder_nb._secrets', 'cinder_nb._validation',
                    'cinder_nb._statuses', 'cinder_nb._loop', 'cinder_nb._credentials', 'cinder_nb._bulk',
                    'cinder_nb._bulk_schema', 'cinder_nb._jsonread')),
    ('cinder adapter', ('cinder_nb._cinder',)),
    ('drivers and connectors', ('cinder_nb.drivers', 'cinder_nb.ceph')),
    ('persistence', ('cinder_nb.persistence',)),
    ('state', ('cinder_nb._runtime', 'cinder_nb.serialization', 'cinder_nb._catalog', 'cinder_nb.oplog')),
    ('public objects', ('cinder_nb._resource', 'cinder_nb.connection', 'cinder_nb.snapshot', 'cinder_nb.volume',
                        'cinder_nb.backend')),
    ('public API', ('cinder_nb', 'cinder_nb.__main__', 'cinder_nb.cinderlib')),
    ('notebook', ('cinder_nb.notebook',)),
]


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    found = {}
    for path in package.rglob('*.py'):
        parts = list(path.relative_to(package.parent).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts.pop()
        found['.'.join(parts)] = path
    return found


def _resolve(name: str, known: dict) -> str | None:
    while name and name not in known:
        name = name.rpartition('.')[0]
    return name or None


def imports(name: str, path: Path, known: dict) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for each import of a package module."""
    found: list[tuple[str, int, bool]] = []
    is_package = path.name == '__init__.py'

    def add(target: str, node: ast.AST, in_function: bool) -> None:
        if target.split('.')[0] != 'cinder_nb':
            return
        resolved = target if target in known else _resolve(target, known)
        if resolved and resolved != name:
            found.append((resolved, node.lineno, in_function))

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child, inner)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ''
                if child.level:
                    here = name.split('.') if is_package else name.split('.')[:-1]
                    base = '.'.join(here[:len(here) - child.level + 1] + ([base] if base else []))
                for alias in child.names:
                    add(f'{base}.{alias.name}', child, inner)
            elif (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                  and child.func.attr == 'import_module' and child.args
                  and isinstance(child.args[0], ast.Constant) and isinstance(child.args[0].value, str)):
                add(child.args[0].value, child, inner)
            visit(child, inner)

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    known = modules(package)
    return {name: {target for target, _, _ in imports(name, path, known)} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(sorted(component))
    return found


def layer_of(name: str) -> int | None:
    best: tuple[int, int] | None = None      # (prefix length, layer): the longest prefix wins
    for number, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + '.'):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), number)
    return None if best is None else best[1]


def upward_imports(package: Path = PACKAGE) -> list[str]:
    known = modules(package)
    wrong = []
    for name, path in sorted(known.items()):
        for target, line, _ in imports(name, path, known):
            mine, theirs = layer_of(name), layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                wrong.append(f'{name}:{line} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})')
    return wrong


def test_every_module_has_a_layer():
    assert [name for name in sorted(modules()) if layer_of(name) is None] == []


def test_the_module_graph_has_no_cycle():
    assert cycles(graph()) == []


def test_no_module_imports_a_higher_layer():
    assert upward_imports() == []


def test_cycle_finder_reports_a_synthetic_cycle():
    edges = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}, 'e': set(), 'f': {'f'}}
    assert cycles(edges) == [['a', 'b', 'c'], ['f']]
    assert cycles({'a': {'b'}, 'b': set()}) == []


def test_parser_sees_function_level_and_importlib_imports(tmp_path):
    pkg = tmp_path / 'cinder_nb'
    (pkg / 'sub').mkdir(parents=True)
    (pkg / '__init__.py').write_text('')
    (pkg / 'sub' / '__init__.py').write_text('')
    (pkg / 'low.py').write_text('def f():\n    from cinder_nb.sub import high\n')
    (pkg / 'sub' / 'high.py').write_text('import importlib\nimportlib.import_module("cinder_nb.low")\n')
    (pkg / 'other.py').write_text('from . import low\nfrom .sub.high import x\n')
    edges = graph(pkg)
    assert edges['cinder_nb.low'] == {'cinder_nb.sub.high'}
    assert edges['cinder_nb.sub.high'] == {'cinder_nb.low'}
    assert edges['cinder_nb.other'] == {'cinder_nb.low', 'cinder_nb.sub.high'}
    assert cycles(edges) == [['cinder_nb.low', 'cinder_nb.sub.high']]
