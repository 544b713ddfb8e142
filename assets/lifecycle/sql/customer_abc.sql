-- ABC classes by net spend: A are the top customers who together bring 80% of revenue, B the next
-- 15%, C the rest. Negative net spend (more refunded than bought) counts as zero revenue.
with

spend as (
    select customer_id, greatest(total_net_spend, 0) as revenue
    from main.customer_rfm
),

ranked as (
    select
        customer_id,
        revenue,
        row_number() over (order by revenue desc, customer_id) as revenue_rank,
        coalesce(sum(revenue) over (order by revenue desc, customer_id rows between unbounded preceding and 1 preceding), 0)
            / nullif(sum(revenue) over (), 0) as revenue_share_before
    from spend
)

select
    customer_id,
    revenue,
    revenue_rank,
    revenue_share_before,
    case
        when revenue_share_before < 0.80 then 'A'
        when revenue_share_before < 0.95 then 'B'
        else 'C'
    end as abc_class
from ranked
