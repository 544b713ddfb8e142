-- Where each customer (and each prospect known from registrations or events) stands on as_of.
-- Rules, first match wins (rules_version v1, written in stage_rules.sql; thresholds from the
-- lifecycle: config):
--   prospect_active / prospect_inactive  no purchase yet; engaged in the last prospect_active_days or not
--   lapsed       no purchase for more than lapsed_days, or P(alive) below lapsed_p_alive
--   reactivated  the latest purchase came after a gap of more than lapsed_days, within new_customer_days
--   new          first purchase within new_customer_days
--   at_risk      P(alive) below at_risk_p_alive; without a P(alive) (one-time buyers, or a model whose
--                status says P(alive) is not informative): recency beyond
--                one_time_buyer_risk_multiple x the base's median days between purchases
--   vip          top vip_top_share of buyers by 12-month CLV (by net spend when CLV is unavailable)
--   active       everyone else who bought
-- Each row also carries the date of the person's last recorded engagement (events up to as_of).
with

rfm as (
    select * from main.customer_rfm
),

clv as (
    select customer_id, p_alive, clv_12m, clv_status from main.customer_clv
),

purchase_days as (
    select customer_id, purchase_date
    from main.customer_purchase_days
    where is_purchase_day
),

scope as (
    select as_of from main.analysis_scope
),

-- the latest purchase day is the one with no next: one sort of the purchase days serves both (a
-- row_number() in descending order sorted them a second time)
latest_gaps as (
    select customer_id, purchase_date - lag(purchase_date) over by_customer as gap_days
    from purchase_days
    window by_customer as (partition by customer_id order by purchase_date)
    qualify lead(purchase_date) over by_customer is null
),

buyers as (
    select
        rfm.customer_id,
        rfm.recency_days,
        rfm.frequency,
        rfm.tenure_days,
        rfm.total_net_spend,
        clv.p_alive,
        -- why a repeat buyer has no P(alive): the CLV status (the model's when it says P(alive) is not informative)
        case when clv.p_alive is null and rfm.frequency > 1 then coalesce(clv.clv_status, 'no CLV model') end
            as no_p_alive_reason,
        clv.clv_12m,
        latest_gaps.gap_days as gap_before_latest_purchase,
        coalesce(clv.clv_12m, rfm.total_net_spend) as value,
        clv.clv_12m is not null as value_is_clv
    from rfm
    left join clv using (customer_id)
    left join latest_gaps using (customer_id)
),

-- Ranked narrow (the id and the rank) and joined back: a window over the wide buyer rows does not
-- spill, and at 8M buyers ran out of memory under a 1 GB DuckDB limit.
value_ranked as (
    select
        customer_id,
        cume_dist() over (order by value desc) as value_share_rank
    from buyers
    where recency_days <= $lapsed_days
),

ruled_buyers as (
    select
        buyers.*,
        median_days_between_purchases,
        buyer_rule(
            buyers.recency_days, buyers.p_alive, buyers.no_p_alive_reason, buyers.gap_before_latest_purchase, buyers.tenure_days,
            buyers.frequency, value_ranked.value_share_rank, median_days_between_purchases,
            $lapsed_days, $lapsed_p_alive, $new_customer_days, $at_risk_p_alive, $one_time_buyer_risk_multiple,
            $vip_top_share
        ) as rule
    from buyers
    left join value_ranked using (customer_id)
    cross join typical_interval()
),

staged_buyers as (
    select
        customer_id,
        false as is_prospect,
        rule_stage(rule) as stage,
        buyer_rule_text(
            rule, recency_days, p_alive, no_p_alive_reason, gap_before_latest_purchase, tenure_days, value_is_clv,
            median_days_between_purchases,
            $lapsed_days, $lapsed_p_alive, $new_customer_days, $at_risk_p_alive, $one_time_buyer_risk_multiple,
            $vip_top_share
        ) as stage_rule
    from ruled_buyers
),

known_people as (
    select customer_id from main.customers
    where registered_at is null or registered_at::date <= (select as_of from scope)
    union
    select customer_id from main.events
    where event_ts::date <= (select as_of from scope)
),

last_engagement as (
    select customer_id, max(event_ts)::date as last_event_date
    from main.events
    where event_ts::date <= (select as_of from scope)
    group by customer_id
),

engaged_prospects as (
    select
        known_people.customer_id,
        last_event_date,
        scope.as_of - last_event_date as days_since_engagement
    from known_people
    cross join scope
    left join last_engagement using (customer_id)
    where not exists (select 1 from rfm where rfm.customer_id = known_people.customer_id)
),

prospects as (
    select
        customer_id,
        true as is_prospect,
        last_event_date,
        prospect_rule(days_since_engagement, $prospect_active_days) as stage,
        prospect_rule_text(stage, days_since_engagement, $prospect_active_days) as stage_rule
    from engaged_prospects
)

select customer_id, stage, stage_rule, 'v1' as rules_version, is_prospect, last_event_date
from staged_buyers
left join last_engagement using (customer_id)
union all
select customer_id, stage, stage_rule, 'v1' as rules_version, is_prospect, last_event_date
from prospects
