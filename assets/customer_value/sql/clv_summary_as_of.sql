-- The BG/NBD + Gamma-Gamma input per customer on as_of, read off customer_rfm (the same numbers as
-- clv_summary.sql gives at cut-off as_of, without a second pass over the purchase days): frequency =
-- repeat purchase days, recency = first to last purchase, T = first purchase to as_of, in the time
-- unit with day precision (the variable days_per_unit: a view takes no query parameters); monetary
-- = mean net value of the repeat purchase days.
select
    customer_id,
    frequency - 1 as frequency,
    (last_purchase_date - first_purchase_date) / getvariable('days_per_unit') as recency,
    tenure_days / getvariable('days_per_unit') as T,
    repeat_monetary as monetary,
    first_purchase_date
from main.customer_rfm
