"""The one sentence at the top of each report section, computed from the section's data. Each says
what grew, fell or held, and a section without data says why instead of disappearing."""

from __future__ import annotations

import math

import pandas as pd

from common.labels import count, day, in_sentence, label, money, month, percent, text

STAGES = ["new", "active", "vip", "at_risk", "reactivated", "lapsed", "prospect_active", "prospect_inactive"]
# Actions that deliberately contact nobody: left out of "contact today".
NO_CONTACT_ACTIONS = frozenset({"no_contact", "stop_spending"})
# Retention, continuation and similar shares closer than this are "the same".
SAME_SHARE = 0.005


def stage_counts(row: dict) -> dict[str, int]:
    return {stage: int(row.get(f"customers_{stage}") or 0) for stage in STAGES}


def headline(now: dict, before: dict | None, before_label: str | None) -> str:
    """The stage that moved most since the previous night, or why nothing can be compared."""
    stages = stage_counts(now)
    customers = int(now.get("customers") or 0)
    prospects = stages["prospect_active"] + stages["prospect_inactive"]
    if customers + prospects == 0:
        return text("headline.no_data", date=day(now.get("as_of")))
    if before is None:
        return text("headline.first", customers=count(customers), prospects=count(prospects))
    was = stage_counts(before)
    changes = {stage: stages[stage] - was[stage] for stage in STAGES}
    relative = {stage: changes[stage] / was[stage] if was[stage] else math.inf for stage in STAGES}
    # the most customers moved; between equal moves, the larger share of the stage
    stage = max(STAGES, key=lambda name: (abs(changes[name]), abs(relative[name])))
    if changes[stage] == 0:
        return text("headline.same", before=before_label, customers=count(customers), prospects=count(prospects))
    return text(
        "headline.change",
        stage=label(stage),
        grew_or_fell=text("grew") if changes[stage] > 0 else text("fell"),
        change=percent(abs(relative[stage])) if math.isfinite(relative[stage]) else count(abs(changes[stage])),
        before=before_label,
        was=count(was[stage]),
        now=count(stages[stage]),
        active=count(now.get("active_customers_30d")),
    )


def actions(per_action: pd.DataFrame, currency: str) -> str:
    """How many to contact today, and which action carries the most expected value.
    `per_action`: action, customers, due_today, expected_value."""
    if per_action.empty:
        return text("actions.no_data")
    contact = per_action[~per_action["action"].isin(NO_CONTACT_ACTIONS)]
    due = int(contact["due_today"].sum())
    if due == 0:
        return text("actions.none_due", customers=count(per_action["customers"].sum()))
    top = contact.sort_values(["expected_value", "customers"], ascending=False).iloc[0]
    return text(
        "actions.takeaway",
        due=count(due),
        action=label(top["action"]),
        value=money(top["expected_value"], currency),
        customers=count(top["customers"]),
    )


def flow(transitions: pd.DataFrame) -> str:
    """Last month's movement: first-time buyers, the largest move between stages, and how many
    slid to at risk or lapsed. `transitions`: snapshot_date, from_stage, to_stage, customers, rate."""
    if transitions.empty:
        return text("flow.no_data")
    first_time = transitions.loc[transitions["from_stage"] == "(not yet a customer)", "customers"].sum()
    moves = transitions[(transitions["from_stage"] != transitions["to_stage"])
                        & (transitions["from_stage"] != "(not yet a customer)")]
    worsened = moves.loc[moves["to_stage"].isin(["at_risk", "lapsed"]), "customers"].sum()
    if moves.empty:
        return text("flow.no_data")
    largest = moves.sort_values(["customers", "from_stage", "to_stage"], ascending=[False, True, True]).iloc[0]
    return text(
        "flow.takeaway",
        date=day(transitions["snapshot_date"].max()),
        first_time=count(first_time),
        moved=count(largest["customers"]),
        from_stage=in_sentence(label(largest["from_stage"])),
        to_stage=in_sentence(label(largest["to_stage"])),
        rate=percent(largest["rate"]),
        worsened=count(worsened),
    )


def direction(now: float, earlier: float) -> str:
    if abs(now - earlier) < SAME_SHARE:
        return text("same_as")
    return text("up_from") if now > earlier else text("down_from")


def cohorts(month_one: pd.DataFrame) -> str:
    """Second-month retention of the last three cohorts against the three before.
    `month_one`: cohort_month, retention_rate for months_since_first_purchase = 1, oldest first."""
    if month_one.empty:
        return text("cohorts.no_data")
    if len(month_one) < 6:
        last = month_one.iloc[-1]
        return text("cohorts.single", rate=percent(last["retention_rate"]), month=month(last["cohort_month"]))
    recent = month_one["retention_rate"].iloc[-3:].mean()
    earlier = month_one["retention_rate"].iloc[-6:-3].mean()
    return text(
        "cohorts.takeaway", recent=percent(recent), earlier=percent(earlier), direction=direction(recent, earlier)
    )


def new_vs_established(ratios: pd.DataFrame, reason: str) -> str:
    """The measure on which new customers differ most from established ones.
    `ratios`: measure, ratio (new ÷ established), without the measures true by definition."""
    usable = ratios[ratios["ratio"].notna() & (ratios["ratio"] > 0)] if not ratios.empty else ratios
    if usable.empty:
        return text("new_vs_established.no_data", reason=reason)
    distance = usable["ratio"].map(lambda ratio: abs(math.log(ratio)))
    largest = usable.loc[distance.idxmax()]
    if abs(largest["ratio"] - 1) < 0.05:
        return text("new_vs_established.alike")
    return text(
        "new_vs_established.takeaway",
        measure=label(largest["measure"]).lower(),
        change=percent(abs(largest["ratio"] - 1), 0),
        higher_or_lower=text("higher") if largest["ratio"] > 1 else text("lower"),
    )


def concentration(top_20_share, gini, total_clv, currency: str, as_of) -> str:
    if top_20_share is None or pd.isna(top_20_share):
        return text("concentration.no_data", date=day(as_of))
    return text(
        "concentration.takeaway",
        share=percent(top_20_share),
        gini=f"{gini:.2f}" if gini is not None and pd.notna(gini) else "–",
        clv=money(total_clv, currency),
    )


def segments(profiles: pd.DataFrame, reason: str, currency: str) -> str:
    """Which segment returns most and which is worth most. `profiles`: segment_name, respondents,
    return_rate, mean_clv_12m (null where no respondent of the segment is a buying customer)."""
    if profiles.empty:
        return text("segments.no_data", reason=reason)
    respondents = count(profiles["respondents"].sum())
    behaving = profiles[profiles["return_rate"].notna()]
    if behaving.empty:
        return text("segments.unlinked", segments=len(profiles), respondents=respondents)
    returns = behaving.sort_values(["return_rate", "segment_name"], ascending=[False, True]).iloc[0]
    valued = behaving[behaving["mean_clv_12m"].notna()]
    valuable = valued.sort_values(["mean_clv_12m", "segment_name"], ascending=[False, True]).iloc[0] if not valued.empty else None
    return text(
        "segments.takeaway",
        segments=len(profiles),
        respondents=respondents,
        returns=f"“{returns['segment_name']}”",
        return_rate=percent(returns["return_rate"]),
        valuable=f"“{valuable['segment_name']}”" if valuable is not None else "–",
        clv=money(valuable["mean_clv_12m"], currency) if valuable is not None else "–",
    )


def chains(rates: pd.DataFrame, breaker: str | None, keeper: str | None, window_days: int) -> str:
    """The latest month's continuation rate against three months before, with the strongest
    breaker and keeper. `rates`: month, continuation_rate, oldest first."""
    if rates.empty:
        return text("chains.no_data", window=window_days)
    last = rates.iloc[-1]
    names = {"breaker": breaker or text("chains.none"), "keeper": keeper or text("chains.none")}
    if len(rates) < 4:
        return text("chains.no_trend", rate=percent(last["continuation_rate"]), window=window_days, **names)
    earlier = rates.iloc[-4]["continuation_rate"]
    return text(
        "chains.takeaway",
        rate=percent(last["continuation_rate"]),
        window=window_days,
        month=month(last["month"]),
        direction=direction(last["continuation_rate"], earlier),
        earlier=percent(earlier),
        **names,
    )


def trust(rows_read: int, rows_loaded: int, rows_quarantined: int, reasons: pd.DataFrame, checks: pd.DataFrame) -> str:
    """Whether every input row is accounted for, the main quarantine reason, and the checks.
    `reasons`: reason, rows (largest first); `checks`: check_name, passed."""
    if not rows_read:
        return text("trust.no_data")
    if checks.empty:
        checked = text("trust.no_checks")
    elif checks["passed"].all():
        checked = text("trust.checks", passed=count(len(checks)), total=count(len(checks)))
    else:
        failed = checks.loc[~checks["passed"], "check_name"]
        checked = text("trust.checks_failed", failed=count(len(failed)), total=count(len(checks)), names=", ".join(failed))
    numbers = {"read": count(rows_read), "loaded": count(rows_loaded), "quarantined": count(rows_quarantined), "checks": checked}
    if rows_loaded + rows_quarantined != rows_read:
        return text("trust.mismatch", **numbers)
    reason = text("trust.reason", reason=reasons.iloc[0]["reason"], rows=count(reasons.iloc[0]["rows"])) if not reasons.empty and rows_quarantined else ""
    return text("trust.takeaway", reason=reason, **numbers)
