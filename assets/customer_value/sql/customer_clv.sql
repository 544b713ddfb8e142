-- Per customer: the production model's predictions. A model's likelihood is C (A + B), with F the
-- likelihood of being alive on as_of, so P(alive) = 1 / (A/F + B/F). Python gives log A/F and the
-- T-dependent part of log B/F once per distinct (frequency, T), together with the expected purchases
-- of a living customer, and the rest of log B/F once per distinct (frequency, recency) (see
-- purchase_models.py); here they meet each customer. P(alive) is reported for repeat buyers when the
-- model's status says it is informative (for one-time buyers it depends on their age alone, and BG/NBD
-- always says 1). Expected order value from the Gamma-Gamma posterior mean (the population mean for
-- customers without a positive repeat-purchase value); 12-month CLV, its decile and value tier (by
-- quantile boundaries, so equal values share a decile).
with

summary as (
    select * from clv_summary
),

if_alive as (
    select * from clv_predictions_if_alive
),

recency_terms as (
    select * from clv_recency_terms
),

parameters as (
    select p, q, v from clv_parameters
),

alive as (
    select
        summary.*,
        if_alive.* exclude (frequency, T),
        -- at most 1 also in floating point (Pareto/NBD's A + B equals F to rounding when t_x = T)
        least(1, 1 / (exp(if_alive.alive_term) + exp(least(700, if_alive.dropout_term_age + recency_terms.dropout_term_recency))))
            as alive_probability
    -- left joins (every customer has both pairs): kept in this order, each builds its hash table on
    -- the few thousand pairs rather than on a product of the two lookups
    from summary
    left join if_alive using (frequency, T)
    left join recency_terms using (frequency, recency)
),

valued as (
    select
        alive.customer_id,
        alive.frequency = 0 as is_one_time_buyer,
        case when alive.frequency > 0 and $p_alive_informative then alive_probability end as p_alive,
        alive.purchases_if_alive_30d * alive_probability as expected_purchases_30d,
        alive.purchases_if_alive_90d * alive_probability as expected_purchases_90d,
        alive.purchases_if_alive_365d * alive_probability as expected_purchases_365d,
        case
            when alive.frequency > 0 and alive.monetary > 0 then
                (q - 1) / (p * alive.frequency + q - 1) * (v * p / (q - 1))
                + (p * alive.frequency) / (p * alive.frequency + q - 1) * alive.monetary
            else v * p / (q - 1)
        end as expected_avg_order_value,
        alive.discounted_purchases_if_alive * alive_probability as discounted_purchases_horizon
    from alive
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
    case when clv_12m is null then 'no finite model prediction for this customer' else $status end as clv_status
from with_clv, boundaries
