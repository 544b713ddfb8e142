-- Predicted against actual repeat purchases in the holdout per candidate model and calibration
-- frequency (0..6, 7+): the classic calibration plot's points.
with

compared as (
    select *, least(frequency, 7) as frequency_order from clv_backtest_compared
)

-- Float sums in a fixed order: a sum's last bits depend on the order of its terms, which a parallel
-- aggregation leaves to chance, and a re-run must give the same table. The order is total: a model's
-- rows are its calibration groups, one per (frequency, recency, T, actual).
select
    model,
    case when frequency_order = 7 then '7+' else frequency_order::varchar end as calibration_frequency,
    sum(customers) as customers,
    sum(customers * predicted order by frequency, recency, T, actual) as predicted_purchases,
    sum(customers * actual order by frequency, recency, T, actual) as actual_purchases,
    sum(customers * predicted order by frequency, recency, T, actual) / sum(customers) as mean_predicted,
    sum(customers * actual order by frequency, recency, T, actual) / sum(customers) as mean_actual
from compared
group by model, frequency_order
order by model, frequency_order
