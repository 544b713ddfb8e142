-- Type one digital-events file; event types are kept as the retailer names them.
with

typed as (
    select
        source_row,
        raw,
        to_text(raw.customer_id) as customer_id,
        lower(to_text(raw.event_type)) as event_type,
        to_local_timestamp(raw.event_ts, $timestamp_format) as event_ts
    from raw_rows
),

checked as (
    select
        *,
        coalesce(
            missing(customer_id, 'customer_id'),
            missing(event_type, 'event_type'),
            required_timestamp(raw.event_ts, event_ts, 'event_ts', $run_started_at),
            exact_duplicate(source_row, $keep_exact_duplicates)
        ) as quarantine_reason
    from typed
)

select source_row, quarantine_reason, customer_id, event_type, event_ts
from checked
