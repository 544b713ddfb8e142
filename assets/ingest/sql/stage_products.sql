-- Type one products file: each product once, with its category.
with

typed as (
    select
        source_row,
        raw,
        to_text(raw.product_id) as product_id,
        to_text(raw.category) as category,
        to_text(raw.product_name) as product_name
    from raw_rows
),

checked as (
    select
        *,
        coalesce(
            case when product_id is null then 'missing product_id' end,
            case when category is null then 'missing category' end,
            case when not $keep_exact_duplicates and source_row in (select source_row from exact_duplicates)
                then 'exact duplicate of an earlier row' end,
            case when row_number() over (partition by product_id order by source_row) > 1
                then 'duplicate product_id' end,
            case when product_id in (select key from existing_keys)
                then 'duplicate product_id (loaded from another file)' end
        ) as quarantine_reason
    from typed
)

select source_row, quarantine_reason, product_id, category, product_name
from checked
