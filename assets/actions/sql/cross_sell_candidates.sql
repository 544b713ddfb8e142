-- Customers who bought from exactly one category, with the categories to offer them next, ranked by
-- how strongly other customers who bought their category also bought the other one (lift, then
-- confidence). A category pair counts once at least $cross_sell_min_customers customers bought
-- both; where no pair qualifies, the most widely bought other categories are offered instead
-- (offer_basis = 'popularity'). Every single-category buyer has a row; offer_category is null only
-- when the data has no other category.
with

customer_categories as (
    select customer_id, category from main.customer_categories
),

category_buyers as (
    select category, count(*) as customers
    from customer_categories
    group by category
),

base as (
    select count(distinct customer_id) as customers from customer_categories
),

pairs as (
    select
        bought.category as category,
        other.category as offer_category,
        count(*) as customers_with_both
    from customer_categories as bought
    join customer_categories as other
        on bought.customer_id = other.customer_id and bought.category <> other.category
    group by all
),

affinities as (
    select
        pairs.category,
        pairs.offer_category,
        pairs.customers_with_both,
        pairs.customers_with_both / base.customers as support,
        pairs.customers_with_both / bought.customers as confidence,
        (pairs.customers_with_both / bought.customers) / (offered.customers / base.customers) as lift
    from pairs
    cross join base
    join category_buyers as bought on bought.category = pairs.category
    join category_buyers as offered on offered.category = pairs.offer_category
    where pairs.customers_with_both >= $cross_sell_min_customers
),

popular as (
    select
        bought.category,
        offered.category as offer_category,
        offered.customers / base.customers as support
    from category_buyers as bought
    join category_buyers as offered on offered.category <> bought.category
    cross join base
),

offers as (
    select category, offer_category, 'affinity' as offer_basis, customers_with_both, support, confidence, lift,
        row_number() over (partition by category order by lift desc, confidence desc, offer_category) as offer_rank
    from affinities
    union all
    select category, offer_category, 'popularity', null, support, null, null,
        row_number() over (partition by category order by support desc, offer_category)
    from popular
    where category not in (select category from affinities)
),

single_category_buyers as (
    select customer_id, any_value(category) as category
    from customer_categories
    group by customer_id
    having count(*) = 1
)

select
    single_category_buyers.customer_id,
    single_category_buyers.category as bought_category,
    offers.offer_rank,
    offers.offer_category,
    offers.offer_basis,
    offers.customers_with_both,
    offers.support,
    offers.confidence,
    offers.lift
from single_category_buyers
left join offers
    on offers.category = single_category_buyers.category
    and offers.offer_rank <= $cross_sell_offers
