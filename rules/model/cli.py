"""`crmbot model …`: train a model from an export, activate it for a rules pack, show it."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.errors import FatalError
from rules.model.artifact import LinearModel, load_model, save_model
from rules.model.data import Example, bundled_corpus, read_examples, split_holdout, write_jsonl
from rules.model.evaluate import category_report, render_report
from rules.model.history import LabelSpec, read_closed
from rules.model.store import active_path, model_for_pack

app = typer.Typer(help="Train, evaluate and activate the learned classifier.", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"error: {message}")
    return typer.Exit(1)


def holdout_path(model_path: Path) -> Path:
    """Where `model train` keeps the messages it held out for `model activate`."""
    return model_path.with_name(model_path.stem + ".holdout.jsonl")


def accuracy_on(model: LinearModel, examples: list[Example]) -> dict[str, Any]:
    """The model's category report on labelled examples."""
    predicted = [model.predict(e.subject, e.body).category for e in examples]
    return category_report([e.category for e in examples], predicted)


def _from_source(name: str, spec: LabelSpec, settings_file: Path | None) -> list[Example]:
    from bot.logging import configure_logging
    from bot.registry import build_source
    from bot.settings import load_settings

    settings = load_settings(settings_file)
    configure_logging(settings.log.level, settings.log.format)  # logs to stderr, figures to stdout
    raw = settings.sources.get(name)
    if raw is None:
        raise _fail(f"no source named {name!r} in the settings")
    source, _ = build_source(name, raw)
    try:
        return read_closed(source, spec)
    finally:
        source.close()


@app.command()
def train(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="CSV / JSONL / YAML exports (subject, body, category)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Model file to write.")] = Path("model.npz"),
    bundled: Annotated[
        bool, typer.Option("--bundled", help="Add the FR/EN corpus shipped with crmbot.")
    ] = False,
    k: Annotated[int, typer.Option("--k", min=2, max=20, help="Folds for the evaluation.")] = 5,
    holdout: Annotated[
        float,
        typer.Option(
            "--holdout", min=0.0, max=0.5, help="Share kept aside for `model activate` (0: none)."
        ),
    ] = 0.2,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    from_source: Annotated[
        str | None,
        typer.Option("--from-source", help="Also read closed tickets of this configured source."),
    ] = None,
    label: Annotated[
        str,
        typer.Option(
            "--label",
            help="Where a ticket's category is: tags:PREFIX, custom_fields.NAME, category,"
            " or queue;Queue=category,…",
        ),
    ] = "category",
    closed: Annotated[
        str,
        typer.Option(
            "--closed", help="Ticket statuses that count as closed (HubSpot: the stage ids)."
        ),
    ] = "closed,solved,resolved",
    settings_file: Annotated[
        Path | None, typer.Option("--settings", "-s", help="Settings file (for --from-source).")
    ] = None,
) -> None:
    """Train on labelled messages, print k-fold figures, write the model (and its held-out set)."""
    from rules.model.train import summary, train_model

    try:
        examples = read_examples(files or [])
        if bundled:
            examples += bundled_corpus()
        if from_source:
            spec = LabelSpec.parse(label, closed)
            examples += _from_source(from_source, spec, settings_file)
    except FatalError as exc:
        raise _fail(str(exc)) from None
    if not examples:
        raise _fail("no examples: give an export file or --bundled")
    train_set, held = split_holdout(examples, holdout)
    origin = [str(f) for f in files or []] + (["bundled corpus"] if bundled else [])
    origin += [f"closed tickets of {from_source}"] if from_source else []
    source = ", ".join(origin)
    try:
        model, report = train_model(train_set, k=k, source=source)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    save_model(out, model)
    if held:
        write_jsonl(holdout_path(out), held)
    figures: dict[str, Any] = {
        "model": str(out),
        "version": model.version,
        "examples": len(train_set),
        "held_out": len(held),
        "size_bytes": out.stat().st_size,
        "kfold": summary(report),
    }
    if as_json:
        typer.echo(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    render_report(report["category"], console, f"{k}-fold on {len(train_set)} messages")
    for head, fig in report["binary"].items():
        console.print(
            f"{head}: precision {fig['precision']:.3f}, recall {fig['recall']:.3f}"
            f" ({fig['positives']} positives of {fig['n']})"
        )
    console.print(
        f"wrote {out} (version {model.version}, {figures['size_bytes'] / 1e6:.2f} MB)"
        + (f"; {len(held)} messages held out in {holdout_path(out)}" if held else "")
    )


@app.command()
def activate(
    candidate: Annotated[Path, typer.Argument(help="A model file written by `model train`.")],
    rules: Annotated[Path, typer.Option("--rules", help="The rules directory it is for.")],
    holdout: Annotated[
        Path | None,
        typer.Option("--holdout", help="Labelled messages neither model was trained on."),
    ] = None,
) -> None:
    """Make a model the pack's active one, only if it beats the current one on held-out data."""
    if not rules.is_dir():
        raise _fail(f"{rules}: not a rules directory (copy the default pack first)")
    held_file = holdout or holdout_path(candidate)
    if not held_file.exists():
        raise _fail(f"no held-out data: {held_file} is missing (give --holdout FILE)")
    try:
        new = load_model(candidate)
        current = model_for_pack(rules)
        held = read_examples([held_file])
    except FatalError as exc:
        raise _fail(str(exc)) from None
    new_fig, cur_fig = accuracy_on(new, held), accuracy_on(current, held)
    table = Table(title=f"On {len(held)} held-out messages ({held_file})")
    for col in ("model", "version", "accuracy", "macro F1"):
        table.add_column(col)
    table.add_row(
        "current", current.version, f"{cur_fig['accuracy']:.3f}", f"{cur_fig['macro_f1']:.3f}"
    )
    table.add_row(
        "candidate", new.version, f"{new_fig['accuracy']:.3f}", f"{new_fig['macro_f1']:.3f}"
    )
    console.print(table)
    if new_fig["accuracy"] <= cur_fig["accuracy"]:
        err_console.print(
            f"refused: {new.version} does not beat {current.version} on held-out data"
            f" ({new_fig['accuracy']:.3f} ≤ {cur_fig['accuracy']:.3f})"
        )
        raise typer.Exit(1)
    target = active_path(rules)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(candidate, tmp)
    tmp.replace(target)
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": new.version,
        "replaced": current.version,
        "held_out": str(held_file),
        "accuracy": new_fig["accuracy"],
        "previous_accuracy": cur_fig["accuracy"],
    }
    with (target.parent / "history.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
    console.print(f"activated {new.version} for {rules} (was {current.version})")


@app.command()
def show(
    rules: Annotated[Path | None, typer.Option("--rules", help="Rules directory.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The model a rules pack uses: version, training data, k-fold figures."""
    try:
        model = model_for_pack(rules)
    except FatalError as exc:
        raise _fail(str(exc)) from None
    meta = {k: v for k, v in model.meta.items() if k != "heads"}
    if as_json:
        typer.echo(json.dumps(meta, ensure_ascii=False, indent=2))
        return
    kf = meta.get("kfold", {}).get("category", {})
    console.print(
        f"model {model.version}: {meta.get('examples')} examples ({meta.get('source')}),"
        f" {len(model.features)} features, k-fold accuracy {kf.get('accuracy', 0):.3f}"
    )
