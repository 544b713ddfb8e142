-- The single customer profile: one row per customer and prospect with everything known about them.
-- Every column is always present; a source the retailer does not have leaves its columns null
-- (digital behaviour is null without an events file, and 0 when the file has no events for the
-- customer). The customers file's own columns come from the temp view customer_attributes, which
-- names each one for the profile (see building.py).
-- Built in parts, one statement per part: the customers in_table_part(customer_id), read from
-- every source (see build_customer_profile and common/warehouse.py). One statement over 4M
-- customers held thirteen hash tables of millions of rows at once and spilled them under the 1 GB
-- limit.
with

scope as (
    select as_of from main.analysis_scope
),

lifecycle as (
    select * from main.customer_lifecycle where in_table_part(customer_id)
),

actions as (
    select * from main.next_best_action where in_table_part(customer_id)
),

customers as (
    select * from main.customers where in_table_part(customer_id)
),

attributes as (
    select * from customer_attributes where in_table_part(customer_id)
),

rfm as (
    select * from main.customer_rfm where in_table_part(customer_id)
),

clv as (
    select * from main.customer_clv where in_table_part(customer_id)
),

abc as (
    select * from main.customer_abc where in_table_part(customer_id)
),

chains as (
    select * from main.customer_chain_summary where in_table_part(customer_id)
),

windows as (
    select * from main.repurchase_windows where in_table_part(customer_id)
),

events_known as (
    select count(*) > 0 as has_events from main.events
),

digital as (
    select
        customer_id,
        count(*) filter (where event_type = 'site_visit' and event_date > as_of - 30) as site_visits_30d,
        count(*) filter (where event_type = 'site_visit') as site_visits_90d,
        count(*) filter (where event_type = 'email_open' and event_date > as_of - 30) as email_opens_30d,
        count(*) filter (where event_type = 'email_open') as email_opens_90d,
        count(*) filter (where event_type = 'email_click' and event_date > as_of - 30) as email_clicks_30d,
        count(*) filter (where event_type = 'email_click') as email_clicks_90d,
        count(*) filter (where event_type = 'cart_abandon' and event_date > as_of - 30) as abandoned_carts_30d,
        count(*) filter (where event_type = 'cart_abandon') as abandoned_carts_90d
    from (select customer_id, event_type, event_ts::date as event_date from main.events where in_table_part(customer_id))
    cross join scope
    where event_date > as_of - 90 and event_date <= as_of
    group by customer_id
),

service as (
    -- scores in time order; the trend is the latest score minus the one before it
    select
        customer_id,
        list(nps order by score_ts) filter (where nps is not null) as nps_scores,
        list(csi order by score_ts) filter (where csi is not null) as csi_scores,
        list(ces order by score_ts) filter (where ces is not null) as ces_scores,
        max(score_ts)::date as last_score_date
    from main.service_scores
    where score_ts::date <= (select as_of from scope) and in_table_part(customer_id)
    group by customer_id
),

categories as (
    select
        customer_id,
        count(*) as categories_bought,
        any_value(category) filter (where is_main_category) as main_category
    from main.customer_categories
    where in_table_part(customer_id)
    group by customer_id
),

segments as (
    select customer_id, any_value(segment_id) as survey_segment_id, any_value(segment_name) as survey_segment
    from main.survey_segments
    where customer_id is not null and segment_name is not null and in_table_part(customer_id)
    group by customer_id
)

select
    lifecycle.customer_id,
    lifecycle.is_prospect,
    lifecycle.stage,
    lifecycle.stage_rule,
    actions.action as next_action,
    actions.action_reason,
    actions.contact_on,
    actions.cross_sell_category,
    actions.expected_value,
    -- registration and CX attributes
    customers.registered_at,
    attributes.* exclude (customer_id),
    -- transactions
    rfm.recency_days,
    rfm.frequency,
    rfm.monetary,
    rfm.total_net_spend,
    rfm.first_purchase_date,
    rfm.last_purchase_date,
    rfm.tenure_days,
    rfm.rfm_score,
    rfm.rfm_segment,
    abc.abc_class,
    categories.categories_bought,
    categories.main_category,
    clv.p_alive,
    clv.is_one_time_buyer,
    clv.expected_purchases_90d,
    clv.expected_purchases_365d,
    clv.expected_avg_order_value,
    clv.clv_12m,
    clv.value_tier,
    clv.clv_status,
    chains.n_chains,
    chains.share_continued as chain_share_continued,
    chains.has_open_chain,
    chains.days_since_chain_end,
    windows.expected_date as expected_next_purchase_date,
    windows.window_start as next_purchase_window_start,
    windows.window_end as next_purchase_window_end,
    windows.window_status as next_purchase_window_status,
    -- digital behaviour
    case when has_events then coalesce(digital.site_visits_30d, 0) end as site_visits_30d,
    case when has_events then coalesce(digital.site_visits_90d, 0) end as site_visits_90d,
    case when has_events then coalesce(digital.email_opens_30d, 0) end as email_opens_30d,
    case when has_events then coalesce(digital.email_opens_90d, 0) end as email_opens_90d,
    case when has_events then coalesce(digital.email_clicks_30d, 0) end as email_clicks_30d,
    case when has_events then coalesce(digital.email_clicks_90d, 0) end as email_clicks_90d,
    case when has_events then coalesce(digital.abandoned_carts_30d, 0) end as abandoned_carts_30d,
    case when has_events then coalesce(digital.abandoned_carts_90d, 0) end as abandoned_carts_90d,
    lifecycle.last_event_date,
    -- service scores
    service.nps_scores[-1] as latest_nps,
    service.nps_scores[-1] - service.nps_scores[-2] as nps_trend,
    service.csi_scores[-1] as latest_csi,
    service.csi_scores[-1] - service.csi_scores[-2] as csi_trend,
    service.ces_scores[-1] as latest_ces,
    service.ces_scores[-1] - service.ces_scores[-2] as ces_trend,
    service.last_score_date,
    -- survey
    segments.survey_segment_id,
    segments.survey_segment,
    (select as_of from scope) as as_of
from lifecycle
cross join events_known
left join actions using (customer_id)
left join customers using (customer_id)
left join attributes using (customer_id)
left join rfm using (customer_id)
left join clv using (customer_id)
left join abc using (customer_id)
left join chains using (customer_id)
left join windows using (customer_id)
left join categories using (customer_id)
left join digital using (customer_id)
left join service using (customer_id)
left join segments using (customer_id)
