-- Type one service-score file: NPS (0-10), CSI (touchpoint rating) and CES, any of them present.
with

typed as (
    select
        source_row,
        raw,
        to_text(raw.customer_id) as customer_id,
        to_number(raw.nps) as nps,
        to_number(raw.csi) as csi,
        to_number(raw.ces) as ces,
        to_timestamp(raw.score_ts, $timestamp_format) as score_ts
    from raw_rows
),

checked as (
    select
        *,
        coalesce(
            case when customer_id is null then 'missing customer_id' end,
            case when is_blank(raw.score_ts) then 'missing score_ts' end,
            unreadable(raw.score_ts, score_ts, 'score_ts', 'unparseable'),
            case when score_ts > $run_started_at then 'score_ts in the future' end,
            unreadable(raw.nps, nps, 'nps', 'non-numeric'),
            unreadable(raw.csi, csi, 'csi', 'non-numeric'),
            unreadable(raw.ces, ces, 'ces', 'non-numeric'),
            case when nps not between 0 and 10 then 'nps outside 0-10' end,
            case when coalesce(nps, csi, ces) is null then 'no score (nps, csi and ces all empty)' end,
            case when not $keep_exact_duplicates and source_row in (select source_row from exact_duplicates)
                then 'exact duplicate of an earlier row' end
        ) as quarantine_reason
    from typed
)

select source_row, quarantine_reason, customer_id, nps, csi, ces, cast(score_ts as date) as score_date, score_ts
from checked
