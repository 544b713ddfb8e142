-- Per customer: the model's predictions. Expected purchases are those of a living customer, computed
-- once per distinct (frequency, T), times P(alive), which is the only recency-dependent part of
-- BG/NBD (Fader, Hardie & Lee 2005, eq. 10 and P(alive) below it): P(alive) = 1 / (1 + a/(b+x-1)
-- ((alpha+T)/(alpha+t_x))^(r+x)) for repeat buyers, 1 for one-time buyers (reported as null).
-- Expected order value from the Gamma-Gamma posterior mean (the population mean for customers
-- without a positive repeat-purchase value); 12-month CLV, its decile and value tier (by quantile
-- boundaries, so equal values share a decile).
with

summary as (
    select * from clv_summary
),

if_alive as (
    select * from clv_predictions_if_alive
),

parameters as (
    select r, alpha, a, b, p, q, v from clv_parameters
),

alive as (
    select
        summary.*,
        case
            when summary.frequency > 0 then 1 / (1 + exp(least(700,
                ln(a / (b + summary.frequency - 1))
                + (r + summary.frequency) * ln((alpha + summary.T) / (alpha + summary.recency))
            )))
            else 1
        end as alive_probability
    from summary
    cross join parameters
),

valued as (
    select
        alive.customer_id,
        alive.frequency = 0 as is_one_time_buyer,
        case when alive.frequency > 0 then alive_probability end as p_alive,
        if_alive.purchases_if_alive_30d * alive_probability as expected_purchases_30d,
        if_alive.purchases_if_alive_90d * alive_probability as expected_purchases_90d,
        if_alive.purchases_if_alive_365d * alive_probability as expected_purchases_365d,
        case
            when alive.frequency > 0 and alive.monetary > 0 then
                (q - 1) / (p * alive.frequency + q - 1) * (v * p / (q - 1))
                + (p * alive.frequency) / (p * alive.frequency + q - 1) * alive.monetary
            else v * p / (q - 1)
        end as expected_avg_order_value,
        if_alive.discounted_purchases_if_alive * alive_probability as discounted_purchases_horizon
    from alive
    join if_alive using (frequency, T)
    cross join parameters
),

with_clv as (
    select
        *,
        expected_avg_order_value * discounted_purchases_horizon as clv_12m
    from valued
),

-- one sort of the CLVs for both: the top-1% and top-5% cuts, then the nine decile cuts, which
-- include the top-10% and top-50% ones; the top-25% cut sits between the 70% and 80% quantiles
quantiles as (
    select quantile_cont(clv_12m, [0.99, 0.95, 0.9, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]) as cuts
    from with_clv
),

boundaries as (
    select
        [cuts[3], cuts[4], cuts[6], cuts[7], cuts[8], cuts[9], cuts[10], cuts[11], cuts[12]] as decile_boundaries,
        [cuts[1], cuts[2], cuts[3], cuts[5], cuts[8]] as tier_boundaries
    from quantiles
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
