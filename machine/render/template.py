"""A small interpreter for the part of Go's text/template that `inspect -f` and `ls --format`
scripts use: literal text; `{{.A.B}}` field paths, `$` and `$var`; pipelines with `|`;
functions json, prettyjson, index, len, print, printf, println, not, and, or, eq, ne, lt, le, gt,
ge, upper, lower, join; `if`/`else if`/`else`, `range` (with `$i, $v :=`), `with`; variables
(`$x := ...`); `{{-`/`-}}` trimming and comments. Anything else is refused with an error that
says what is supported, never rendered wrongly.

Data is plain JSON-like Python values (dicts, lists, str, int, float, bool, None).
"""

from __future__ import annotations

import json
import re
from typing import Any

from machine.errors import TemplateError

SUPPORTED = (
    "supported: {{.Field.Path}}, pipelines with |, json, prettyjson, index, len, print, printf, "
    "println, not, and, or, eq, ne, lt, le, gt, ge, upper, lower, join, if/else, range, with, "
    "variables"
)


# Go's parser has no such limit, but Python's recursion does: deeper templates are refused.
MAX_DEPTH = 100
MAX_WIDTH = 10_000  # printf widths and precisions (a %.1000000000f would fill the memory)


# --- lexing ----------------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`) |
        (?P<num>-?\d+(?:\.\d+)?) |
        (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*) |
        (?P<field>(?:\.[A-Za-z0-9_]+)+|\.) |
        (?P<decl>:=|=) |
        (?P<punct>[|(),]) |
        (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    )""",
    re.X,
)


class Tok:
    __slots__ = ("kind", "text")

    def __init__(self, kind: str, text: str) -> None:
        self.kind = kind
        self.text = text


def _tokens(expr: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"template: unexpected {expr[pos:]!r} in {{{{{expr}}}}}")
        kind = m.lastgroup or ""
        out.append(Tok(kind, m.group(kind)))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return out


# --- parsing ---------------------------------------------------------------------------------


# (plain classes: the dataclasses module would cost `ls` and `inspect -f` more than parsing)
class Node:
    __slots__ = ()


class Text(Node):
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Action(Node):
    __slots__ = ("pipe",)

    def __init__(self, pipe: list[Any]) -> None:
        self.pipe = pipe  # [declared vars, commands]


class Branch(Node):
    __slots__ = ("body", "kind", "otherwise", "pipe")

    def __init__(self, kind: str, pipe: list[Any]) -> None:
        self.kind = kind  # if, range, with
        self.pipe = pipe
        self.body: list[Node] = []
        self.otherwise: list[Node] = []


def parse(template: str) -> list[Node]:
    items: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(template):
        text = template[pos : m.start()]
        if m.group(1):
            text = text.rstrip()
        if items and items[-1][0] == "trim-next":
            items.pop()
            text = text.lstrip()
        items.append(("text", text))
        items.append(("action", m.group(2)))
        if m.group(3):
            items.append(("trim-next", ""))
        pos = m.end()
    tail = template[pos:]
    for text, _ in ((t, k) for k, t in items if k == "text"):
        _no_stray_open(text)
    _no_stray_open(tail)
    if items and items[-1][0] == "trim-next":
        items.pop()
        tail = tail.lstrip()
    items.append(("text", tail))
    nodes, rest, end = _parse_list(items, 0, 0)
    if end is not None:
        raise TemplateError(f"template: unexpected {{{{{end}}}}}")
    del rest
    return nodes


def _no_stray_open(text: str) -> None:
    if "{{" in text:
        what = "comment" if text[text.index("{{") :].startswith("{{/*") else "action"
        raise TemplateError(f"template: unclosed {what}")


def _parse_list(
    items: list[tuple[str, str]], i: int, depth: int
) -> tuple[list[Node], int, str | None]:
    if depth > MAX_DEPTH:
        raise TemplateError(f"template: blocks nested more than {MAX_DEPTH} deep")
    nodes: list[Node] = []
    while i < len(items):
        kind, body = items[i]
        i += 1
        if kind == "text":
            if body:
                nodes.append(Text(body))
            continue
        words = body.strip()
        if words.startswith("/*") and words.endswith("*/"):
            continue
        head = words.split(None, 1)[0] if words else ""
        if head in ("end", "else"):
            return nodes, i, words
        if head in ("if", "range", "with"):
            branch = Branch(head, _pipeline(words[len(head) :]))
            branch.body, i, end = _parse_list(items, i, depth + 1)
            while end is not None and end.startswith("else"):
                rest = end[4:].strip()
                if rest.startswith("if ") and head == "if":
                    nested = Branch("if", _pipeline(rest[3:]))
                    nested.body, i, end = _parse_list(items, i, depth + 1)
                    branch.otherwise = [nested]
                    if end is not None and end.startswith("else"):
                        nested.otherwise, i, end = _parse_list(items, i, depth + 1)
                    break
                branch.otherwise, i, end = _parse_list(items, i, depth + 1)
            if end != "end":
                raise TemplateError(f"template: unexpected EOF in {{{{{head} ...}}}}")
            nodes.append(branch)
            continue
        if head in ("template", "define", "block", "break", "continue"):
            raise TemplateError(f"template: {{{{{head}}}}} is not supported ({SUPPORTED})")
        nodes.append(Action(_pipeline(words)))
    return nodes, i, None


def _pipeline(expr: str) -> list[Any]:
    """[[declared var names], [command, ...]] where a command is a list of operands."""
    toks = _tokens(expr)
    declared: list[str] = []
    if len(toks) >= 2 and toks[0].kind == "var":
        if toks[1].kind == "decl":
            declared, toks = [toks[0].text], toks[2:]
        elif (
            len(toks) >= 4
            and toks[1].text == ","
            and toks[2].kind == "var"
            and (toks[3].kind == "decl")
        ):
            declared, toks = [toks[0].text, toks[2].text], toks[4:]
    commands, rest = _commands(toks, 0, 0)
    if rest != len(toks):
        raise TemplateError(f"template: unexpected {toks[rest].text!r} in {{{{{expr.strip()}}}}}")
    if not commands or not commands[0]:
        raise TemplateError("template: missing value in an action")
    return [declared, commands]


def _commands(toks: list[Tok], i: int, depth: int) -> tuple[list[list[Any]], int]:
    if depth > MAX_DEPTH:
        raise TemplateError(f"template: parentheses nested more than {MAX_DEPTH} deep")
    commands: list[list[Any]] = [[]]
    while i < len(toks):
        tok = toks[i]
        if tok.text == ")":
            break
        if tok.text == "|":
            commands.append([])
            i += 1
            continue
        if tok.text == "(":
            inner, i = _commands(toks, i + 1, depth + 1)
            if i >= len(toks) or toks[i].text != ")":
                raise TemplateError("template: unclosed left paren")
            commands[-1].append(("pipe", inner))
            i += 1
            continue
        commands[-1].append((tok.kind, tok.text))
        i += 1
    return commands, i


def fields_used(nodes: list[Node]) -> set[str] | None:
    """The top-level fields the template reads from its data (".Name" -> "Name"), or None when
    it may read all of it: the dot itself, a variable, or a range/with that moves the dot."""
    found: set[str] = set()

    def operands(commands: list[list[Any]]) -> bool:
        for command in commands:
            for kind, text in command:
                if kind == "pipe":
                    if not operands(text):
                        return False
                elif kind == "var" or (kind == "field" and text == "."):
                    return False
                elif kind == "field":
                    found.add(text.split(".")[1])
        return True

    def walk(items: list[Node]) -> bool:
        for node in items:
            if isinstance(node, Action) and not operands(node.pipe[1]):
                return False
            if isinstance(node, Branch):
                if node.kind in ("range", "with") or not operands(node.pipe[1]):
                    return False
                if not (walk(node.body) and walk(node.otherwise)):
                    return False
        return True

    return found if walk(nodes) else None


# --- evaluation ------------------------------------------------------------------------------


def render(template: str, data: Any) -> str:
    return execute(parse(template), data)


def execute(nodes: list[Node], data: Any) -> str:
    """Run an already parsed template (parse once, execute per row)."""
    out: list[str] = []
    _exec(nodes, data, {"$": data}, out)
    return "".join(out)


def _exec(nodes: list[Node], dot: Any, vars_: dict[str, Any], out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Action):
            declared, commands = node.pipe
            value = _pipe(commands, dot, vars_)
            if declared:
                vars_[declared[0]] = value
            else:
                out.append(_print(value))
        elif isinstance(node, Branch):
            _branch(node, dot, vars_, out)


def _branch(node: Branch, dot: Any, vars_: dict[str, Any], out: list[str]) -> None:
    declared, commands = node.pipe
    value = _pipe(commands, dot, vars_)
    scope = dict(vars_)
    if node.kind == "if":
        _exec(node.body if _truth(value) else node.otherwise, dot, scope, out)
    elif node.kind == "with":
        if declared:
            scope[declared[0]] = value
        if _truth(value):
            _exec(node.body, value, scope, out)
        else:
            _exec(node.otherwise, dot, scope, out)
    else:
        if isinstance(value, dict):
            pairs = sorted(value.items())
        elif isinstance(value, list | tuple):
            pairs = list(enumerate(value))
        elif value is None:
            pairs = []
        else:
            raise TemplateError(f"template: range can't iterate over {_print(value)}")
        if not pairs:
            _exec(node.otherwise, dot, scope, out)
        for key, item in pairs:
            if len(declared) == 2:
                scope[declared[0]], scope[declared[1]] = key, item
            elif declared:
                scope[declared[0]] = item
            _exec(node.body, item, scope, out)


def _pipe(commands: list[list[Any]], dot: Any, vars_: dict[str, Any]) -> Any:
    value: Any = _NOTHING
    for command in commands:
        value = _command(command, dot, vars_, value)
    return value


class _Nothing:
    pass


_NOTHING = _Nothing()


def _command(command: list[Any], dot: Any, vars_: dict[str, Any], piped: Any) -> Any:
    kind, text = command[0]
    if kind == "word" and text in FUNCS:
        args = [_operand(op, dot, vars_) for op in command[1:]]
        if piped is not _NOTHING:
            args.append(piped)
        try:
            return FUNCS[text](*args)
        except TemplateError:
            raise
        except (TypeError, ValueError, OverflowError, AttributeError, IndexError) as exc:
            raise TemplateError(f"template: error calling {text}: {_why(text, exc)}") from None
    if kind == "word" and text in ("true", "false", "nil"):
        return {"true": True, "false": False, "nil": None}[text]
    if kind == "word":
        raise TemplateError(f'template: function "{text}" not defined ({SUPPORTED})')
    if len(command) > 1 or piped is not _NOTHING:
        raise TemplateError(f"template: can't give argument to non-function {text}")
    return _operand(command[0], dot, vars_)


def _operand(op: tuple[str, Any], dot: Any, vars_: dict[str, Any]) -> Any:
    kind, text = op
    if kind == "pipe":
        return _pipe(text, dot, vars_)
    if kind == "str":
        return json.loads(text) if text.startswith('"') else text[1:-1]
    if kind == "num":
        try:
            return float(text) if "." in text else int(text)
        except ValueError:
            raise TemplateError(f"template: number too long: {text[:20]}...") from None
    if kind == "field":
        return _path(dot, text)
    if kind == "var":
        name, _, rest = text.partition(".")
        if name not in vars_:
            raise TemplateError(f"template: undefined variable {name}")
        return _path(vars_[name], "." + rest) if rest else vars_[name]
    if kind == "word" and text in ("true", "false", "nil"):
        return {"true": True, "false": False, "nil": None}[text]
    if kind == "word" and text in FUNCS:
        return FUNCS[text]()
    raise TemplateError(f"template: unexpected {text!r} ({SUPPORTED})")


def _path(value: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            if part not in value:
                if isinstance(value, _Loose):
                    return None
                raise TemplateError(f"template: can't evaluate field {part}")
            value = value[part]
        else:
            raise TemplateError(f"template: can't evaluate field {part} in {_print(value)}")
    return value


class _Loose(dict[str, Any]):
    """A map whose missing keys print as <no value> (Go maps), not an error (Go structs)."""


def loose(data: dict[str, Any]) -> dict[str, Any]:
    return _Loose(data)


def _truth(value: Any) -> bool:
    return bool(value) and value is not _NOTHING


def _print(value: Any) -> str:
    """Go's fmt %v for JSON-like values."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(_print(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_print(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _why(func: str, exc: BaseException) -> str:
    if isinstance(exc, TypeError) and "positional argument" in str(exc):
        return "wrong number of arguments"
    return str(exc) or type(exc).__name__


def _at_least(func: str, n: int, args: tuple[Any, ...]) -> None:
    if len(args) < n:
        raise TemplateError(
            f"template: wrong number of args for {func}: want at least {n} got {len(args)}"
        )


def _and(*args: Any) -> Any:
    _at_least("and", 1, args)
    return next((x for x in args if not _truth(x)), args[-1])


def _or(*args: Any) -> Any:
    _at_least("or", 1, args)
    return next((x for x in args if _truth(x)), args[-1])


def _len(value: Any) -> int:
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    raise TemplateError(f"template: error calling len: len of type {type(value).__name__}")


def _join(items: Any, sep: Any) -> str:
    if not isinstance(items, list | tuple) or not isinstance(sep, str):
        raise TemplateError("template: error calling join: want a list and a separator string")
    return sep.join(_print(i) for i in items)


def _index(container: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(container, dict):
            if not isinstance(key, str):
                raise TemplateError(
                    f"template: error calling index: value has type {type(key).__name__}; "
                    "should be string"
                )
            container = container.get(key)
        elif isinstance(container, list | tuple):
            if not isinstance(key, int) or not 0 <= key < len(container):
                raise TemplateError(f"template: index out of range: {key}")
            container = container[key]
        else:
            raise TemplateError(f"template: can't index item of type {type(container).__name__}")
    return container


def _printf(fmt: Any, *args: Any) -> str:
    # Go verbs map onto Python's for the common cases (%s %d %v %q).
    if not isinstance(fmt, str):
        raise TemplateError("template: error calling printf: the format must be a string")
    for width in re.findall(r"%[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?", fmt):
        for part in width:
            if part == "*" or (part.isdigit() and int(part) > MAX_WIDTH):
                raise TemplateError(f"template: printf: widths above {MAX_WIDTH} are refused")
    py = re.sub(r"%v", "%s", fmt)
    values = tuple(
        _print(a) if not isinstance(a, int | float) or isinstance(a, bool) else a for a in args
    )
    try:
        return py % values
    except (TypeError, ValueError, OverflowError) as exc:
        raise TemplateError(f"template: printf: {exc}") from None


def _cmp(op: str) -> Any:
    def compare(a: Any, *bs: Any) -> bool:
        import operator

        fn = getattr(operator, op)
        if op == "eq":
            _at_least("eq", 2, (a, *bs))
            return any(fn(a, b) for b in bs)
        if len(bs) != 1:
            raise TemplateError(
                f"template: wrong number of args for {op}: want 2 got {len(bs) + 1}"
            )
        try:
            return bool(fn(a, bs[0]))
        except TypeError:
            raise TemplateError(
                f"template: error calling {op}: incompatible types for comparison"
            ) from None

    return compare


FUNCS: dict[str, Any] = {
    "json": lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False),
    "prettyjson": lambda v: json.dumps(v, indent=4, ensure_ascii=False),
    "index": _index,
    "len": _len,
    "print": lambda *a: "".join(_print(x) for x in a),
    "println": lambda *a: " ".join(_print(x) for x in a) + "\n",
    "printf": _printf,
    "not": lambda v: not _truth(v),
    "and": _and,
    "or": _or,
    "eq": _cmp("eq"),
    "ne": _cmp("ne"),
    "lt": _cmp("lt"),
    "le": _cmp("le"),
    "gt": _cmp("gt"),
    "ge": _cmp("ge"),
    "upper": lambda s: str(s).upper(),
    "lower": lambda s: str(s).lower(),
    "join": _join,
}
