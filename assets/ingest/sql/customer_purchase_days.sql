-- One row per customer and day with any product line: same-day purchases are one purchase event,
-- and returns are netted against the day they happen on. A day with only returns is kept (its
-- refund counts against the customer's spend) but is not a purchase day. Lines are summed per
-- order first, which counts orders far faster than a distinct count.
with

purchase_lines as (
    select * from main.purchase_lines
),

orders as (
    select
        customer_id,
        order_date,
        is_return,
        count(*) as n_lines,
        count(*) filter (where is_discounted) as n_discounted_lines,
        sum(quantity) as quantity,
        sum(amount) as amount
    from purchase_lines
    -- lines without an order id form one order per timestamp
    group by customer_id, order_date, is_return, order_id, case when order_id is null then order_ts end
),

daily as (
    select
        customer_id,
        order_date as purchase_date,
        count(*) filter (where not is_return) as n_orders,
        coalesce(sum(n_lines) filter (where not is_return), 0) as n_lines,
        coalesce(sum(n_discounted_lines) filter (where not is_return), 0) as n_discounted_lines,
        coalesce(sum(quantity) filter (where not is_return), 0) as quantity,
        coalesce(sum(amount) filter (where not is_return), 0) as gross_amount,
        coalesce(-sum(amount) filter (where is_return), 0) as returned_amount
    from orders
    group by customer_id, order_date
)

select
    customer_id,
    purchase_date,
    n_orders,
    n_lines,
    n_discounted_lines,
    quantity,
    gross_amount,
    returned_amount,
    gross_amount - returned_amount as net_amount,
    n_lines > 0 as is_purchase_day,
    returned_amount > 0 as has_return
from daily
