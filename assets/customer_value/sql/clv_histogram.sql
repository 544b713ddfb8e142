-- Customers per CLV bin on a log scale, for the distribution chart: 40 bins between the smallest
-- and the largest positive CLV.
with

positive as (
    select clv_12m from main.customer_clv where clv_12m > 0
),

bounds as (
    select log10(min(clv_12m)) as low, log10(max(clv_12m)) as high from positive
),

binned as (
    select least(39, floor(40 * (log10(clv_12m) - low) / nullif(high - low, 0)))::integer as bin
    from positive, bounds
)

select
    power(10, low + (bin + 0.5) * (high - low) / 40) as clv_12m,
    count(*) as customers
from binned, bounds
group by bin, low, high
order by bin
