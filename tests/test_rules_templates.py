"""Sandboxed reply templates: FR/EN variants, strict variables, and hostile payloads refused."""

from __future__ import annotations

import time

import pytest

from rules.templates import TemplateError, TemplateRenderer, pick_variant

CONTEXT = {
    "contact": {"name": "Mme Dupont", "first_name": "Claire"},
    "case": {"ref": "C-2026-0042", "amount": 1500000.5, "items": ["facture", "avoir"]},
    "request": {"subject": "Où en est ma demande ?"},
}
VARIANTS = {
    "fr": "Bonjour {{ contact.name }},\nVotre demande {{ case.ref }} est en cours.",
    "en": "Hello {{ contact.name }},\nYour request {{ case.ref }} is in progress.",
}


@pytest.fixture
def renderer() -> TemplateRenderer:
    """A renderer with the default caps."""
    return TemplateRenderer()


@pytest.mark.parametrize(
    ("lang", "expected_start"),
    [
        ("fr", "Bonjour Mme Dupont,\nVotre demande C-2026-0042"),
        ("en", "Hello Mme Dupont,\nYour request C-2026-0042"),
        ("en-GB", "Hello"),
        ("EN_us", "Hello"),
        ("fr-CA", "Bonjour"),
        ("de", "Bonjour"),
        (None, "Bonjour"),
    ],
)
def test_render_variants_picks_language_with_fallback(
    renderer: TemplateRenderer, lang: str | None, expected_start: str
) -> None:
    assert renderer.render_variants(VARIANTS, lang, CONTEXT).startswith(expected_start)


def test_fallback_to_english_default_and_to_the_only_variant() -> None:
    assert pick_variant(VARIANTS, "de", default_lang="en") == VARIANTS["en"]
    assert pick_variant({"en": "only"}, "fr") == "only"
    with pytest.raises(TemplateError, match="no template variant"):
        pick_variant({}, "fr")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ request.subject }}", "Où en est ma demande ?"),
        ("{{ case['items'] | join(', ') }}", "facture, avoir"),
        ("{% for i in case['items'] %}{{ loop.index }}.{{ i }} {% endfor %}", "1.facture 2.avoir "),
        ("{{ '%.2f' | format(case.amount) }}", "1500000.50"),
        ("{{ '{:,.2f}'.format(case.amount) }}", "1,500,000.50"),
        ("{{ contact.missing | default('Madame, Monsieur') }}", "Madame, Monsieur"),
        ("{% if contact.phone is defined %}x{% else %}none{% endif %}", "none"),
        ("{{ contact.first_name | upper }} {{ contact.name.split()[1] }}", "CLAIRE Dupont"),
        ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
        ("{{ 'ab' ~ '-' ~ 3 }} {{ 2 ** 10 }} {{ 'é' * 3 }}", "ab-3 1024 ééé"),
        ("{% macro hi(n) %}Bonjour {{ n }}{% endmacro %}{{ hi('Claire') }}", "Bonjour Claire"),
        ("fin\n", "fin\n"),
    ],
)
def test_normal_templates_render(renderer: TemplateRenderer, source: str, expected: str) -> None:
    assert renderer.render(source, CONTEXT) == expected


HOSTILE = [
    # (why, template, words expected in the error)
    ("dunder_mro", "{{ ''.__class__.__mro__ }}", "private attribute '__mro__'"),
    ("cycler_globals", "{{ cycler.__init__.__globals__ }}", "private attribute"),
    ("getitem_dunder", "{{ ''['__class__'] }}", "private attribute '__class__'"),
    ("attr_filter_dunder", "{{ ''|attr('__class__') }}", "private attribute '__class__'"),
    ("private_attr", "{{ contact._private }}", "private attribute '_private'"),
    ("self_reference", "{{ self }}", "name 'self' is not available"),
    ("self_dict", "{{ self.__dict__ }}", "private attribute '__dict__'"),
    ("lipsum_global", "{{ lipsum(10**6) }}", "name 'lipsum' is not available"),
    ("namespace_global", "{% set ns = namespace(a=1) %}", "name 'namespace' is not available"),
    ("flask_request_global", "{{ request.application }}", "has no attribute 'application'"),
    ("config_global", "{{ config.items() }}", "'config' is undefined"),
    ("include", "{% include 'other.txt' %}", "cannot extend, include or import"),
    ("huge_range", "{% for i in range(10**9) %}x{% endfor %}", "range() of 1000000000 items"),
    ("string_times_huge", "{{ 'x' * 10**8 }}", "'*' result would be over"),
    ("list_times_huge", "{{ [0] * 10**8 }}", "'*' result would be over"),
    ("huge_power", "{{ (10**64) ** 64 ** 64 }}", "'**' result would be over"),
    ("concat_doubling", "{% set a = 'xy' %}" + "{% set a = a ~ a %}" * 40, "'~' result"),
    ("macro_doubling", "{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('x') }}", "'~' result"),
    ("str_ljust", "{{ 'x'.ljust(10**9) }}", "str.ljust width"),
    ("center_filter", "{{ 'x' | center(10**9) }}", "filter center"),
    ("format_width", "{{ '{:>999999999}'.format(1) }}", "format width"),
    ("percent_width", "{{ '%999999999s' % 1 }}", "% format width"),
    ("format_filter_width", "{{ '%999999999s' | format(1) }}", "% format width"),
    ("translate_method", "{{ 'x'.translate({120: 'y'}) }}", "unsafe"),
    ("join_blowup", "{{ range(10000) | join('x' * 50000) }}", "join result would be over"),
    ("batch_fill", "{{ [1] | batch(10**9, 'x') | list }}", "filter batch"),
    ("replace_blowup", "{{ ('x' * 50000).replace('x', 'x' * 50000) }}", "str.replace"),
    ("recursive_loop", "{% for x in range(3) recursive %}{{ loop(range(3)) }}{% endfor %}",
     "recursion"),
]  # fmt: skip


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("source", "message"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE]
)
def test_hostile_templates_are_refused_with_a_clear_error(
    renderer: TemplateRenderer, source: str, message: str
) -> None:
    with pytest.raises(TemplateError) as info:
        renderer.render(source, CONTEXT)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.timeout(10)
def test_long_nested_loops_are_stopped_by_the_render_time_cap() -> None:
    renderer = TemplateRenderer(max_render_ms=50)
    source = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateError, match="render time is over 50 ms"):
        renderer.render(source, CONTEXT)


def test_output_over_the_cap_is_refused_not_truncated() -> None:
    renderer = TemplateRenderer(max_output_chars=100)
    assert renderer.render("{{ 'x' * 100 }}", CONTEXT) == "x" * 100
    with pytest.raises(TemplateError, match="over the limit of 100 characters"):
        renderer.render("{% for i in range(1000) %}abc{% endfor %}", CONTEXT)
    with pytest.raises(TemplateError, match="over the limit of 100 characters"):
        renderer.render("{{ body }}", {"body": "y" * 101})


def test_output_cap_stops_rendering_early() -> None:
    seen: list[int] = []

    def count(i: int) -> int:
        seen.append(i)
        return i

    renderer = TemplateRenderer(max_output_chars=50)
    with pytest.raises(TemplateError, match="over the limit"):
        renderer.render("{% for i in range(5000) %}{{ count(i) }}{% endfor %}", {"count": count})
    assert len(seen) < 100


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("Bonjour\n\n{{ contact.name ", "line 3"),
        ("ligne 1\n{% for x in y %}\nsans fin", "line 2"),
        ("{{ x | no_such_filter }}", "no_such_filter"),
        ("x" * 100_001, "over the limit of 100000"),
        ("{{" + "(" * 5000 + "1" + ")" * 5000 + "}}", "nested"),
    ],
)
def test_validate_reports_syntax_errors_with_the_line(
    renderer: TemplateRenderer, source: str, message: str
) -> None:
    with pytest.raises(ValueError, match="template") as info:
        renderer.validate(source)
    assert message in str(info.value)


def test_undefined_variable_is_an_error_with_its_line(renderer: TemplateRenderer) -> None:
    with pytest.raises(TemplateError, match="line 2: 'contac' is undefined"):
        renderer.render("Bonjour\n{{ contac.name }}", CONTEXT)


def test_validate_accepts_a_good_template(renderer: TemplateRenderer) -> None:
    renderer.validate(VARIANTS["fr"])
    renderer.validate("{% if case.ref %}{{ case.ref }}{% endif %}")


class _PausedWhilePrinted:
    """A value whose text takes wall-clock time but no CPU: what a render looks like when
    the OS or another thread holds it up on a loaded machine."""

    def __init__(self, text: str, pause: float) -> None:
        self.text = text
        self.pause = pause

    def __str__(self) -> str:
        time.sleep(self.pause)
        return self.text


@pytest.mark.timeout(10)
def test_a_render_held_up_by_a_loaded_machine_is_not_refused() -> None:
    """The full-scale kill -9 run (load ~13 on 2 cores) lost one acknowledgement of 1,000:
    its body took 278 ms of wall-clock time to render, over the 200 ms cap, and the rule's
    send_reply was skipped. The cap is on the render's own work (its thread's CPU time)."""
    renderer = TemplateRenderer(max_render_ms=200)
    source = "Votre demande « {{ subject }} » est enregistrée sous la référence {{ ref }}."
    context = {
        "subject": _PausedWhilePrinted("Facture numéro 558 incorrecte", 0.3),
        "ref": "CB-559",
    }
    assert renderer.render(source, context) == (
        "Votre demande « Facture numéro 558 incorrecte » est enregistrée sous la référence CB-559."
    )
