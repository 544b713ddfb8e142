-- The BG/NBD + Gamma-Gamma input per customer on as_of, read off customer_rfm (the same numbers as
-- clv_summary.sql gives at cut-off as_of, without a second pass over the purchase days): frequency =
-- repeat purchase days, recency = first to last purchase, T = first purchase to as_of, in the time
-- unit ({days_per_unit} days) with day precision; monetary = mean net value of the repeat purchase days.
select
    customer_id,
    frequency - 1 as frequency,
    (last_purchase_date - first_purchase_date) / {days_per_unit} as recency,
    tenure_days / {days_per_unit} as T,
    repeat_monetary as monetary,
    first_purchase_date
from main.customer_rfm
