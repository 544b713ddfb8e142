-- Per customer: the model's predictions, evaluated once per distinct (frequency, recency, T) and
-- joined back; expected order value from the Gamma-Gamma posterior mean (the population mean for
-- customers without a positive repeat-purchase value); 12-month CLV, decile and value tier.
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
    ntile(10) over (order by clv_12m desc, customer_id) as clv_decile,
    case
        when cume_dist() over (order by clv_12m desc) <= 0.01 then 'top 1%'
        when cume_dist() over (order by clv_12m desc) <= 0.05 then 'top 5%'
        when cume_dist() over (order by clv_12m desc) <= 0.10 then 'top 10%'
        when cume_dist() over (order by clv_12m desc) <= 0.25 then 'top 25%'
        when cume_dist() over (order by clv_12m desc) <= 0.50 then 'top 50%'
        else 'rest'
    end as value_tier,
    case when clv_12m is null then 'no finite model prediction for this customer' else 'ok' end as clv_status
from with_clv
