-- Each candidate model's holdout scores over all calibration customers: total predicted against actual
-- repeat purchase days, mean absolute and root mean squared error per customer, the correlation of
-- predicted and actual purchases, and the share of repeat buyers predicted active (P(alive) >= 0.5)
-- who bought in the holdout.
with

groups as (
    select * from clv_backtest_groups
),

compared as (
    select
        predictions.model,
        groups.frequency,
        groups.customers,
        groups.actual_purchases as actual,
        predictions.predicted_purchases as predicted,
        predictions.p_alive
    from groups
    join backtest_predictions as predictions using (frequency, recency, T)
),

means as (
    select
        model,
        sum(customers * predicted) / sum(customers) as mean_predicted,
        sum(customers * actual) / sum(customers) as mean_actual
    from compared
    group by model
)

select
    model,
    sum(customers) as customers,
    sum(customers * predicted) as predicted_repeat_purchases,
    sum(customers * actual) as actual_repeat_purchases,
    100 * (sum(customers * predicted) / nullif(sum(customers * actual), 0) - 1) as total_error_pct,
    sum(customers * abs(predicted - actual)) / sum(customers) as mae,
    sqrt(sum(customers * (predicted - actual) ^ 2) / sum(customers)) as rmse,
    sum(customers * (predicted - mean_predicted) * (actual - mean_actual))
        / nullif(sqrt(sum(customers * (predicted - mean_predicted) ^ 2) * sum(customers * (actual - mean_actual) ^ 2)), 0)
        as correlation,
    sum(customers * (actual > 0)::integer) filter (where frequency > 0 and p_alive >= 0.5)
        / nullif(sum(customers) filter (where frequency > 0 and p_alive >= 0.5), 0) as share_predicted_active_who_bought
from compared
join means using (model)
group by model
