"""`semrec retrain`: continual training from the store's events behind a promotion gate, once or on
a schedule."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from semrec.cli.common import app, console, errors, fail
from semrec.data.errors import DatasetError

if TYPE_CHECKING:
    from semrec.feedback.influence import InfluenceCaps

REFUSED = 3  # exit status of a candidate the gate refused (the live model keeps serving)


def parse_every(text: str) -> float:
    """'90s', '30m', '6h', '1d' (or plain seconds) -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise ValueError(f"--every {text!r} is not a period; write e.g. 90s, 30m, 6h or 1d") from None
    if seconds <= 0:
        raise ValueError(f"--every {text!r} must be longer than 0")
    return seconds


@app.command()
def retrain(
    artifacts: Annotated[
        Path | None,
        typer.Option(help="The live model to start from (default: the one the store last reloaded)."),
    ] = None,
    database: Annotated[
        str, typer.Option(help="The server's store: a SQLite path or postgresql:// URL.")
    ] = "",
    out: Annotated[
        Path, typer.Option(help="Where the candidate goes (with --every: a folder of timestamped ones).")
    ] = Path("retrained"),
    epochs: Annotated[int, typer.Option(help="Passes over the new events and their replay sample.")] = 2,
    replay: Annotated[float, typer.Option(help="Older training examples replayed per new one.")] = 1.0,
    lr_scale: Annotated[float, typer.Option(help="Learning rate as a share of the model's own.")] = 0.3,
    holdout: Annotated[
        float, typer.Option(help="Newest share of the new events held out for the gate.")
    ] = 0.1,
    tolerance: Annotated[
        float, typer.Option(help="Share of the live model's validation NDCG@10 the candidate may lose.")
    ] = 0.01,
    since_event: Annotated[
        int | None,
        typer.Option(
            help="The store's first N events are already in the model's dataset (a shop that loaded "
            "its history into the store); the first retrain only. Default 0."
        ),
    ] = None,
    arm: Annotated[str, typer.Option(help="The A/B arm to reload ('' is the control).")] = "",
    reload: Annotated[
        bool, typer.Option("--reload/--no-reload", help="Reload the servers when the gate promotes.")
    ] = True,
    every: Annotated[
        str | None, typer.Option(help="Run again after each period (e.g. 1d, 6h), from the live model.")
    ] = None,
    runs: Annotated[int, typer.Option(help="With --every: stop after this many runs (0: never).")] = 0,
    config: Annotated[
        Path | None,
        typer.Option(
            help="The servers' settings file (TOML): its influence caps decide which new events "
            "count (default: the default caps)."
        ),
    ] = None,
    caps: Annotated[
        bool, typer.Option("--caps/--no-caps", help="Apply the influence caps to the new events.")
    ] = True,
) -> None:
    """Warm-start the live model on the events stored since it was trained (plus a replay sample of
    older ones), then promote it only if it is at least as good on the newest held-out events and
    loses at most --tolerance on its own validation shoppers; servers following the store reload it.
    Exit status 3: the gate refused (its figures are printed and in OUT/gate.json)."""
    import logging

    from semrec.feedback.influence import InfluenceCaps
    from semrec.store import open_store
    from semrec.training.continual import RetrainSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not database:
        raise fail("--database is required: the store the server writes its events to")
    try:
        influence = InfluenceCaps.off() if not caps else influence_caps(config)
        settings = RetrainSettings(
            epochs=epochs,
            replay=replay,
            lr_scale=lr_scale,
            holdout=holdout,
            tolerance=tolerance,
            influence=influence,
        )
        settings.check()
        period = parse_every(every) if every is not None else None
        store = open_store(database)
    except ValueError as error:
        raise fail(str(error)) from None
    if runs < 0:
        raise fail(f"--runs must be 0 (no end) or more, got {runs}")
    try:
        done = 0
        while True:
            target = out if period is None else out / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            status = _once(store, artifacts, target, settings, since_event, arm, reload)
            done += 1
            if period is None:
                raise typer.Exit(code=status)
            if runs and done >= runs:
                return
            artifacts, since_event = None, None  # from now on: whatever the store serves
            time.sleep(period)
    finally:
        store.close()


def influence_caps(config: Path | None) -> InfluenceCaps:
    """The caps the servers apply: ``SEMREC_INFLUENCE`` (JSON) as the server reads it first, else
    the ``influence`` table of their settings file, else the defaults."""
    import os
    import tomllib

    from pydantic import ValidationError

    from semrec.feedback.influence import InfluenceCaps

    try:
        if os.environ.get("SEMREC_INFLUENCE"):
            return InfluenceCaps.model_validate_json(os.environ["SEMREC_INFLUENCE"])
        if config is None:
            return InfluenceCaps()
        try:
            values = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ValueError(f"cannot read settings file {config}: {error}") from None
        table = values.get("semrec", values).get("influence", {})
        if not isinstance(table, dict):
            raise ValueError(
                f"{config}: influence must be a table (window, shopper_item, ...), got {table!r}"
            )
        return InfluenceCaps(**table)
    except ValidationError as error:
        raise ValueError(f"influence caps: {error}") from None


def _once(
    store: object,
    artifacts: Path | None,
    out: Path,
    settings: object,
    since_event: int | None,
    arm: str,
    reload: bool,
) -> int:
    from semrec.artifacts import load_artifacts
    from semrec.store.protocol import Store, split_reload_key
    from semrec.training.continual import RetrainSettings
    from semrec.training.retrain import retrain as run

    assert isinstance(settings, RetrainSettings)
    live: Store = store  # type: ignore[assignment]
    if artifacts is None:
        last = live.last_reload(arm)
        if last is None:
            raise fail("no --artifacts given and the store names no live model; give --artifacts")
        artifacts = Path(split_reload_key(last.key)[1])
    try:
        verdict = run(artifacts, live, out, settings, since_event)
    except (DatasetError, ValueError) as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        return 2
    (out / "gate.json").write_text(json.dumps(verdict.as_json(), indent=2) + "\n")
    console.print(json.dumps(verdict.as_json()), highlight=False, soft_wrap=True)
    if not verdict.promoted:
        console.print(f"refused: {verdict.reason}; {artifacts} keeps serving", highlight=False)
        return REFUSED
    if reload:
        load_artifacts(out)  # it loads before any server is asked to
        seq = live.log_reload(str(out.resolve()), arm)
        console.print(f"promoted: {out} (reload {seq}; every server following the store loads it)")
    else:
        console.print(f"promoted: {out} (not reloaded: --no-reload)")
    return 0
