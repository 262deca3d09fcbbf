"""The CinderNBError tree drawn in cinder_nb/errors.py's docstring is the real one."""
from __future__ import annotations

import re

from cinder_nb import errors


def drawn_tree() -> dict[str, str | None]:
    """class name -> parent name, read from the docstring's drawing."""
    lines = [line for line in errors.__doc__.splitlines() if re.search(r'(├── |└── |^\s*CinderNBError$)', line)]
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in lines:
        match = re.search(r'([A-Za-z]+)(?: \(also [A-Za-z]+\))?$', line)
        depth = len(line) - len(line.lstrip(' │├└─'))     # where the name starts
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match.group(1)] = stack[-1][1] if stack else None
        stack.append((depth, match.group(1)))
    return parents


def real_tree() -> dict[str, str | None]:
    found: dict[str, str | None] = {'CinderNBError': None}
    todo = [errors.CinderNBError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__ == errors.__name__:
                found[sub.__name__] = cls.__name__
                todo.append(sub)
    return found


def test_the_docstring_draws_the_error_classes():
    assert drawn_tree() == real_tree()
    assert len(real_tree()) > 10


def test_the_reader_sees_a_wrong_drawing():
    """Negative control: a class drawn under the wrong parent is told apart."""
    wrong = dict(drawn_tree(), Conflict='CinderNBError')
    assert wrong != real_tree()
