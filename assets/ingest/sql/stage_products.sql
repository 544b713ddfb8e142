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
            missing(product_id, 'product_id'),
            missing(category, 'category'),
            repeated_row(source_row, $keep_exact_duplicates, product_id, 'product_id')
        ) as quarantine_reason
    from typed
)

select source_row, quarantine_reason, product_id, category, product_name
from checked
