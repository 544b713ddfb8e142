-- Per customer: the model's predictions, evaluated once per distinct (frequency, recency, T) and
-- joined back; expected order value from the Gamma-Gamma posterior mean (the population mean for
-- customers without a positive repeat-purchase value); 12-month CLV, its decile and value tier
-- (by quantile boundaries, so equal values share a decile).
with

summary as (
    select * from main.clv_summary
),

predictions as (
    select * from clv_predictions
),

gamma_gamma as (
    select p, q, v from clv_gamma_gamma_parameters
),

valued as (
    select
        summary.customer_id,
        summary.frequency = 0 as is_one_time_buyer,
        case when summary.frequency > 0 then predictions.p_alive end as p_alive,
        predictions.expected_purchases_30d,
        predictions.expected_purchases_90d,
        predictions.expected_purchases_365d,
        case
            when summary.frequency > 0 and summary.monetary > 0 then
                (q - 1) / (p * summary.frequency + q - 1) * (v * p / (q - 1))
                + (p * summary.frequency) / (p * summary.frequency + q - 1) * summary.monetary
            else v * p / (q - 1)
        end as expected_avg_order_value,
        predictions.discounted_purchases_horizon
    from summary
    join predictions using (frequency, recency, T)
    cross join gamma_gamma
),

with_clv as (
    select
        *,
        expected_avg_order_value * discounted_purchases_horizon as clv_12m
    from valued
),

boundaries as (
    select
        quantile_cont(clv_12m, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]) as decile_boundaries,
        quantile_cont(clv_12m, [0.99, 0.95, 0.90, 0.75, 0.50]) as tier_boundaries
    from with_clv
)

select
    customer_id,
    p_alive,
    is_one_time_buyer,
    expected_purchases_30d,
    expected_purchases_90d,
    expected_purchases_365d,
    expected_avg_order_value,
    clv_12m,
    -- decile 1 is the top tenth: count the decile boundaries above the customer's CLV
    1 + (decile_boundaries[1] > clv_12m)::integer + (decile_boundaries[2] > clv_12m)::integer
        + (decile_boundaries[3] > clv_12m)::integer + (decile_boundaries[4] > clv_12m)::integer
        + (decile_boundaries[5] > clv_12m)::integer + (decile_boundaries[6] > clv_12m)::integer
        + (decile_boundaries[7] > clv_12m)::integer + (decile_boundaries[8] > clv_12m)::integer
        + (decile_boundaries[9] > clv_12m)::integer as clv_decile,
    case
        when clv_12m >= tier_boundaries[1] then 'top 1%'
        when clv_12m >= tier_boundaries[2] then 'top 5%'
        when clv_12m >= tier_boundaries[3] then 'top 10%'
        when clv_12m >= tier_boundaries[4] then 'top 25%'
        when clv_12m >= tier_boundaries[5] then 'top 50%'
        else 'rest'
    end as value_tier,
    case when clv_12m is null then 'no finite model prediction for this customer' else 'ok' end as clv_status
from with_clv, boundaries
