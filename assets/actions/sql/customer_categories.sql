-- One row per customer and category they bought from: how often, how much, when. The basis for
-- cross-category buying, cross-sell affinities and category-level repurchase timing. Empty when
-- the data has no categories. A customer's main category is the one with the most purchase days,
-- then the most spend, then the name that sorts last, so the choice is always the same.
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
),

per_category as (
    select
        customer_id,
        category,
        count(*) as purchase_days,
        sum(amount) as gross_amount,
        min(order_date) as first_purchase_date,
        max(order_date) as last_purchase_date
    from category_days
    group by customer_id, category
)

select
    *,
    row_number() over (
        partition by customer_id order by purchase_days desc, gross_amount desc, category desc
    ) = 1 as is_main_category
from per_category
