"""The experiment report: per arm and list, what was shown and what shoppers did, with 95% intervals,
and each arm against the control with the difference's interval and significance.

Rates are per item shown (an impression): CTR is clicks per impression, conversion purchases per
impression. Each (answer, position) counts once per event type, however often it is sent. The
intervals treat impressions as independent; a shopper who sees many lists makes them correlated, so
read them as a lower bound on the uncertainty.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from semrec.store.experiments import ActionRow, ExposureRow

Z95 = 1.959963984540054
ACTIONS = ("click", "cart", "purchase")


@dataclass
class Counts:
    answers: int = 0
    impressions: int = 0
    actions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))

    def add(self, other: Counts) -> None:
        self.answers += other.answers
        self.impressions += other.impressions
        for kind in ACTIONS:
            self.actions[kind] += other.actions[kind]

    def as_json(self) -> dict[str, Any]:
        clicks, purchases = self.actions["click"], self.actions["purchase"]
        return {
            "answers": self.answers,
            "impressions": self.impressions,
            "clicks": clicks,
            "carts": self.actions["cart"],
            "purchases": purchases,
            "ctr": rate(clicks, self.impressions),
            "ctr_interval": wilson(clicks, self.impressions),
            "conversion": rate(purchases, self.impressions),
            "conversion_interval": wilson(purchases, self.impressions),
        }


def rate(hits: int, trials: int) -> float:
    return hits / trials if trials else 0.0


def wilson(hits: int, trials: int, z: float = Z95) -> list[float]:
    """The Wilson score interval of a proportion (sensible at 0 hits and few trials)."""
    if trials <= 0:
        return [0.0, 1.0]
    p = hits / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return [round(max(0.0, centre - half), 8), round(min(1.0, centre + half), 8)]


def difference(hits_a: int, trials_a: int, hits_b: int, trials_b: int, z: float = Z95) -> dict[str, Any]:
    """Arm b minus arm a: the difference of the rates, its 95% (Wald) interval and the two-sided
    p-value of the pooled two-proportion z-test (1.0 when either arm has no trials)."""
    if trials_a <= 0 or trials_b <= 0:
        return {"difference": 0.0, "interval": [-1.0, 1.0], "p_value": 1.0}
    pa, pb = hits_a / trials_a, hits_b / trials_b
    spread = math.sqrt(pa * (1 - pa) / trials_a + pb * (1 - pb) / trials_b)
    pooled = (hits_a + hits_b) / (trials_a + trials_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    p_value = 1.0 if se == 0 else math.erfc(abs(pb - pa) / se / math.sqrt(2))
    return {
        "difference": pb - pa,
        "interval": [pb - pa - z * spread, pb - pa + z * spread],
        "p_value": p_value,
    }


def experiment_report(
    experiment: str,
    arms: list[dict[str, Any]],
    exposures: Iterable[ExposureRow],
    actions: Iterable[ActionRow],
) -> dict[str, Any]:
    """The report of ``arms`` (dicts with at least "name", in order, the control first) from the
    stored exposure and attributed-event counts."""
    by_list: dict[str, dict[str, Counts]] = defaultdict(lambda: defaultdict(Counts))
    by_model: dict[str, dict[str, Counts]] = defaultdict(lambda: defaultdict(Counts))
    versions: dict[tuple[str, str], str] = {}
    for row in exposures:
        versions[(row.arm, row.model)] = row.model_version
        for table, key in ((by_list, row.list), (by_model, row.model)):
            table[row.arm][key].answers += row.answers
            table[row.arm][key].impressions += row.items
    for action in actions:
        if action.type in ACTIONS:
            by_list[action.arm][action.list].actions[action.type] += action.count
            by_model[action.arm][action.model].actions[action.type] += action.count
    out = []
    totals: dict[str, Counts] = {}
    for arm in arms:
        name = arm["name"]
        total = Counts()
        for counts in by_list[name].values():
            total.add(counts)
        totals[name] = total
        out.append(
            {
                **arm,
                "total": total.as_json(),
                "lists": {key: c.as_json() for key, c in sorted(by_list[name].items())},
                "model_versions": [
                    {"model_version": versions.get((name, key), key), **c.as_json()}
                    for key, c in sorted(by_model[name].items())
                ],
            }
        )
    control = totals[arms[0]["name"]] if arms else Counts()
    for entry in out[1:]:
        mine = totals[entry["name"]]
        entry["versus_control"] = {
            "ctr": difference(
                control.actions["click"], control.impressions, mine.actions["click"], mine.impressions
            ),
            "conversion": difference(
                control.actions["purchase"], control.impressions, mine.actions["purchase"], mine.impressions
            ),
        }
    return {"experiment": experiment, "control": arms[0]["name"] if arms else None, "arms": out}


def metric_rows(
    exposures: Iterable[ExposureRow], actions: Iterable[ActionRow]
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(arm, list, model version, counts) per answer list, for /metrics."""
    counts: dict[tuple[str, str, str], Counts] = defaultdict(Counts)
    versions: dict[tuple[str, str], str] = {}
    for row in exposures:
        versions[(row.arm, row.model)] = row.model_version
        counts[(row.arm, row.list, row.model)].answers += row.answers
        counts[(row.arm, row.list, row.model)].impressions += row.items
    for action in actions:
        if action.type in ACTIONS:
            counts[(action.arm, action.list, action.model)].actions[action.type] += action.count
    return [
        (arm, list_name, versions.get((arm, model), model), c.as_json())
        for (arm, list_name, model), c in sorted(counts.items())
    ]
