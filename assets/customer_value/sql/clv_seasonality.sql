-- Does the history show seasonality? Over the last 12 complete calendar months up to as_of, purchase
-- days per day with the trend removed (a straight line through their logarithms): the busiest three
-- consecutive months against the quietest three. One row; empty with fewer than 12 complete months.
with

purchase_days as (
    select purchase_date from main.customer_purchase_days
    where is_purchase_day and purchase_date <= $as_of
),

monthly as (
    select date_trunc('month', purchase_date)::date as month, count(*) as purchase_days
    from purchase_days
    group by 1
),

last_year as (
    select
        month,
        ln(purchase_days / (last_day(month) - month + 1)) as log_rate,
        row_number() over (order by month desc) as months_back
    from monthly
    where month >= (select min(purchase_date) from purchase_days) and last_day(month) <= $as_of
    qualify months_back <= 12
),

trend as (
    select regr_slope(log_rate, -months_back) as slope, regr_intercept(log_rate, -months_back) as intercept
    from last_year
    having count(*) = 12
),

three_months as (
    select
        month,
        avg(log_rate - intercept + slope * months_back) over around as level,
        count(*) over around as months
    from last_year, trend
    window around as (order by month rows between 1 preceding and 1 following)
)

select
    exp(max(level) - min(level)) as peak_ratio,
    arg_max(month, level) as peak_centre,
    arg_min(month, level) as low_centre
from three_months
where months = 3
having count(*) > 0
