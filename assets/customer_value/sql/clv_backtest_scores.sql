-- The classic backtest checks over all calibration customers.
with

compared as (
    select
        predictions.predicted_purchases,
        predictions.p_alive,
        calibration.frequency,
        holdout.actual_purchases
    from clv_calibration_summary as calibration
    join backtest_predictions as predictions using (frequency, recency, T)
    join clv_holdout as holdout using (customer_id)
)

select
    count(*) as customers,
    sum(predicted_purchases) as predicted_purchases,
    sum(actual_purchases) as actual_purchases,
    sum(predicted_purchases) / nullif(sum(actual_purchases), 0) - 1 as total_relative_error,
    avg(abs(predicted_purchases - actual_purchases)) as mean_absolute_error,
    corr(predicted_purchases, actual_purchases) as correlation,
    avg((actual_purchases > 0)::double) filter (where frequency > 0 and p_alive >= 0.5)
        as share_predicted_active_who_bought
from compared
