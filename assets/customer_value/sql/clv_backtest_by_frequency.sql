-- Predicted against actual repeat purchases in the holdout, by calibration frequency (0..6, 7+).
with

calibration as (
    select * from clv_calibration_summary
),

compared as (
    select
        calibration.customer_id,
        case when calibration.frequency >= 7 then '7+' else calibration.frequency::varchar end as calibration_frequency,
        least(calibration.frequency, 7) as frequency_order,
        predictions.predicted_purchases,
        holdout.actual_purchases
    from calibration
    join backtest_predictions as predictions using (frequency, recency, T)
    join clv_holdout as holdout using (customer_id)
)

-- Predictions are summed in customer order: a float sum's last bits depend on the order of its
-- terms, which a parallel aggregation leaves to chance, and a re-run must give the same table.
select
    calibration_frequency,
    count(*) as customers,
    sum(predicted_purchases order by customer_id) as predicted_purchases,
    sum(actual_purchases) as actual_purchases,
    avg(predicted_purchases order by customer_id) as mean_predicted,
    avg(actual_purchases) as mean_actual
from compared
group by calibration_frequency, frequency_order
order by frequency_order
