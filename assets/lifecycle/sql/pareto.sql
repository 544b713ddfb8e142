-- Revenue concentration: the Lorenz curve at every percentile of customers (ranked from the top),
-- with the share of revenue from the top 20% and the Gini coefficient on each row.
with

customers as (
    select * from main.customer_abc
),

totals as (
    select count(*) as n, sum(revenue) as total_revenue from customers
),

gini as (
    -- G = 2 * sum(i * x_i) / (n * sum(x)) - (n + 1) / n, with x ascending
    select
        2 * sum((n - revenue_rank + 1) * customers.revenue) / nullif(any_value(n) * any_value(total_revenue), 0)
            - (any_value(n) + 1) / any_value(n) as gini
    from customers, totals
),

cumulative as (
    select revenue_rank, sum(revenue) over (order by revenue_rank rows unbounded preceding) as revenue_so_far
    from customers
),

curve as (
    select
        percentile,
        cumulative.revenue_so_far / nullif(totals.total_revenue, 0) as revenue_share
    -- a select-list unnest, not range() in the from clause: the form Spark reads the same way
    from (select unnest(generate_series(1, 100)) as percentile)
    cross join totals
    join cumulative on cumulative.revenue_rank = greatest(1, ceil(percentile / 100.0 * totals.n))::bigint
)

select
    curve.percentile as top_customers_percent,
    curve.revenue_share as top_customers_revenue_share,
    (select revenue_share from curve where percentile = 20) as top_20_percent_revenue_share,
    gini.gini
from curve, gini
order by curve.percentile
