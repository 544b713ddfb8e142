-- How long customers take to come back: days between consecutive purchase days and days from the
-- first to the second purchase, overall and by the category bought on the earlier day.
with

purchase_chains as (
    select * from main.purchase_chains
),

day_categories as (
    select distinct customer_id, order_date as purchase_date, category
    from main.purchase_lines
    where not is_return and category is not null
),

-- A customer's first purchase day is the first day of the first chain: no window needed to find it.
intervals as (
    select
        customer_id,
        purchase_date,
        days_to_next,
        chain_number = 1 and chain_position = 1 as is_first_purchase
    from purchase_chains
),

measured as (
    select 'days_between_purchases' as measure, customer_id, purchase_date, days_to_next
    from intervals
    where days_to_next is not null
    union all
    select 'days_to_second_purchase', customer_id, purchase_date, days_to_next
    from intervals
    where is_first_purchase and days_to_next is not null
),

by_category as (
    select measure, '(all)' as category, days_to_next from measured
    union all
    select measure, day_categories.category, days_to_next
    from measured
    join day_categories using (customer_id, purchase_date)
)

select
    measure,
    category,
    count(*) as intervals,
    avg(days_to_next) as mean_days,
    quantile_cont(days_to_next, 0.25) as p25_days,
    quantile_cont(days_to_next, 0.50) as median_days,
    quantile_cont(days_to_next, 0.75) as p75_days,
    quantile_cont(days_to_next, 0.90) as p90_days
from by_category
group by measure, category
order by measure, category = '(all)' desc, intervals desc
