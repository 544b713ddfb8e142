-- How long customers take to come back: days between consecutive purchase days and days from the
-- first to the second purchase, overall and by the category bought on the earlier day.
-- The quantiles are read off how many intervals have each length (one row per group and length),
-- not from every interval held in memory (a quantile aggregate keeps all its values, unspilled,
-- one copy per quantile): same values, the memory of a few thousand rows at any scale.
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
),

-- One grouping for both: each group's count and mean, and each length's count within its group.
grouped as (
    select
        measure,
        category,
        days_to_next,
        grouping(days_to_next) = 1 as is_group,
        count(*) as intervals,
        avg(days_to_next) as mean_days
    from by_category
    group by grouping sets ((measure, category), (measure, category, days_to_next))
),

groups as (
    select measure, category, intervals, mean_days
    from grouped
    where is_group
),

-- The intervals of each length or shorter: the length at 0-based position k of the sorted intervals
-- is the shortest one with more than k intervals up to it.
lengths as (
    select
        measure,
        category,
        days_to_next,
        sum(intervals) over (partition by measure, category order by days_to_next) as up_to_length
    from grouped
    where not is_group
),

-- quantile_cont's interpolation: position (n - 1) q, between the lengths at its floor and ceiling
positions as (
    select
        groups.measure,
        groups.category,
        fractions.fraction,
        (groups.intervals - 1)::double * fractions.fraction as position
    from groups
    cross join (values (0.25::double), (0.5::double), (0.75::double), (0.9::double)) as fractions (fraction)
),

quantiles as (
    select
        positions.measure,
        positions.category,
        positions.fraction,
        positions.position - floor(positions.position) as weight,
        min(lengths.days_to_next) filter (where lengths.up_to_length > floor(positions.position))::double as below,
        min(lengths.days_to_next) filter (where lengths.up_to_length > ceil(positions.position))::double as above
    from positions
    join lengths on lengths.measure = positions.measure and lengths.category = positions.category
    group by positions.measure, positions.category, positions.fraction, positions.position
),

interpolated as (
    select measure, category, fraction, below * (1 - weight) + above * weight as days
    from quantiles
)

select
    groups.measure,
    groups.category,
    groups.intervals,
    groups.mean_days,
    max(interpolated.days) filter (where interpolated.fraction = 0.25) as p25_days,
    max(interpolated.days) filter (where interpolated.fraction = 0.5) as median_days,
    max(interpolated.days) filter (where interpolated.fraction = 0.75) as p75_days,
    max(interpolated.days) filter (where interpolated.fraction = 0.9) as p90_days
from groups
join interpolated on interpolated.measure = groups.measure and interpolated.category = groups.category
group by groups.measure, groups.category, groups.intervals, groups.mean_days
order by groups.measure, groups.category = '(all)' desc, groups.intervals desc
