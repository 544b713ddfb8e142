-- Each segment's profile (size, ratings, z-scores, name) and how its respondents who are also
-- customers behave: share of spend refunded, repeat buying, order value, discounted buying, CLV.
with

factors as (
    select * from survey_segment_factors
),

linked as (
    select segment_id, customer_id
    from main.survey_segments
    where customer_id is not null and segment_id is not null
),

purchase_days as (
    select * from main.customer_purchase_days
    where customer_id in (select customer_id from linked)
),

orders as (
    -- lines without an order id form one order per timestamp
    select customer_id, count(distinct coalesce(order_id, order_ts::varchar)) as orders
    from main.purchase_lines
    where not is_return and customer_id in (select customer_id from linked)
    group by customer_id
),

clv as (
    select customer_id, clv_12m from main.customer_clv
),

daily_totals as (
    select
        customer_id,
        count(*) filter (where is_purchase_day) as purchase_days,
        sum(n_lines) as lines,
        sum(n_discounted_lines) as discounted_lines,
        sum(gross_amount) as gross_amount,
        sum(returned_amount) as returned_amount
    from purchase_days
    group by customer_id
),

per_customer as (
    select daily_totals.*, coalesce(orders.orders, 0) as orders
    from daily_totals
    left join orders using (customer_id)
),

behaviour as (
    select
        linked.segment_id,
        count(*) as linked_respondents,
        count(per_customer.customer_id) as linked_customers_with_purchases,
        sum(per_customer.returned_amount) / nullif(sum(per_customer.gross_amount), 0) as return_rate,
        avg((per_customer.purchase_days >= 2)::double) filter (where per_customer.customer_id is not null)
            as repeat_purchase_rate,
        sum(per_customer.gross_amount) / nullif(sum(per_customer.orders), 0) as avg_order_value,
        sum(per_customer.discounted_lines) / nullif(sum(per_customer.lines), 0) as discounted_share,
        -- in customer order: a float sum's last bits depend on the order of its terms
        avg(clv.clv_12m order by linked.customer_id) as mean_clv_12m
    from linked
    left join per_customer using (customer_id)
    left join clv using (customer_id)
    group by linked.segment_id
)

select
    factors.*,
    coalesce(behaviour.linked_respondents, 0) as linked_respondents,
    coalesce(behaviour.linked_customers_with_purchases, 0) as linked_customers_with_purchases,
    behaviour.return_rate,
    behaviour.repeat_purchase_rate,
    behaviour.avg_order_value,
    behaviour.discounted_share,
    behaviour.mean_clv_12m
from factors
left join behaviour using (segment_id)
order by factors.segment_id
