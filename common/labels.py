"""Words for people: every identifier a chart, the report or the UI shows, the report's sentences, and
how numbers are written. A translation of the report is a copy of this one file."""

from __future__ import annotations

import math
from datetime import date

LABELS: dict[str, str] = {
    # lifecycle stages
    "prospect_active": "Active prospects",
    "prospect_inactive": "Inactive prospects",
    "new": "New customers",
    "active": "Active customers",
    "vip": "VIP customers",
    "at_risk": "At-risk customers",
    "reactivated": "Reactivated customers",
    "lapsed": "Lapsed customers",
    "(not yet a customer)": "Not yet a customer",
    # next best actions
    "first_purchase_offer": "First-purchase offer",
    "prospect_nurture": "Prospect newsletter",
    "welcome_series": "Welcome series",
    "second_purchase_nudge": "Second-purchase nudge",
    "cross_sell": "Cross-sell offer",
    "loyalty_invite": "Loyalty programme invite",
    "welcome_back": "Welcome back",
    "vip_care_referral_ask": "VIP care and referral ask",
    "retention_offer": "Retention offer",
    "reminder_email": "Reminder e-mail",
    "win_back_offer": "Win-back offer",
    "win_back_email": "Win-back e-mail",
    "stop_spending": "Stop paid contact",
    "repurchase_reminder": "Repurchase reminder",
    "keep_chain_going": "Keep the chain going",
    "no_contact": "No contact",
    # new versus established measures
    "share_bought_in_window": "Share who bought in the window",
    "share_bought_last_30_days": "Share who bought in the last 30 days",
    "purchase_days_per_buyer": "Purchase days per buyer",
    "share_repeat_buyers": "Share of repeat buyers",
    "avg_order_value": "Average order value",
    "spend_per_buyer": "Spend per buyer",
    "categories_per_buyer": "Categories per buyer",
    "share_multi_category_buyers": "Share buying in several categories",
    "share_lines_discounted": "Share of lines discounted",
    "share_buyers_using_discounts": "Share of buyers using discounts",
    # chain breaker dimensions and values
    "category": "Category",
    "product": "Product",
    "channel": "Channel",
    "discount": "Discount",
    "discounted": "Discounted",
    "full price": "Full price",
    # models
    "bg_nbd": "BG/NBD",
    "pareto_nbd": "Pareto/NBD",
    "mbg_nbd": "MBG/NBD",
    "gamma_gamma": "Gamma-Gamma",
    # run_history figures
    "customers": "Customers",
    "active_customers_30d": "Customers who bought in the last 30 days",
    "revenue_30d": "Revenue in the last 30 days",
    "total_clv_12m": "12-month customer lifetime value",
    "value_tier": "Value tier",
    "clv_12m": "12-month CLV",
}

# The report: section titles, table headings, and the one-sentence takeaways ({name}: a value
# already written for people by the functions below).
TEXT: dict[str, str] = {
    "as_of": "as of {date}",
    "generated": "Built {when} by run {run_id} from the warehouse of the night of {date}.",
    "section.headline": "The night in figures",
    "section.actions": "What to do today",
    "section.flow": "Lifecycle flow",
    "section.cohorts": "Cohort retention",
    "section.new_vs_established": "New versus established customers",
    "section.concentration": "Revenue and value concentration",
    "section.segments": "Survey segments",
    "section.chains": "7-day repeat-purchase chains",
    "section.trust": "Can these numbers be trusted?",
    "no_data": "No data",
    "previous_night": "the previous night ({date})",
    "since_previous": "{change} since the previous night ({date})",
    "since_month": "{change} since a month ago ({date})",
    "no_previous": "no earlier night on record",
    "no_month": "no run a month earlier on record",
    "column.stage": "Stage",
    "column.customers": "Customers",
    "column.since_previous": "Since the previous night ({date})",
    "column.since_month": "Since a month ago ({date})",
    "column.since_previous.none": "Since the previous night",
    "column.since_month.none": "Since a month ago",
    "column.action": "Action",
    "column.due_today": "Due today",
    "column.expected_value": "Expected value",
    "column.customer_id": "Customer",
    "column.contact_on": "Contact on",
    "column.reason": "Reason",
    "column.survey_segment": "Survey segment",
    "column.segment": "Segment",
    "column.respondents": "Respondents",
    "column.share": "Share",
    "column.drivers": "What drives them",
    "column.return_rate": "Returned",
    "column.repeat_rate": "Repeat buyers",
    "column.avg_order_value": "Average order",
    "column.mean_clv_12m": "Mean 12-month CLV",
    "column.what": "What",
    "column.name": "Name",
    "column.category": "Category",
    "column.purchase_days": "Purchase days",
    "column.end_rate": "Chain ended",
    "column.lift": "Lift",
    "column.kind": "Effect",
    "column.source": "Source",
    "column.rows_read": "Rows read",
    "column.rows_loaded": "Loaded",
    "column.rows_quarantined": "Quarantined",
    "column.table": "Table",
    "column.reason_quarantined": "Reason",
    "column.rows": "Rows",
    "column.check": "Check",
    "column.result": "Result",
    "breaker": "ends chains",
    "keeper": "keeps chains going",
    "check.passed": "passed",
    "check.failed": "FAILED",
    "top_customers": "Top {n} customers by expected value for {action}",
    "lists.all": "One list per action, for a CRM or e-mail tool: {folder}",
    "data_dictionary": "What every table and column means: the data dictionary",
    "data_dictionary.missing": "No data dictionary was published with this night.",
    "model.selection": "Production model: {model} ({reason}); holdout error {error} on {actual} repeat purchases, mean absolute error {mae} per customer. Other candidates: {others}.",
    "model.selection.alone": "Production model: {model} ({reason}); holdout error {error} on {actual} repeat purchases, mean absolute error {mae} per customer.",
    "model.backtest": "Production model: {model}, the only model fitted (no model scorecard: the table clv_model_selection is not in this warehouse); its backtest predicted {predicted} repeat purchases in the holdout against {actual} actual ({error}).",
    "model.unavailable": "No CLV model in production: {status}. Stages and actions fall back to recency and spend.",
    "report.archive": "Every night's report is kept under report/<as of>.html beside this page.",
    # takeaways
    "headline.no_data": "No customer or prospect on {date}: the purchases hold nobody to report on.",
    "headline.first": "First night on record: {customers} customers and {prospects} prospects; changes since the previous night show from the next run on.",
    "headline.same": "No stage changed since {before}: {customers} customers and {prospects} prospects.",
    "headline.change": "{stage} {grew_or_fell} by {change} since {before}, from {was} to {now}, the largest move of any stage; {active} customers bought in the last 30 days.",
    "grew": "grew",
    "fell": "fell",
    "actions.no_data": "Nobody to act on: next_best_action is empty.",
    "actions.none_due": "Nobody is due for contact today; {customers} customers and prospects have an action planned.",
    "actions.takeaway": "Contact {due} customers and prospects today; {action} carries the most expected value: {value} across {customers} customers.",
    "flow.no_data": "No month-to-month movement yet: transitions need two month ends in the history.",
    "flow.takeaway": "In the month to {date}, {first_time} first-time buyers joined; the largest move: {moved} {from_stage} became {to_stage} ({rate} of them); {worsened} customers slid to at risk or lapsed.",
    "cohorts.no_data": "No cohort is a month old yet: retention shows once a first-purchase month has a following month.",
    "cohorts.single": "{rate} of the customers who first bought in {month} bought again the month after.",
    "cohorts.takeaway": "{recent} of the last three cohorts bought again in their second month, {direction} {earlier} for the three before.",
    "up_from": "up from",
    "down_from": "down from",
    "same_as": "the same as",
    "new_vs_established.no_data": "No new or established buyer to compare: {reason}.",
    "new_vs_established.alike": "New and established customers behave alike: every measure is within 5% of the other group's.",
    "new_vs_established.takeaway": "The largest difference: new customers' {measure} is {change} {higher_or_lower} than established customers'.",
    "higher": "higher",
    "lower": "lower",
    "new_vs_established.note": "Activity measures (who bought in the window or the last 30 days) are left out: new customers bought recently by definition.",
    "concentration.no_data": "No revenue up to {date}: nothing to concentrate.",
    "concentration.takeaway": "The top 20% of customers bring {share} of revenue (Gini {gini}); 12-month customer lifetime value totals {clv}.",
    "segments.no_data": "No survey segments: {reason}.",
    "segments.no_survey": "no survey source is configured",
    "segments.unlinked": "{segments} segments from {respondents} respondents; none of them is linked to a buying customer, so how each behaves is unknown.",
    "segments.takeaway": "{segments} segments from {respondents} respondents: {returns} returns most ({return_rate} of spend) and {valuable} is worth most ({clv} mean 12-month CLV).",
    "chains.no_data": "No month of purchases can be judged yet: a purchase continued its chain or not only {window} days later.",
    "chains.takeaway": "{rate} of purchases were followed by another within {window} days in {month}, {direction} {earlier} three months before; {breaker} ends chains most, {keeper} keeps them going best.",
    "chains.no_trend": "{rate} of purchases were followed by another within {window} days; {breaker} ends chains most, {keeper} keeps them going best.",
    "chains.none": "nothing stands out",
    "trust.no_data": "No input rows were read.",
    "trust.takeaway": "All {read} rows read are accounted for: {loaded} loaded and {quarantined} quarantined{reason}; {checks}.",
    "trust.mismatch": "{read} rows were read but {loaded} loaded and {quarantined} quarantined do not add up to them; {checks}.",
    "trust.reason": " (mostly {reason}: {rows})",
    "trust.checks": "{passed} of {total} data checks passed",
    "trust.checks_failed": "{failed} of {total} data checks FAILED: {names}",
    "trust.no_checks": "no data check ran in this run",
    # charts
    "chart.stage_sizes": "Customers by lifecycle stage at each month end",
    "chart.transitions": "Where customers moved in the month to {date}",
    "chart.transitions.x": "stage at {date}",
    "chart.transitions.y": "stage a month earlier",
    "chart.pareto": "Revenue concentration",
    "chart.pareto.x": "top customers by revenue (%)",
    "chart.pareto.y": "share of revenue (%)",
    "chart.pareto.note": "top 20% of customers:\n{share} of revenue",
    "chart.cohorts": "Share of each first-purchase cohort buying again",
    "chart.cohorts.x": "months since the first purchase",
    "chart.cohorts.y": "first-purchase month",
    "chart.cohorts.scale": "share of the cohort buying",
    "chart.new_vs_established": "New compared with established customers, last {days} days",
    "chart.new_vs_established.x": "new ÷ established (1 = the same)",
    "chart.actions": "Next best action: customers and expected value",
    "chart.actions.x": "customers",
    "chart.chain_lengths": "Repeat-purchase chains by length",
    "chart.chain_lengths.x": "purchase days in the chain",
    "chart.chain_lengths.y": "chains",
    "chart.breakers": "Chain breakers and keepers",
    "chart.breakers.x": "chance the chain ends, relative to all purchases (1 = average)",
    "chart.breakers.none": "no product, category, channel or discount stands out",
    "chart.continuation": "Purchases followed by another within {window} days, by month of purchase",
    "chart.continuation.y": "continued (%)",
    "chart.clv": "Customers by 12-month lifetime value",
    "chart.clv.x": "12-month CLV ({currency})",
    "chart.clv.y": "customers",
    "chart.clv.none": "no CLV: the model could not be fitted",
    "chart.no_data": "no data",
}

CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "JPY": "¥", "INR": "₹", "CNY": "¥"}


def label(identifier: str | None) -> str:
    """The readable words for an identifier; an unknown one reads as itself, spaced and capitalised."""
    if identifier is None:
        return ""
    known = LABELS.get(identifier)
    if known:
        return known
    words = str(identifier).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def in_sentence(words: str) -> str:
    """A label inside a sentence: lower-case first letter, unless it starts with an acronym (VIP, BG/NBD)."""
    first = words.split(" ", 1)[0]
    return words if first.isupper() or "/" in first else words[:1].lower() + words[1:]


def text(key: str, **values) -> str:
    return TEXT[key].format(**values)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def count(value) -> str:
    return "–" if _missing(value) else f"{round(float(value)):,}"


def money(value, currency: str, decimals: int = 0) -> str:
    if _missing(value):
        return "–"
    value = float(value)
    symbol = CURRENCY_SYMBOLS.get(currency.upper(), currency + " ")
    sign = "−" if value < 0 else ""
    return f"{sign}{symbol}{abs(value):,.{decimals}f}"


def percent(share, decimals: int = 1) -> str:
    """A share (0.25) as a percentage (25.0%)."""
    return "–" if _missing(share) else f"{100 * float(share):.{decimals}f}%"


def signed_percent(share, decimals: int = 1) -> str:
    """A relative change (0.04) with its sign (+4.0%)."""
    if _missing(share):
        return "–"
    return f"{'+' if share > 0 else '−' if share < 0 else '±'}{100 * abs(float(share)):.{decimals}f}%"


def signed_count(value) -> str:
    if _missing(value):
        return "–"
    value = round(float(value))
    return f"{'+' if value > 0 else '−' if value < 0 else '±'}{abs(value):,}"


def day(value: date | None) -> str:
    return "–" if value is None else f"{value.day} {value:%b %Y}"


def month(value: date | None) -> str:
    return "–" if value is None else f"{value:%b %Y}"
