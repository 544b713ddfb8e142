-- Type one customers (registration / CX) file: each customer once, attributes kept as text.
with

typed as (
    select
        source_row,
        raw,
        attributes,
        to_text(raw.customer_id) as customer_id,
        to_local_timestamp(raw.registered_at, $timestamp_format) as registered_at
    from raw_rows
),

checked as (
    select
        *,
        coalesce(
            missing(customer_id, 'customer_id'),
            unreadable_timestamp(raw.registered_at, registered_at, 'registered_at', $run_started_at),
            repeated_row(source_row, $keep_exact_duplicates, customer_id, 'customer_id')
        ) as quarantine_reason
    from typed
)

select source_row, quarantine_reason, customer_id, registered_at, attributes
from checked
