-- Where each customer (and each prospect known from registrations or events) stands on as_of.
-- Rules, first match wins (rules_version v1; thresholds from the lifecycle: config):
--   prospect_active / prospect_inactive  no purchase yet; engaged in the last prospect_active_days or not
--   lapsed       no purchase for more than lapsed_days, or P(alive) below lapsed_p_alive
--   reactivated  the latest purchase came after a gap of more than lapsed_days, within new_customer_days
--   new          first purchase within new_customer_days
--   at_risk      P(alive) below at_risk_p_alive; one-time buyers: recency beyond
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

latest_gaps as (
    select customer_id, purchase_date - lag(purchase_date) over (partition by customer_id order by purchase_date) as gap_days
    from purchase_days
    qualify row_number() over (partition by customer_id order by purchase_date desc) = 1
),

typical_interval as (
    select coalesce(median(gap), 30) as median_days_between_purchases
    from (
        select purchase_date - lag(purchase_date) over (partition by customer_id order by purchase_date) as gap
        from purchase_days
    )
    where gap is not null
),

buyers as (
    select
        rfm.customer_id,
        rfm.recency_days,
        rfm.frequency,
        rfm.tenure_days,
        rfm.total_net_spend,
        clv.p_alive,
        clv.clv_12m,
        latest_gaps.gap_days as gap_before_latest_purchase,
        coalesce(clv.clv_12m, rfm.total_net_spend) as value,
        clv.clv_12m is not null as value_is_clv
    from rfm
    left join clv using (customer_id)
    left join latest_gaps using (customer_id)
),

value_ranked as (
    select
        *,
        cume_dist() over (order by value desc) as value_share_rank
    from buyers
    where recency_days <= $lapsed_days
),

staged_buyers as (
    select
        buyers.customer_id,
        false as is_prospect,
        case
            when buyers.recency_days > $lapsed_days then 'lapsed'
            when buyers.p_alive < $lapsed_p_alive then 'lapsed'
            when buyers.gap_before_latest_purchase > $lapsed_days and buyers.recency_days <= $new_customer_days
                then 'reactivated'
            when buyers.tenure_days <= $new_customer_days then 'new'
            when buyers.p_alive < $at_risk_p_alive then 'at_risk'
            when buyers.frequency = 1
                and buyers.recency_days > $one_time_buyer_risk_multiple * median_days_between_purchases
                then 'at_risk'
            when value_ranked.value_share_rank <= $vip_top_share then 'vip'
            else 'active'
        end as stage,
        case
            when buyers.recency_days > $lapsed_days
                then format('lapsed: no purchase for {} days (more than {})', buyers.recency_days, $lapsed_days)
            when buyers.p_alive < $lapsed_p_alive
                then format('lapsed: P(alive) {:.2f} below {}', buyers.p_alive, $lapsed_p_alive)
            when buyers.gap_before_latest_purchase > $lapsed_days and buyers.recency_days <= $new_customer_days
                then format('reactivated: bought again after {} days without a purchase', buyers.gap_before_latest_purchase)
            when buyers.tenure_days <= $new_customer_days
                then format('new: first purchase {} days ago (within {})', buyers.tenure_days, $new_customer_days)
            when buyers.p_alive < $at_risk_p_alive
                then format('at risk: P(alive) {:.2f} below {}', buyers.p_alive, $at_risk_p_alive)
            when buyers.frequency = 1
                and buyers.recency_days > $one_time_buyer_risk_multiple * median_days_between_purchases
                then format('at risk: one purchase, {} days ago (more than {} x the typical {} days between purchases)',
                    buyers.recency_days, $one_time_buyer_risk_multiple, median_days_between_purchases)
            when value_ranked.value_share_rank <= $vip_top_share
                then format('vip: top {:.0f}% by {}', 100 * $vip_top_share,
                    case when buyers.value_is_clv then '12-month CLV' else 'net spend (no CLV available)' end)
            else 'active: bought in the last ' || $lapsed_days || ' days, not new, at risk or VIP'
        end as stage_rule
    from buyers
    left join value_ranked using (customer_id)
    cross join typical_interval
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

prospects as (
    select
        known_people.customer_id,
        true as is_prospect,
        last_event_date,
        case
            when (select as_of from scope) - last_event_date <= $prospect_active_days then 'prospect_active'
            else 'prospect_inactive'
        end as stage,
        case
            when (select as_of from scope) - last_event_date <= $prospect_active_days
                then format('prospect, active: last engaged {} days ago (within {})',
                    (select as_of from scope) - last_event_date, $prospect_active_days)
            when last_event_date is null then 'prospect, inactive: registered, no engagement recorded'
            else format('prospect, inactive: last engaged {} days ago', (select as_of from scope) - last_event_date)
        end as stage_rule
    from known_people
    left join last_engagement using (customer_id)
    where known_people.customer_id not in (select customer_id from buyers)
)

select customer_id, stage, stage_rule, 'v1' as rules_version, is_prospect, last_event_date
from staged_buyers
left join last_engagement using (customer_id)
union all
select customer_id, stage, stage_rule, 'v1' as rules_version, is_prospect, last_event_date
from prospects
