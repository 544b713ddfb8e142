-- When each buyer is expected to buy next: a window from the 25th to the 75th percentile of the
-- days between purchases, counted from the last purchase, and the median as the expected date.
-- The distribution comes from, first match wins:
--   own_history     the customer's own gaps, when there are at least $repurchase_min_intervals
--   category        the gaps of everyone buying the customer's main category
--   base            the gaps of the whole base
-- One-time buyers use the days from first to second purchase instead (category_first_to_second,
-- base_first_to_second): their expected date is the second-purchase target.
with

rfm as (
    select customer_id, frequency, first_purchase_date, last_purchase_date from main.customer_rfm
),

scope as (
    select as_of from main.analysis_scope
),

own_gaps as (
    select
        customer_id,
        count(days_to_next) as intervals,
        quantile_cont(days_to_next, 0.25) as p25_days,
        quantile_cont(days_to_next, 0.50) as median_days,
        quantile_cont(days_to_next, 0.75) as p75_days
    from main.purchase_chains
    where days_to_next is not null
    group by customer_id
    having count(days_to_next) >= $repurchase_min_intervals
),

main_categories as (
    select customer_id, arg_max(category, (purchase_days, gross_amount, category)) as main_category
    from main.customer_categories
    group by customer_id
),

timing as (
    select measure, category, intervals, p25_days, median_days, p75_days
    from main.repeat_timing
    where intervals >= $repurchase_min_intervals
),

candidates as (
    select rfm.customer_id, 1 as preference, 'own_history' as window_basis,
        own_gaps.intervals, own_gaps.p25_days, own_gaps.median_days, own_gaps.p75_days
    from rfm
    join own_gaps using (customer_id)
    union all
    select rfm.customer_id, 2,
        case when rfm.frequency > 1 then 'category' else 'category_first_to_second' end,
        timing.intervals, timing.p25_days, timing.median_days, timing.p75_days
    from rfm
    join main_categories using (customer_id)
    join timing
        on timing.category = main_categories.main_category
        and timing.measure = case when rfm.frequency > 1 then 'days_between_purchases' else 'days_to_second_purchase' end
    union all
    select rfm.customer_id, 3,
        case when rfm.frequency > 1 then 'base' else 'base_first_to_second' end,
        timing.intervals, timing.p25_days, timing.median_days, timing.p75_days
    from rfm
    join timing
        on timing.category = '(all)'
        and timing.measure = case when rfm.frequency > 1 then 'days_between_purchases' else 'days_to_second_purchase' end
),

chosen as (
    select *
    from candidates
    qualify row_number() over (partition by customer_id order by preference) = 1
),

windows as (
    select
        rfm.customer_id,
        rfm.frequency,
        rfm.last_purchase_date,
        main_categories.main_category,
        coalesce(chosen.window_basis, 'none: no repeat purchases in the data') as window_basis,
        chosen.intervals as intervals_used,
        rfm.last_purchase_date + round(chosen.p25_days)::integer as window_start,
        rfm.last_purchase_date + round(chosen.median_days)::integer as expected_date,
        rfm.last_purchase_date + round(chosen.p75_days)::integer as window_end
    from rfm
    left join chosen using (customer_id)
    left join main_categories using (customer_id)
)

select
    windows.*,
    windows.window_start - $reminder_lead_days as remind_on,
    case
        when windows.window_start is null then null
        when scope.as_of < windows.window_start then 'upcoming'
        when scope.as_of <= windows.window_end then 'due'
        else 'overdue'
    end as window_status,
    case when windows.frequency = 1 then windows.expected_date end as second_purchase_target_date
from windows
cross join scope
