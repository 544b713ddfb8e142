-- The backtest's calibration customers grouped by their model input and the repeat purchase days they
-- actually made in the holdout (after the cut-off, up to as_of): every score is a weighted sum over
-- these groups, so the candidates' predictions join a few hundred thousand rows, not every customer.
with

calibration as (
    select customer_id, frequency, recency, T from clv_calibration_summary
),

holdout_purchases as (
    select customer_id, count(*) as actual_purchases
    from main.customer_purchase_days
    where is_purchase_day and purchase_date > $cutoff and purchase_date <= $as_of
    group by customer_id
)

select
    calibration.frequency,
    calibration.recency,
    calibration.T,
    coalesce(holdout_purchases.actual_purchases, 0) as actual_purchases,
    count(*) as customers
from calibration
left join holdout_purchases using (customer_id)
group by all
