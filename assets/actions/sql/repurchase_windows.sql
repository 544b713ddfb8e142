-- When each buyer is expected to buy next: a window from the 25th to the 75th percentile of the
-- days between purchases, counted from the last purchase, and the median as the expected date.
-- The distribution comes from, first match wins:
--   own_history     the customer's own gaps, when there are at least $repurchase_min_intervals
--   category        the gaps of everyone buying the customer's main category
--   base            the gaps of the whole base
-- One-time buyers use the days from first to second purchase instead (category_first_to_second,
-- base_first_to_second): their expected date is the second-purchase target.
-- The customer's own quartiles are interpolated like quantile_cont, but from ranks and plain
-- aggregates, which DuckDB can spill to disk for millions of customers.
with

rfm as (
    select customer_id, frequency, first_purchase_date, last_purchase_date from main.customer_rfm
),

scope as (
    select as_of from main.analysis_scope
),

ranked_gaps as (
    select
        customer_id,
        days_to_next,
        row_number() over (partition by customer_id order by days_to_next) - 1 as gap_rank,
        count(*) over (partition by customer_id) as intervals
    from main.purchase_chains
    where days_to_next is not null
),

gap_positions as (
    -- quantile_cont's position of each quartile among a customer's sorted gaps (0-based)
    select customer_id, gap_rank, days_to_next, intervals,
        (intervals - 1) * 0.25 as p25_at,
        (intervals - 1) * 0.50 as median_at,
        (intervals - 1) * 0.75 as p75_at
    from ranked_gaps
    where intervals >= $repurchase_min_intervals
),

own_gaps as (
    select
        customer_id,
        any_value(intervals) as intervals,
        any_value(p25_at) as p25_at,
        any_value(median_at) as median_at,
        any_value(p75_at) as p75_at,
        max(days_to_next) filter (gap_rank = floor(p25_at)) as p25_low,
        max(days_to_next) filter (gap_rank = ceil(p25_at)) as p25_high,
        max(days_to_next) filter (gap_rank = floor(median_at)) as median_low,
        max(days_to_next) filter (gap_rank = ceil(median_at)) as median_high,
        max(days_to_next) filter (gap_rank = floor(p75_at)) as p75_low,
        max(days_to_next) filter (gap_rank = ceil(p75_at)) as p75_high
    from gap_positions
    where gap_rank between floor(p25_at) and ceil(p75_at)
    group by customer_id
),

own_quartiles as (
    select
        customer_id,
        intervals,
        p25_low + (p25_at - floor(p25_at)) * (p25_high - p25_low) as p25_days,
        median_low + (median_at - floor(median_at)) * (median_high - median_low) as median_days,
        p75_low + (p75_at - floor(p75_at)) * (p75_high - p75_low) as p75_days
    from own_gaps
),

main_categories as (
    select customer_id, category as main_category
    from main.customer_categories
    where is_main_category
),

timing as (
    select measure, category, intervals, p25_days, median_days, p75_days
    from main.repeat_timing
    where intervals >= $repurchase_min_intervals
),

with_distributions as (
    select
        rfm.*,
        main_categories.main_category,
        own.intervals is not null as has_own,
        category_timing.intervals is not null as has_category,
        base_timing.intervals is not null as has_base,
        own.intervals as own_intervals, own.p25_days as own_p25, own.median_days as own_median, own.p75_days as own_p75,
        category_timing.intervals as category_intervals, category_timing.p25_days as category_p25,
        category_timing.median_days as category_median, category_timing.p75_days as category_p75,
        base_timing.intervals as base_intervals, base_timing.p25_days as base_p25,
        base_timing.median_days as base_median, base_timing.p75_days as base_p75
    from rfm
    left join own_quartiles as own using (customer_id)
    left join main_categories using (customer_id)
    left join timing as category_timing
        on category_timing.category = main_categories.main_category
        and category_timing.measure = case when rfm.frequency > 1 then 'days_between_purchases' else 'days_to_second_purchase' end
    left join timing as base_timing
        on base_timing.category = '(all)'
        and base_timing.measure = case when rfm.frequency > 1 then 'days_between_purchases' else 'days_to_second_purchase' end
),

chosen as (
    select
        customer_id, frequency, last_purchase_date, main_category,
        case
            when has_own then 'own_history'
            when has_category then case when frequency > 1 then 'category' else 'category_first_to_second' end
            when has_base then case when frequency > 1 then 'base' else 'base_first_to_second' end
            else 'none: no repeat purchases in the data'
        end as window_basis,
        case when has_own then own_intervals when has_category then category_intervals else base_intervals end as intervals_used,
        case when has_own then own_p25 when has_category then category_p25 else base_p25 end as p25_days,
        case when has_own then own_median when has_category then category_median else base_median end as median_days,
        case when has_own then own_p75 when has_category then category_p75 else base_p75 end as p75_days
    from with_distributions
),

windows as (
    select
        customer_id,
        frequency,
        last_purchase_date,
        main_category,
        window_basis,
        intervals_used,
        last_purchase_date + round(p25_days)::integer as window_start,
        last_purchase_date + round(median_days)::integer as expected_date,
        last_purchase_date + round(p75_days)::integer as window_end
    from chosen
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
