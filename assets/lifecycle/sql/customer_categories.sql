-- One row per customer and category they bought from: how often, how much, when. The basis for
-- cross-category buying, cross-sell affinities and category-level repurchase timing. Empty when
-- the data has no categories.
with

category_days as (
    select
        customer_id,
        category,
        order_date,
        sum(amount) as amount
    from main.purchase_lines
    where not is_return and category is not null
    group by customer_id, category, order_date
)

select
    customer_id,
    category,
    count(*) as purchase_days,
    sum(amount) as gross_amount,
    min(order_date) as first_purchase_date,
    max(order_date) as last_purchase_date
from category_days
group by customer_id, category
