-- Each candidate model's holdout scores over all calibration customers: total predicted against actual
-- repeat purchase days, mean absolute and root mean squared error per customer, the correlation of
-- predicted and actual purchases, and the share of repeat buyers predicted active (P(alive) >= 0.5)
-- who bought in the holdout.
-- Float sums in a fixed order: a sum's last bits depend on the order of its terms, which a parallel
-- aggregation leaves to chance, and a re-run must give the same table. The order is total: a model's
-- rows are its calibration groups, one per (frequency, recency, T, actual).
with

compared as (
    select * from clv_backtest_compared
),

means as (
    select
        model,
        sum(customers * predicted order by frequency, recency, T, actual) / sum(customers) as mean_predicted,
        sum(customers * actual order by frequency, recency, T, actual) / sum(customers) as mean_actual
    from compared
    group by model
)

select
    model,
    sum(customers) as customers,
    sum(customers * predicted order by frequency, recency, T, actual) as predicted_repeat_purchases,
    sum(customers * actual order by frequency, recency, T, actual) as actual_repeat_purchases,
    100 * (sum(customers * predicted order by frequency, recency, T, actual) / nullif(sum(customers * actual order by frequency, recency, T, actual), 0) - 1) as total_error_pct,
    sum(customers * abs(predicted - actual) order by frequency, recency, T, actual) / sum(customers) as mae,
    sqrt(sum(customers * (predicted - actual) ^ 2 order by frequency, recency, T, actual) / sum(customers)) as rmse,
    sum(customers * (predicted - mean_predicted) * (actual - mean_actual) order by frequency, recency, T, actual)
        / nullif(sqrt(sum(customers * (predicted - mean_predicted) ^ 2 order by frequency, recency, T, actual) * sum(customers * (actual - mean_actual) ^ 2 order by frequency, recency, T, actual)), 0)
        as correlation,
    sum(customers * (actual > 0)::integer order by frequency, recency, T, actual) filter (where frequency > 0 and p_alive >= 0.5)
        / nullif(sum(customers) filter (where frequency > 0 and p_alive >= 0.5), 0) as share_predicted_active_who_bought
from compared
join means using (model)
group by model
