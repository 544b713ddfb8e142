-- Type one service-score file: NPS (0-10), CSI (touchpoint rating) and CES, any of them present.
with

typed as (
    select
        source_row,
        raw,
        to_text(raw.customer_id) as customer_id,
        to_measure(raw.nps) as nps,
        to_measure(raw.csi) as csi,
        to_measure(raw.ces) as ces,
        to_local_timestamp(raw.score_ts, $timestamp_format) as score_ts
    from raw_rows
),

checked as (
    select
        *,
        coalesce(
            missing(customer_id, 'customer_id'),
            required_timestamp(raw.score_ts, score_ts, 'score_ts', $run_started_at),
            unreadable_number(raw.nps, nps, 'nps'),
            unreadable_number(raw.csi, csi, 'csi'),
            unreadable_number(raw.ces, ces, 'ces'),
            case when nps not between 0 and 10 then 'nps outside 0-10' end,
            case when coalesce(nps, csi, ces) is null then 'no score (nps, csi and ces all empty)' end,
            exact_duplicate(source_row, $keep_exact_duplicates)
        ) as quarantine_reason
    from typed
)

select source_row, quarantine_reason, customer_id, nps, csi, ces, cast(score_ts as date) as score_date, score_ts
from checked
