-- One row for tonight's run: what was read, where the customers stand, what they bought lately and
-- are worth, and how well the production model predicted its holdout. Appended to run_history, so
-- the morning report can say what changed since the previous night and since a month ago.
with

scope as (
    select as_of from main.analysis_scope
),

audit as (
    select
        coalesce(sum(rows_read), 0)::bigint as rows_read,
        coalesce(sum(rows_loaded), 0)::bigint as rows_loaded,
        coalesce(sum(rows_quarantined), 0)::bigint as rows_quarantined
    from main.load_audit
),

stages as (
    select
        count(*) filter (where not is_prospect) as customers,
        count(*) filter (where stage = 'new') as customers_new,
        count(*) filter (where stage = 'active') as customers_active,
        count(*) filter (where stage = 'vip') as customers_vip,
        count(*) filter (where stage = 'at_risk') as customers_at_risk,
        count(*) filter (where stage = 'reactivated') as customers_reactivated,
        count(*) filter (where stage = 'lapsed') as customers_lapsed,
        count(*) filter (where stage = 'prospect_active') as customers_prospect_active,
        count(*) filter (where stage = 'prospect_inactive') as customers_prospect_inactive
    from main.customer_lifecycle
),

-- the last 30 days, as_of included
recent as (
    select
        count(distinct customer_id) filter (where is_purchase_day) as active_customers_30d,
        coalesce(sum(net_amount), 0)::decimal(18, 2) as revenue_30d
    from main.customer_purchase_days, scope
    where purchase_date > scope.as_of - 30 and purchase_date <= scope.as_of
),

value as (
    select sum(clv_12m)::double as total_clv_12m from main.customer_clv
),

concentration as (
    select any_value(top_20_percent_revenue_share)::double as top_20_percent_revenue_share from main.pareto
),

repeat_buying as (
    select avg((frequency >= 2)::double) as repeat_rate from main.customer_rfm
),

chains as (
    select
        count(*) filter (where chain_label = 'continued')
            / nullif(count(*) filter (where chain_label in ('continued', 'ended')), 0) as chain_continuation_rate
    from main.purchase_chains
)

select
    scope.as_of,
    $run_id as run_id,
    $started_at::timestamp as started_at,
    $finished_at::timestamp as finished_at,
    audit.rows_read,
    audit.rows_loaded,
    audit.rows_quarantined,
    stages.*,
    recent.active_customers_30d,
    recent.revenue_30d,
    value.total_clv_12m,
    concentration.top_20_percent_revenue_share,
    repeat_buying.repeat_rate,
    chains.chain_continuation_rate,
    model.production_model,
    model.holdout_error_pct,
    model.holdout_mae
from scope
cross join audit
cross join stages
cross join recent
cross join value
cross join concentration
cross join repeat_buying
cross join chains
left join production_model_score as model on true
