"""Loading rules files: file:line:key errors, typo suggestions, and hostile files refused."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.errors import ConfigError
from rules import RulesError, load_ruleset
from rules.loader import MAX_FILE_BYTES

MINIMAL = """\
version: 1
categories:
  - id: billing
    label: {fr: facturation, en: billing}
    signals:
      - {weight: 2, terms: [facture, invoice]}
  - id: other
    label: {fr: autre, en: other}
sla:
  targets:
    P1: {first_response: 1h, resolution: 4h}
    P2: {first_response: 4h, resolution: 1d}
    P3: {first_response: 1d, resolution: 3d}
    P4: {first_response: 2d, resolution: 5d}
  policies:
    - {id: default, categories: ["*"], priority: P3}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(tmp_path: Path, extra: str, name: str = "extra.yaml") -> RulesError:
    write(tmp_path, "base.yaml", MINIMAL)
    write(tmp_path, name, extra)
    with pytest.raises(RulesError) as info:
        load_ruleset(tmp_path)
    return info.value


def test_minimal_pack_loads(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", MINIMAL)
    ruleset = load_ruleset(tmp_path)
    assert ruleset.counts["categories"] == 2
    assert ruleset.counts["sla_policies"] == 1


def test_rules_error_is_a_config_error_with_file_line_key_and_suggestion(tmp_path: Path) -> None:
    err = errors_of(
        tmp_path,
        """\
        version: 1
        automations:
          - id: ack
            evnts: [case.created]
            actions:
              - {type: add_tag, tag: x}
        """,
    )
    assert isinstance(err, ConfigError)
    text = str(err)
    assert f"{tmp_path / 'extra.yaml'}:4: automations[0].evnts: unknown key 'evnts'" in text
    assert "(did you mean 'events'?)" in text


def test_unknown_operator_suggests_the_nearest(tmp_path: Path) -> None:
    err = errors_of(
        tmp_path,
        """\
        automations:
          - id: ack
            events: [case.created]
            when:
              all:
                - {field: request.language, op: equal, value: fr}
            actions:
              - {type: add_tag, tag: x}
        """,
    )
    (issue,) = err.issues
    assert issue.line == 6
    assert "unknown op 'equal'" in issue.message
    assert issue.suggestion == "equals"


def test_unknown_event_and_action_type_suggest(tmp_path: Path) -> None:
    err = errors_of(
        tmp_path,
        """\
        automations:
          - id: ack
            events: [case.create]
            actions:
              - {type: send_replay, subject: s, body: b}
        """,
    )
    by_line = {issue.line: issue for issue in err.issues}
    assert by_line[3].suggestion == "case.created"
    assert by_line[5].suggestion == "send_reply"
    assert "unknown type 'send_replay'" in by_line[5].message


def test_unknown_key_inside_a_leaf_lists_allowed_keys(tmp_path: Path) -> None:
    err = errors_of(
        tmp_path,
        """\
        impact:
          rules:
            - id: vip
              points: 10
              reason: {fr: vip}
              when: {field: contact.vip, op: equals, valeu: true}
        """,
    )
    messages = " | ".join(str(i) for i in err.issues)
    assert ":6: impact.rules[0].when" in messages
    assert "did you mean 'value'?" in messages


def test_unknown_field_root_and_category_and_calendar_are_refused(tmp_path: Path) -> None:
    err = errors_of(
        tmp_path,
        """\
        sla:
          policies:
            - {id: vip, categories: [biling], priority: P2, calendar: paris}
        impact:
          rules:
            - id: x
              points: 1
              reason: {fr: x}
              when: {field: contatc.vip, op: exists}
        """,
    )
    text = str(err)
    assert "unknown category 'biling' (did you mean 'billing'?)" in text
    assert "unknown calendar 'paris'" in text
    assert "unknown field root 'contatc'" in text and "did you mean 'contact'?" in text
    assert len(err.issues) == 3


def test_duplicate_ids_across_files_name_both_places(tmp_path: Path) -> None:
    err = errors_of(
        tmp_path,
        """\
        categories:
          - id: billing
            label: {fr: doublon}
        """,
    )
    (issue,) = err.issues
    assert issue.line == 2
    assert f"already defined at {tmp_path / 'base.yaml'}:3" in issue.message


def test_backreference_regex_is_refused_at_load_with_its_line(tmp_path: Path) -> None:
    err = errors_of(
        tmp_path,
        r"""
        automations:
          - id: rx
            events: [case.created]
            when: {op: matches, value: '(\w+) \1'}
            actions: [{type: add_tag, tag: x}]
        """,
    )
    (issue,) = err.issues
    assert issue.line == 5
    assert "refused by RE2" in issue.message


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"bomb\.yaml:1: anchors \(&name\) are not allowed"):
        load_ruleset(path)


def test_alias_alone_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "alias.yaml", "version: 1\nsettings: *x\n")
    with pytest.raises(RulesError, match="alias"):
        load_ruleset(path)


def test_ten_megabyte_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("version: 1\n# " + "x" * (10 * 1024 * 1024) + "\n")
    with pytest.raises(RulesError, match=f"over the {MAX_FILE_BYTES} limit"):
        load_ruleset(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nversion: 1\n", "duplicate key 'version'"),
        ("version: 1\nsettings: !!python/object:os.system {}\n", "tag .* is not allowed"),
        ("version: 1\nx: !!python/name:os.system\n", "invalid YAML"),
        ("version: [1\n", "invalid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("version: 1\nx: " + "[" * 200 + "]" * 200 + "\n", "nested"),
        ("version: 2\n", "not allowed; expected one of: 1"),
    ],
)
def test_malformed_yaml_is_refused_with_a_clear_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match=message):
        load_ruleset(path)


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ request.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ self._TemplateReference__context }}",
        "{% for x in range(10**9) %}{% endfor %}",
    ],
)
def test_template_injection_in_send_reply_is_refused_or_inert(tmp_path: Path, payload: str) -> None:
    from datetime import UTC, datetime

    quoted = payload.replace("'", "''")
    extra = f"""\
    automations:
      - id: reply
        events: [case.created]
        actions:
          - type: send_reply
            subject: hi
            body: {{fr: '{quoted}', en: ok}}
    """
    write(tmp_path, "base.yaml", MINIMAL)
    write(tmp_path, "extra.yaml", extra)
    try:
        ruleset = load_ruleset(tmp_path)
    except RulesError as exc:
        assert "template refused" in str(exc)
        assert ":7: automations[0].actions[0].body.fr" in str(exc)
        return
    decision = ruleset.decide(
        {"request": {"subject": "facture", "language": "fr"}},
        now=datetime(2026, 1, 5, 10, tzinfo=UTC),
    )
    bodies = [a.params.get("body", "") for a in decision.actions]
    assert all("class" not in body and "uid=" not in body for body in bodies)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/x", "must use https"),
        ("https://evil.example.net/x", "not in settings.webhook_allowed_hosts"),
        ("https://user:pw@hooks.example.com/x", "must not carry credentials"),
    ],
)
def test_webhook_must_be_https_to_an_allow_listed_host(
    tmp_path: Path, url: str, message: str
) -> None:
    write(tmp_path, "settings.yaml", "settings:\n  webhook_allowed_hosts: [hooks.example.com]\n")
    err = errors_of(
        tmp_path,
        f"""\
        automations:
          - id: hook
            events: [case.created]
            actions:
              - {{type: webhook, url: "{url}"}}
        """,
    )
    (issue,) = err.issues
    assert message in issue.message and issue.line == 5


def test_set_field_cannot_write_the_request(tmp_path: Path) -> None:
    err = errors_of(
        tmp_path,
        """\
        automations:
          - id: s
            events: [case.created]
            actions:
              - {type: set_field, field: request.subject, value: x}
        """,
    )
    assert "only case, contact, company fields can be set" in str(err)


def test_missing_sla_targets_are_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "only.yaml",
        """\
        sla:
          targets:
            P1: {first_response: 1h, resolution: 4h}
          policies:
            - {id: d, priority: P3}
        """,
    )
    with pytest.raises(RulesError, match="no SLA target for P2, P3, P4"):
        load_ruleset(path)


def test_every_error_of_every_file_is_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "categorys: []\n")
    write(tmp_path, "b.yaml", "automations: [{id: x}]\n")
    with pytest.raises(RulesError) as info:
        load_ruleset(tmp_path)
    files = {issue.file for issue in info.value.issues}
    assert files == {str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")}
    assert any(i.suggestion == "categories" for i in info.value.issues)


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"no \.yaml rules files"):
        load_ruleset(tmp_path)


def test_nested_condition_and_localized_errors_point_at_their_own_line(tmp_path: Path) -> None:
    err = errors_of(
        tmp_path,
        """\
        automations:
          - id: a
            events: [case.created]
            when:
              any:
                - all:
                    - {field: contact.vip, op: equals, value: true, extra: 1}
                - not: {field: contact.vip, op: exist}
            actions:
              - {type: add_note, text: {fr: ok, de: nein}}
        """,
    )
    found = {(i.line, i.key, i.suggestion) for i in err.issues}
    assert found == {
        (7, "automations[0].when.any[0].all[0].extra", None),
        (8, "automations[0].when.any[1].not.op", "exists"),
        (10, "automations[0].actions[0].text.de", None),
    }
