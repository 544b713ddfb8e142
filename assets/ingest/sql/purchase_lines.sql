-- The purchase lines the analytics see: product lines up to as_of, each with its category
-- (from the purchase file, else from the products file).
with

purchases as (
    select * from main.purchases
),

products as (
    select * from main.products
),

scope as (
    select as_of from main.analysis_scope
)

select
    purchases.order_id,
    purchases.customer_id,
    purchases.product_id,
    purchases.store_id,
    coalesce(purchases.category, products.category) as category,
    purchases.channel,
    purchases.quantity,
    purchases.unit_price,
    purchases.amount,
    purchases.discount,
    purchases.is_return,
    purchases.is_discounted,
    purchases.order_date,
    purchases.order_ts
from purchases
left join products on purchases.product_id = products.product_id
where not purchases.is_non_product
    and purchases.order_date <= (select as_of from scope)
