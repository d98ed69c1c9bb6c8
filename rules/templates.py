"""Reply and note templates: Jinja2 in an immutable sandbox with time, size and reach capped.

Choices (admins write these templates; customers may read the output):
- Plain text mail: autoescape is off. Undefined variables are errors (StrictUndefined): a typo
  must not send "Bonjour ," to a customer. Use `{{ x | default('…') }}` or `{% if x is
  defined %}` for optional values.
- Static refusals (`validate`): syntax errors (with the line), attribute or item access to any
  name starting with "_", `self`, `{% extends/include/import %}`, sources over the size cap.
- Runtime caps: `range()` and similar loop sizes, the size of every intermediate string or list
  (operators `*`, `+`, `%`, `**`, `~`, string methods, filters), the output size (rendering
  stops as soon as the output passes the cap) and the render time (checked at every call,
  operator, filter, loop step and output chunk). Only a whitelist of str methods is callable.
- Globals: only a capped `range`; `lipsum`, `cycler`, `joiner`, `namespace`, `dict` are gone.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from string import Formatter
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from bot.errors import SkippableError


def customer_filters() -> dict[str, Callable[..., Any]]:
    """Filters for customer-facing text: dates in the customer's language and zone, statuses."""
    from bot.customer_text import customer_date, next_step, status_label, team_label, warm_up
    from bot.verify import same_mailbox

    warm_up()  # the first Babel call loads its data: never inside a render's time budget

    return {
        "customer_date": customer_date,
        "status_label": status_label,
        "next_step": next_step,
        "team_label": team_label,
        "same_mailbox": same_mailbox,
    }


_TEMPLATE_NAME = "<template>"
_SAFE_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "center", "count", "endswith", "find", "format", "index",
        "isalnum", "isalpha", "isdigit", "islower", "isnumeric", "isspace", "istitle",
        "isupper", "join", "ljust", "lower", "lstrip", "partition", "removeprefix",
        "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit",
        "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
        "zfill",
    }
)  # fmt: skip
_FORBIDDEN_NAMES = frozenset({"self", "lipsum", "cycler", "joiner", "namespace"})
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?([a-zA-Z%])")
_MAX_POW_BITS = 10_000


class TemplateError(SkippableError, ValueError):
    """A template was refused (syntax, forbidden construct) or failed to render within caps."""


# The render's time budget is on the rendering thread's CPU time, not the wall clock: on a
# loaded machine the OS or another thread may hold a render up for longer than the whole cap
# (an acknowledgement's body took 278 ms of wall-clock time under load ~13 on 2 cores, and
# its send_reply was skipped), while a template that computes too long still uses the CPU.
_deadline: ContextVar[float] = ContextVar("template_deadline", default=float("inf"))


def _render_clock() -> float:
    """Seconds of CPU time this thread has used: what a render's time budget is spent on."""
    return time.thread_time()


def _size(value: Any) -> int:
    """Length of a sized string or container, else 0."""
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        return len(value)
    return 0


class _GuardedCodeGenerator(CodeGenerator):
    """Routes the `~` operator through the environment so its result size is checked."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        """Compile `a ~ b` to a size-checked join."""
        self.write("environment.guarded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _GuardedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with every growth path (loops, operators, calls, filters) capped."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _GuardedCodeGenerator

    def __init__(self, max_value_chars: int, max_range: int, max_render_ms: int) -> None:
        super().__init__(
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            cache_size=0,
        )
        self.max_value_chars = max_value_chars
        self.max_range = max_range
        self.max_render_ms = max_render_ms
        self.globals.clear()
        self.globals["range"] = self._range
        self.filters.update(customer_filters())
        self.filters = {name: self._guard_filter(name, f) for name, f in self.filters.items()}

    # -- limits ----------------------------------------------------------------------------

    def tick(self) -> None:
        """Refuse once the render has run past its time budget."""
        if _render_clock() > _deadline.get():
            raise TemplateError(f"render time is over {self.max_render_ms} ms; template refused")

    def check_size(self, value: Any, what: str) -> Any:
        """Return `value`, or refuse it when it is over the intermediate size cap."""
        if _size(value) > self.max_value_chars:
            raise TemplateError(f"{what} would be over {self.max_value_chars} items/characters")
        return value

    def check_width(self, width: Any, what: str) -> None:
        """Refuse an integer width or count over the size cap."""
        if isinstance(width, int) and abs(width) > self.max_value_chars:
            raise TemplateError(f"{what} {width} is over {self.max_value_chars}")

    def check_percent(self, fmt: str, args: Any) -> None:
        """Refuse a `%` format whose widths or result size would be over the cap."""
        convs, widest = 0, 0
        for width, precision, kind in _PERCENT_SPEC.findall(fmt):
            if kind == "%":
                continue
            convs += 1
            for part in (width, precision):
                if part == "*":
                    raise TemplateError("'*' widths in % formats are not allowed")
                if part:
                    self.check_width(int(part), "% format width")
                    widest = max(widest, int(part))
        if isinstance(args, dict):
            values: list[Any] = list(args.values())
        elif isinstance(args, tuple | list):
            values = list(args)
        else:
            values = [args]
        longest = max((len(str(v)) for v in values), default=0)
        if len(fmt) + convs * max(longest, widest) > self.max_value_chars:
            raise TemplateError(f"% format result would be over {self.max_value_chars} characters")

    def _range(self, *args: int) -> Iterator[int]:
        """A `range` capped in length, checking the time budget at every step."""
        try:
            numbers = range(*args)
        except TypeError as exc:
            raise TemplateError(f"range(): {exc}") from exc
        if len(numbers) > self.max_range:
            raise TemplateError(
                f"range() of {len(numbers)} items is over the limit of {self.max_range}"
            )

        def steps() -> Iterator[int]:
            for number in numbers:
                self.tick()
                yield number

        return steps()

    # -- sandbox hooks ---------------------------------------------------------------------

    def guarded_concat(self, parts: tuple[Any, ...]) -> str:
        """`~` with the result size checked before it is built."""
        self.tick()
        texts = [str(p) for p in parts]
        if sum(len(t) for t in texts) > self.max_value_chars:
            raise TemplateError(f"'~' result would be over {self.max_value_chars} characters")
        return "".join(texts)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """The immutable sandbox's rule, plus a whitelist of str methods."""
        if isinstance(obj, str) and callable(value) and attr not in _SAFE_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        """`*`, `+`, `%`, `**` with their result size checked before they run."""
        self.tick()
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int):
                if right > 0 and left.bit_length() * right > _MAX_POW_BITS:
                    raise TemplateError(f"'**' result would be over {_MAX_POW_BITS} bits")
            elif isinstance(right, int | float) and abs(right) > 1000:
                raise TemplateError("'**' exponent is too large")
        elif operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    _size(seq)
                    and isinstance(count, int)
                    and _size(seq) * count > self.max_value_chars
                ):
                    raise TemplateError(
                        f"'*' result would be over {self.max_value_chars} items/characters"
                    )
        elif operator == "+":
            if _size(left) + _size(right) > self.max_value_chars:
                raise TemplateError(f"'+' result would be over {self.max_value_chars} characters")
        elif operator == "%" and isinstance(left, str):
            self.check_percent(left, right)
        return self.check_size(self.binop_table[operator](left, right), f"'{operator}' result")

    def call(
        __self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Every call: time budget, argument and result sizes, growth of str methods."""
        __self.tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            args = __self._check_str_method(owner, getattr(__obj, "__name__", ""), args)
        for arg in (*args, *kwargs.values()):
            __self.check_size(arg, "call argument")
        result = super().call(__context, __obj, *args, **kwargs)
        return __self.check_size(result, "call result")

    def _check_str_method(self, text: str, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """Refuse str method calls whose result would be over the size cap."""
        if name in ("ljust", "rjust", "center", "zfill") and args:
            self.check_width(args[0], f"str.{name} width")
        elif name == "replace" and len(args) >= 2:
            old, new = str(args[0]), str(args[1])
            hits = text.count(old) if old else len(text) + 1
            if len(text) + hits * max(0, len(new) - len(old)) > self.max_value_chars:
                raise TemplateError(f"str.replace result would be over {self.max_value_chars}")
        elif name == "join" and args:
            items = list(args[0])
            total = sum(len(str(i)) for i in items) + len(text) * max(0, len(items) - 1)
            if total > self.max_value_chars:
                raise TemplateError(f"str.join result would be over {self.max_value_chars}")
            args = (items, *args[1:])
        return args

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format` with width and result size checked before formatting."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__

        def guarded(*args: Any, **kwargs: Any) -> str:
            self.tick()
            fields = 0
            for _, _, spec, _ in Formatter().parse(template):
                if spec is None:
                    continue
                fields += 1
                if "{" in spec:
                    raise TemplateError("nested fields in a format spec are not allowed")
                for number in re.findall(r"\d+", spec):
                    self.check_width(int(number), "format width")
            values = [*args, *kwargs.values()]
            if values and isinstance(values[0], dict) and len(values) == 1:
                values = list(values[0].values())
            longest = max((len(str(v)) for v in values), default=0)
            if len(template) + fields * longest > self.max_value_chars:
                raise TemplateError(f"str.format result would be over {self.max_value_chars}")
            return self.check_size(wrapped(*args, **kwargs), "str.format result")

        return guarded

    def _guard_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a filter with the time budget and its size pre- and post-checks."""
        pass_arg = getattr(func, "jinja_pass_arg", None)
        skip = 1 if pass_arg is not None else 0

        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.tick()
            own = list(args[skip:])
            if name in ("center", "indent", "batch", "slice") and len(own) >= 2:
                width = own[1]
                if name == "indent" and isinstance(width, str):
                    lines = str(own[0]).count("\n") + 1
                    if len(str(own[0])) + lines * len(width) > self.max_value_chars:
                        raise TemplateError(f"indent result would be over {self.max_value_chars}")
                limit = self.max_range if name in ("batch", "slice") else self.max_value_chars
                if isinstance(width, int) and abs(width) > limit:
                    raise TemplateError(f"filter {name}: {width} is over {limit}")
            elif name == "replace" and len(own) >= 3:
                self._check_str_method(str(own[0]), "replace", (own[1], own[2]))
            elif name == "join" and own:
                items = list(own[0])
                sep = str(own[1]) if len(own) >= 2 else str(kwargs.get("d", ""))
                total = sum(len(str(i)) for i in items) + len(sep) * max(0, len(items) - 1)
                if total > self.max_value_chars:
                    raise TemplateError(f"join result would be over {self.max_value_chars}")
                args = (*args[:skip], items, *own[1:])
            elif name == "format" and own:
                self.check_percent(str(own[0]), kwargs or tuple(own[1:]))
            return self.check_size(func(*args, **kwargs), f"filter {name} result")

        return guarded


def _template_line(tb: TracebackType | None) -> int | None:
    """The template line of the innermost template frame in a traceback."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class TemplateRenderer:
    """Validates and renders admin templates in the capped sandbox."""

    def __init__(
        self,
        max_output_chars: int = 20_000,
        max_render_ms: int = 200,
        max_source_chars: int = 100_000,
        max_range: int = 10_000,
    ) -> None:
        self.max_output_chars = max_output_chars
        self.max_render_ms = max_render_ms
        self.max_source_chars = max_source_chars
        self._env = _GuardedEnvironment(
            max_value_chars=max(10 * max_output_chars, 100_000),
            max_range=max_range,
            max_render_ms=max_render_ms,
        )
        self._compiled: dict[str, jinja2.Template] = {}

    def validate(self, source: str) -> None:
        """Parse and compile `source`; TemplateError (a ValueError) says what and where."""
        self._compile(source)

    def _compile(self, source: str) -> jinja2.Template:
        """Statically checked, compiled template (cached by source)."""
        cached = self._compiled.get(source)
        if cached is not None:
            return cached
        if len(source) > self.max_source_chars:
            raise TemplateError(
                f"template is {len(source)} characters, over the limit of {self.max_source_chars}"
            )
        try:
            tree = self._env.parse(source, name=_TEMPLATE_NAME)
            _check_tree(tree)
            template = self._env.from_string(tree)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"template syntax error at line {exc.lineno}: {exc.message}"
            ) from exc
        except RecursionError as exc:
            raise TemplateError("template is nested too deeply") from exc
        if len(self._compiled) >= 256:
            self._compiled.clear()
        self._compiled[source] = template
        return template

    def render(self, source: str, context: dict[str, Any]) -> str:
        """Render `source` with `context`, refusing it past the output or time cap (the time
        cap counts this thread's CPU time, so a render a loaded machine holds up still ends)."""
        template = self._compile(source)
        token = _deadline.set(_render_clock() + self.max_render_ms / 1000)
        chunks: list[str] = []
        total = 0
        try:
            for chunk in template.generate(context):
                total += len(chunk)
                if total > self.max_output_chars:
                    raise TemplateError(
                        f"template output is over the limit of {self.max_output_chars} characters"
                    )
                chunks.append(chunk)
                self._env.tick()
        except TemplateError:
            raise
        except RecursionError as exc:
            raise TemplateError("template recursion is too deep") from exc
        except (SecurityError, jinja2.TemplateError, ArithmeticError, LookupError, TypeError,
                ValueError, AttributeError, MemoryError) as exc:  # fmt: skip
            line = _template_line(exc.__traceback__)
            where = f" at line {line}" if line is not None else ""
            message = getattr(exc, "message", None) or str(exc)
            raise TemplateError(f"template failed{where}: {message}") from exc
        finally:
            _deadline.reset(token)
        return "".join(chunks)

    def render_variants(
        self,
        variants: dict[str, str],
        lang: str | None,
        context: dict[str, Any],
        default_lang: str = "fr",
    ) -> str:
        """Render the variant for `lang` ("fr", "en-GB"…), else `default_lang`, else the first."""
        return self.render(pick_variant(variants, lang, default_lang), context)


def pick_variant(variants: dict[str, str], lang: str | None, default_lang: str = "fr") -> str:
    """The variant for `lang`: exact tag, then its primary language, `default_lang`, first."""
    if not variants:
        raise TemplateError("no template variant given")
    by_tag = {key.lower().replace("_", "-"): value for key, value in variants.items()}
    candidates: list[str] = []
    if lang:
        tag = lang.strip().lower().replace("_", "-")
        candidates += [tag, tag.split("-")[0]]
    candidates.append(default_lang.lower())
    for candidate in candidates:
        if candidate in by_tag:
            return by_tag[candidate]
    return next(iter(variants.values()))


def _check_tree(tree: nodes.Template) -> None:
    """Refuse constructs that only serve to escape the sandbox or reach other templates."""
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        raise jinja2.TemplateSyntaxError(
            "templates cannot extend, include or import other templates", node.lineno
        )
    for getattr_node in tree.find_all(nodes.Getattr):
        _refuse_private(getattr_node.attr, getattr_node.lineno)
    for getitem in tree.find_all(nodes.Getitem):
        if isinstance(getitem.arg, nodes.Const) and isinstance(getitem.arg.value, str):
            _refuse_private(getitem.arg.value, getitem.lineno)
    for filter_node in tree.find_all(nodes.Filter):
        if filter_node.name == "attr":
            for arg in filter_node.args:
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    _refuse_private(arg.value, filter_node.lineno)
    for name in tree.find_all(nodes.Name):
        if name.name in _FORBIDDEN_NAMES or name.name.startswith("_"):
            raise jinja2.TemplateSyntaxError(f"name {name.name!r} is not available", name.lineno)


def _refuse_private(name: str, lineno: int) -> None:
    """Raise when `name` is private or special (starts with an underscore)."""
    if name.startswith("_"):
        raise jinja2.TemplateSyntaxError(
            f"access to private attribute {name!r} is not allowed", lineno
        )
