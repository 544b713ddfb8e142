-- Repeat purchase days each calibration customer actually made after the calibration cut-off.
with

calibration as (
    select customer_id from clv_calibration_summary
),

holdout_days as (
    select customer_id, count(*) as actual_purchases
    from main.customer_purchase_days
    where is_purchase_day and purchase_date > $cutoff and purchase_date <= $as_of
    group by customer_id
)

select
    calibration.customer_id,
    coalesce(holdout_days.actual_purchases, 0) as actual_purchases
from calibration
left join holdout_days using (customer_id)
