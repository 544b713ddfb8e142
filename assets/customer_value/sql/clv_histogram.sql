-- Customers per 12-month CLV bin for the distribution chart, on a plain currency axis: about 40 bins
-- of a round width (1, 2 or 5 times a power of ten) up to the 99th percentile; the last bin holds
-- everyone above it, so a few very large values do not squash the rest.
with

clv as (
    select greatest(clv_12m::double, 0) as clv_12m from main.customer_clv where clv_12m is not null
),

-- both cuts from one quantile aggregate (one copy of the values, one pass), the median as its 0.5 cut
bounds as (
    select cuts[1] as top, cuts[2] as median_clv from (select quantile_cont(clv_12m, [0.99, 0.5]) as cuts from clv)
),

raw_step as (
    select top, median_clv, greatest(top, 1e-9) / 40 as step, power(10, floor(log10(greatest(top, 1e-9) / 40))) as magnitude
    from bounds
),

widths as (
    select
        top,
        median_clv,
        magnitude * case
            when step / magnitude <= 1.5 then 1
            when step / magnitude <= 3.5 then 2
            when step / magnitude <= 7.5 then 5
            else 10
        end as bin_width
    from raw_step
),

binned as (
    select least(floor(clv_12m / bin_width), ceil(top / bin_width))::integer as bin, bin_width, median_clv,
        ceil(top / bin_width)::integer as last_bin
    from clv, widths
)

select
    bin * bin_width as bin_start,
    bin_width,
    bin = last_bin as is_open_ended,
    count(*) as customers,
    median_clv
from binned
group by bin, bin_width, last_bin, median_clv
order by bin
