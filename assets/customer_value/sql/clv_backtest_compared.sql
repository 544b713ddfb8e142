-- Each candidate model's predicted holdout purchases beside the actual ones, per calibration group
-- (frequency, recency, T) with its customer count: what the scorecard and the calibration-by-frequency
-- table both sum over.
select
    predictions.model,
    frequency,
    recency,
    T,
    groups.customers,
    groups.actual_purchases as actual,
    predictions.predicted_purchases as predicted,
    predictions.p_alive
from clv_backtest_groups as groups
join backtest_predictions as predictions using (frequency, recency, T)
