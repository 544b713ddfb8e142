-- The one row every analytics stage reads its as-of date from: the configured date, or else the
-- latest purchase. Rows after it stay loaded but are ignored, which is what makes backtests possible.
with

purchase_dates as (
    select
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from main.purchases
    where not is_non_product
)

select
    coalesce($as_of, last_order_date) as as_of,
    first_order_date,
    last_order_date,
    $time_unit as time_unit
from purchase_dates
