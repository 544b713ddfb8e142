-- Type one digital-events file; event types are kept as the retailer names them.
with

typed as (
    select
        source_row,
        raw,
        to_text(raw.customer_id) as customer_id,
        lower(to_text(raw.event_type)) as event_type,
        to_timestamp(raw.event_ts, $timestamp_format) as event_ts
    from raw_rows
),

checked as (
    select
        *,
        coalesce(
            case when customer_id is null then 'missing customer_id' end,
            case when event_type is null then 'missing event_type' end,
            case when is_blank(raw.event_ts) then 'missing event_ts' end,
            unreadable(raw.event_ts, event_ts, 'event_ts', 'unparseable'),
            case when event_ts > $run_started_at then 'event_ts in the future' end,
            case when not $keep_exact_duplicates and source_row in (select source_row from exact_duplicates)
                then 'exact duplicate of an earlier row' end
        ) as quarantine_reason
    from typed
)

select source_row, quarantine_reason, customer_id, event_type, event_ts
from checked
