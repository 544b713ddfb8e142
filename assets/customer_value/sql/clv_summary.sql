-- The BG/NBD + Gamma-Gamma input per customer at a cut-off date, in the configured time unit with
-- day precision: frequency = repeat purchase days, recency = first to last purchase, T = first
-- purchase to cut-off, monetary = mean net value of the repeat purchase days (all days but the first).
with

purchase_days as (
    select customer_id, purchase_date, net_amount
    from main.customer_purchase_days
    where is_purchase_day and purchase_date <= $cutoff
),

per_customer as (
    select
        customer_id,
        count(*) - 1 as frequency,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        (sum(net_amount) - arg_min(net_amount, purchase_date)) / nullif(count(*) - 1, 0) as monetary
    from purchase_days
    group by customer_id
)

select
    customer_id,
    frequency,
    (last_purchase_date - first_purchase_date) / $days_per_unit as recency,
    ($cutoff - first_purchase_date) / $days_per_unit as T,
    monetary,
    first_purchase_date
from per_customer
