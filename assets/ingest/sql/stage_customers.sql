-- Type one customers (registration / CX) file: each customer once, attributes kept as text.
with

typed as (
    select
        source_row,
        raw,
        attributes,
        to_text(raw.customer_id) as customer_id,
        to_timestamp(raw.registered_at, $timestamp_format) as registered_at
    from raw_rows
),

checked as (
    select
        *,
        coalesce(
            case when customer_id is null then 'missing customer_id' end,
            unreadable(raw.registered_at, registered_at, 'registered_at', 'unparseable'),
            case when registered_at > $run_started_at then 'registered_at in the future' end,
            case when not $keep_exact_duplicates and source_row in (select source_row from exact_duplicates)
                then 'exact duplicate of an earlier row' end,
            case when row_number() over (partition by customer_id order by source_row) > 1
                then 'duplicate customer_id' end,
            case when customer_id in (select key from existing_keys)
                then 'duplicate customer_id (loaded from another file)' end
        ) as quarantine_reason
    from typed
)

select source_row, quarantine_reason, customer_id, registered_at, attributes
from checked
