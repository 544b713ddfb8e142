-- One row per customer and day with any product line: same-day purchases are one purchase event,
-- and returns are netted against the day they happen on. A day with only returns is kept (its
-- refund counts against the customer's spend) but is not a purchase day, nor is a day whose returns
-- take back exactly what it bought (bought and returned the same; amounts are exact decimals, so it
-- nets to exactly 0). Free items on a day without returns still make a purchase day. One aggregation over the
-- lines: orders are not counted here (a distinct count per day would double the cost at scale);
-- the one table that needs them counts them for its few customers.
with

purchase_lines as (
    select * from main.purchase_lines
),

daily as (
    select
        customer_id,
        order_date as purchase_date,
        count(*) filter (where not is_return) as n_lines,
        count(*) filter (where not is_return and is_discounted) as n_discounted_lines,
        coalesce(sum(quantity) filter (where not is_return), 0) as quantity,
        coalesce(sum(amount) filter (where not is_return), 0) as gross_amount,
        coalesce(-sum(amount) filter (where is_return), 0) as returned_amount
    from purchase_lines
    group by customer_id, order_date
)

select
    customer_id,
    purchase_date,
    n_lines,
    n_discounted_lines,
    quantity,
    gross_amount,
    returned_amount,
    gross_amount - returned_amount as net_amount,
    n_lines > 0 and (returned_amount = 0 or gross_amount <> returned_amount) as is_purchase_day,
    returned_amount > 0 as has_return
from daily
